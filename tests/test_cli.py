"""The ``facekeep`` command line, run as a subprocess on real photos.

Every command prints one JSON object; errors print ``{"error": CODE, "message": ...}``
and exit non-zero. After a full run, no file under the data directory or under the
private TMPDIR given to the commands holds any bytes of the photos used or of their
face embeddings. Independent commands are started together to keep the run short.

The commands run without any FACEKEEP_ variable, so they always keep their databases as
SQLite files in the data directory (the files this module scans), whatever the engine
the rest of the suite is testing.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support import Server, launch_server

pytestmark = pytest.mark.faces

FACEKEEP = Path(sys.executable).parent / "facekeep"
FACES = Path(__file__).parent / "data" / "faces"
VENUE = "hcm-1"
NOTICE = ["--notice-version", "v1", "--lang", "vi"]


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        """The one JSON object the command printed."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"{self.args}: expected one JSON line, got {self.stdout!r}"
        value = json.loads(lines[0])
        assert isinstance(value, dict), value
        return value

    def ok(self) -> dict[str, Any]:
        assert self.code == 0, f"{self.args} exited {self.code}: {self.stdout} {self.stderr}"
        return self.json

    def error(self, code: str) -> dict[str, Any]:
        assert self.code != 0, f"{self.args} succeeded: {self.stdout}"
        body = self.json
        assert set(body) == {"error", "message"}, body
        assert body["error"] == code, body
        assert isinstance(body["message"], str) and body["message"], body
        return body


def environment(tmpdir: Path, pycache: Path) -> dict[str, str]:
    """No FACEKEEP_ variable of the developer's shell; a private TMPDIR; compiled bytecode
    cached outside the data and temporary directories so each command starts quickly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        TMPDIR=str(tmpdir), TEMP=str(tmpdir), TMP=str(tmpdir), PYTHONPYCACHEPREFIX=str(pycache)
    )
    return env


@pytest.fixture(scope="module")
def private_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TMPDIR every command of this module gets."""
    path = tmp_path_factory.mktemp("cli-tmpdir")
    path.chmod(0o700)
    return path


@pytest.fixture(scope="module")
def env(private_tmp: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    pycache = tmp_path_factory.getbasetemp() / "pycache"
    pycache.mkdir(exist_ok=True)
    return environment(private_tmp, pycache)


@pytest.fixture(scope="module")
def facekeep(env: dict[str, str]) -> Callable[..., list[Run]]:
    """``facekeep(args, args, ...)`` runs the commands at the same time, returns each Run."""
    assert FACEKEEP.is_file(), FACEKEEP

    def run(*commands: Sequence[str], timeout: float = 180) -> list[Run]:
        procs = [
            (
                tuple(cmd),
                subprocess.Popen(
                    [str(FACEKEEP), *cmd],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                ),
            )
            for cmd in commands
        ]
        out = []
        for cmd, proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            out.append(Run(cmd, proc.returncode, stdout, stderr))
        return out

    return run


def face(name: str) -> str:
    return str(FACES / name)


# -- init -------------------------------------------------------------------------------------


def test_init_is_idempotent_and_the_key_file_is_private(facekeep, tmp_path) -> None:
    data = tmp_path / "data"
    [first] = facekeep(["init", "--data-dir", str(data)])
    body = first.ok()
    assert Path(body["data_dir"]) == data.resolve()
    kek_files = sorted((data / "kek").iterdir())
    assert kek_files, "no key-encryption key file"
    for path in kek_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    before = {p: p.read_bytes() for p in kek_files}
    files = sorted(p.relative_to(data) for p in data.rglob("*"))

    [second] = facekeep(["init", "--data-dir", str(data)])
    assert second.ok() == body
    # The same key, not a new one (a new KEK would make every stored template unreadable).
    assert {p: p.read_bytes() for p in sorted((data / "kek").iterdir())} == before
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == files
    for path in kek_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- the story --------------------------------------------------------------------------------


def windows(data: bytes, size: int = 64) -> list[bytes]:
    """A window of ``size`` bytes from the middle of ``data``."""
    middle = len(data) // 2
    return [data[middle - size // 2 : middle + size // 2]]


def embedding_needles(vector: Any) -> dict[str, bytes]:
    v = np.asarray(vector, dtype=np.float64)
    out = {}
    for label, dtype in (("f32", "<f4"), ("f64", "<f8"), ("f32be", ">f4"), ("f64be", ">f8")):
        raw = v.astype(dtype).tobytes()
        out[f"{label} whole"] = raw
        out[f"{label} first 64"] = raw[:64]
        out[f"{label} middle 64"] = raw[len(raw) // 2 : len(raw) // 2 + 64]
    return out


def scan(roots: Sequence[Path], needles: dict[str, bytes]) -> list[str]:
    found = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            blob = path.read_bytes()
            found += [f"{label} in {path}" for label, n in needles.items() if n in blob]
    return found


def test_the_cli_story_leaves_no_image_or_embedding_bytes(
    facekeep, tmp_path, private_tmp, face_embedding, served_embedding
) -> None:
    data = str(tmp_path / "data")
    dd = ["--data-dir", data]
    facekeep(["init", *dd])[0].ok()

    obama_run, biden_run = facekeep(
        [
            "enroll",
            *dd,
            "--customer",
            "guest-obama",
            "--image",
            face("obama_1.jpg"),
            "--image",
            face("obama_rgba_32bit.png"),
            "--purpose",
            "checkin",
            "--purpose",
            "marketing",
            "--venue",
            VENUE,
            *NOTICE,
        ],
        [
            "enroll",
            *dd,
            "--image",
            face("biden_1.jpg"),
            "--purpose",
            "checkin",
            "--venue",
            VENUE,
            *NOTICE,
        ],
    )
    obama, biden = obama_run.ok(), biden_run.ok()
    for enrolled, templates in ((obama, 2), (biden, 1)):
        assert {"customer", "consent", "templates"} <= set(enrolled), enrolled
        assert enrolled["templates"] == templates
        assert enrolled["venues"] == [VENUE]
        assert enrolled["consent"].startswith("cs_")
    assert obama["customer"] == "guest-obama"
    assert obama["purposes"] == ["checkin", "marketing"]
    assert biden["customer"] != obama["customer"]

    obama_2, obama_3, biden_2 = face("obama_2.jpg"), face("obama_3.jpg"), face("biden_2.jpg")
    hit_obama, stranger, shown, frames, two_people = facekeep(
        ["match", *dd, "--image", obama_2, "--venue", VENUE],
        ["match", *dd, "--image", face("lin_manuel_miranda_1.png"), "--venue", VENUE],
        ["show", *dd, "--customer", "guest-obama"],
        ["match", *dd, "--image", obama_2, "--image", obama_3, "--venue", VENUE],
        ["match", *dd, "--image", obama_2, "--image", biden_2, "--venue", VENUE],
    )
    # The answer names the customer and consent, and no distance or score.
    hit = hit_obama.ok()
    assert hit == {"match": True, "customer": "guest-obama", "consent": obama["consent"]}
    # Several frames of one guest are one probe; frames of two people are refused.
    assert frames.ok() == hit
    assert "0 and 1" in two_people.error("faces_differ")["message"]
    assert stranger.code == 0 and stranger.stdout.strip() == '{"match": false}'
    assert stranger.json == {"match": False}
    view = shown.ok()
    assert view["customer_id"] == "guest-obama" and view["status"] == "active"
    assert view["key_id"] == obama["key_id"] and view["key_state"] == "active"
    assert len(view["templates"]) == 2
    [consent] = view["consents"]
    assert consent["status"] == "active"
    assert sorted(consent["active_purposes"]) == ["checkin", "marketing"]
    numbers = [
        value
        for value in _walk(view)
        if isinstance(value, list)
        and len(value) >= 8
        and all(isinstance(x, int | float) for x in value)
    ]
    assert not numbers, "an embedding was shown"

    revoked, erased = facekeep(
        ["revoke", *dd, "--customer", biden["customer"]],
        ["erase", *dd, "--customer", "guest-obama", "--reason", "customer request"],
    )
    body = revoked.ok()
    assert body["customer"] == biden["customer"] and body["purpose"] == "all"
    assert body["revoked"] == [{"consent": biden["consent"], "purpose": "checkin"}]
    body = erased.ok()
    assert body["destroyed_key_ids"] == [obama["key_id"]]
    assert body["customer"] == "guest-obama" and body["already_erased"] is False

    after_erase, erased_view = facekeep(
        ["match", *dd, "--image", face("obama_2.jpg"), "--venue", VENUE],
        ["show", *dd, "--customer", "guest-obama"],
    )
    assert after_erase.ok() == {"match": False}
    view = erased_view.ok()
    assert view["status"] == "erased" and view["key_state"] == "destroyed"

    # Nothing of the photos or their embeddings is anywhere on disk.
    used = ["obama_1.jpg", "obama_rgba_32bit.png", "biden_1.jpg", "obama_2.jpg"]
    used.append("lin_manuel_miranda_1.png")
    needles: dict[str, bytes] = {}
    for name in used:
        for i, window in enumerate(windows((FACES / name).read_bytes())):
            needles[f"{name} bytes {i}"] = window
        # The commands compute SFace embeddings (the engine a new vault serves); dlib's
        # are looked for too, in case an engine were chosen by mistake.
        for label, raw in embedding_needles(served_embedding(name)).items():
            needles[f"{name} embedding {label}"] = raw
        for label, raw in embedding_needles(face_embedding(name)).items():
            needles[f"{name} dlib embedding {label}"] = raw
    for code in (obama["access_code"], biden["access_code"]):
        needles[f"access code {code[:4]}"] = code.encode()
        needles[f"access code {code[:4]} plain"] = code.replace("-", "").encode()
    roots = [Path(data), private_tmp]
    assert sum(1 for root in roots for p in root.rglob("*") if p.is_file()) >= 3
    # The scan can find what it looks for (a control copy outside both roots).
    control = tmp_path / "control"
    control.mkdir()
    (control / "leak.bin").write_bytes(
        b"head" + needles["obama_1.jpg bytes 0"] + needles["biden_1.jpg embedding f32 whole"]
    )
    assert len(scan([control], needles)) == 4
    leaks = scan(roots, needles)
    assert not leaks, leaks


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


# -- errors -----------------------------------------------------------------------------------


def test_errors_are_json_with_a_stable_code(facekeep, tmp_path) -> None:
    data = tmp_path / "data"
    dd = ["--data-dir", str(data)]
    facekeep(["init", *dd])[0].ok()
    scene = tmp_path / "scene.jpg"
    rng = np.random.default_rng(3)
    from PIL import Image

    sky = np.zeros((360, 480, 3), dtype=np.uint8)
    sky[:180] = np.linspace(120, 230, 180, dtype=np.uint8)[:, None, None]
    sky[180:, :, 1] = rng.integers(80, 160, (180, 480), dtype=np.uint8)
    Image.fromarray(sky).save(scene, "JPEG")
    garbage = tmp_path / "photo.jpg"
    garbage.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)
    enrol = ["enroll", *dd, "--purpose", "checkin", "--venue", VENUE, *NOTICE]

    runs = facekeep(
        [*enrol, "--image", str(scene)],
        [*enrol, "--image", face("group_two_people.jpg")],
        [*enrol, "--image", str(garbage)],
        ["show", *dd, "--customer", "nobody"],
        ["erase", *dd, "--customer", "nobody", "--reason", "x"],
        [*enrol, "--image", str(tmp_path / "missing.jpg")],
        [*enrol[:-4], "--notice-version", "v999", "--lang", "vi", "--image", face("obama_1.jpg")],
        [*enrol, "--image", face("obama_1.jpg"), "--image", face("biden_1.jpg")],
    )
    expected = [
        "no_face",
        "multiple_faces",
        "not_an_image",
        "customer_not_found",
        "customer_not_found",
        "file_not_readable",
        "unknown_notice",
        "faces_differ",
    ]
    for run, code in zip(runs, expected, strict=True):
        run.error(code)
        assert run.code == 1, (run.args, run.code)
        assert "Traceback" not in run.stderr, run.stderr
    assert "2" in runs[1].json["message"]
    # A usage error is JSON too, with exit status 2.
    [usage] = facekeep(["enroll", *dd, "--image", face("obama_1.jpg")])
    usage.error("usage")
    assert usage.code == 2


# -- demo -------------------------------------------------------------------------------------


def test_demo_json_is_ok_and_leaves_nothing_behind(facekeep, private_tmp) -> None:
    before = set(private_tmp.iterdir())
    [demo] = facekeep(["demo", "--json"])
    summary = demo.ok()
    assert summary["ok"] is True
    steps = summary["steps"]
    assert len(steps) >= 8 and all(s["ok"] for s in steps), steps
    names = {s["step"] for s in steps}
    assert {"enrol", "match", "stranger", "revoke", "erase", "shredded"} <= names
    # The demo's temporary vault is gone.
    assert not Path(summary["data_dir"]).exists()
    assert set(private_tmp.iterdir()) == before


# -- kiosk client -----------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path, env: dict[str, str]) -> Iterator[Callable[[Path], str]]:
    started: list[Server] = []

    def start(data: Path) -> str:
        launched = launch_server(
            data, env={**env, "FACEKEEP_LOG_LEVEL": "WARNING"}, log=tmp_path / "serve.log"
        )
        started.append(launched)
        return launched.url

    yield start
    for launched in started:
        launched.stop()


def test_kiosk_match_against_a_running_server(facekeep, server, tmp_path) -> None:
    # The vault is set up in-process (the commands for that are tested above).
    from api import credentials
    from api.notices import notice_text
    from api.operations import enroll_images
    from api.runtime import init_data_dir, open_runtime
    from api.settings import Settings
    from vault import SYSTEM, ConsentRequest

    data = tmp_path / "data"
    # SQLite files in the data directory, like every command of this module.
    settings = Settings(data_dir=data, database_url=None, keystore_url=None)
    init_data_dir(settings)
    runtime = open_runtime(settings)  # the engine the server will use
    try:
        consent = ConsentRequest(
            purposes=("checkin",),
            venues=(VENUE,),
            notice_text=notice_text("v1", "vi"),
            notice_version="v1",
            lang="vi",
        )
        enrolled = enroll_images(
            runtime, [(FACES / "kit_harington_1.jpg").read_bytes()], consent, actor=SYSTEM
        )
        customer = enrolled.enrolment.customer_id
        engine, now = runtime.vault.engine, runtime.vault.now()
        credentials.ensure_venue(engine, VENUE, VENUE, now, SYSTEM)
        key, _ = credentials.create_key(
            engine, role="kiosk", now=now, actor=SYSTEM, venue=VENUE, purposes=("checkin",)
        )
    finally:
        runtime.close()
    url = server(data)
    garbage = tmp_path / "broken.jpg"
    garbage.write_bytes(b"\xff\xd8\xff" + b"\x00" * 500)

    kiosk = ["kiosk", "match", "--url", url, "--key", key]
    kit_2, stranger = face("kit_harington_2.jpg"), face("lin_manuel_miranda_1.png")
    ok_run, bad_run, frames_run, differ_run = facekeep(
        [*kiosk, kit_2, stranger],
        [*kiosk, str(garbage)],
        # Frames of one guest as one probe (Kit is the larger face of the group photo).
        [*kiosk, "--frames", kit_2, face("group_kit_rose.jpg")],
        [*kiosk, "--frames", kit_2, stranger],
    )
    assert ok_run.code == 0, (ok_run.stdout, ok_run.stderr)
    lines = [json.loads(line) for line in ok_run.stdout.splitlines() if line.strip()]
    assert len(lines) == 2, ok_run.stdout
    first, second = lines
    assert first["image"].endswith("kit_harington_2.jpg") and first["status"] == 200
    assert first["match"] is True and first["customer"] == customer
    assert set(first) == {"image", "status", "match", "customer", "consent"}
    assert second["image"].endswith("lin_manuel_miranda_1.png")
    assert {k: v for k, v in second.items() if k != "image"} == {"status": 200, "match": False}
    assert bad_run.code == 1
    [bad] = [json.loads(line) for line in bad_run.stdout.splitlines() if line.strip()]
    assert bad["status"] == 415 and bad["code"] == "not_an_image"
    assert frames_run.code == 0, (frames_run.stdout, frames_run.stderr)
    together = frames_run.json
    assert together["images"] == [kit_2, face("group_kit_rose.jpg")]
    assert {k: v for k, v in together.items() if k != "images"} == {
        "status": 200,
        "match": True,
        "customer": customer,
        "consent": enrolled.enrolment.consent_id,
    }
    assert differ_run.code == 1
    differ = differ_run.json
    assert (differ["status"], differ["code"], differ["pairs"]) == (422, "faces_differ", [[0, 1]])
