"""``facekeep demo``: the whole story on the sample faces, told step by step."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from api.cli.common import cli_runtime, emit
from api.notices import latest_version, notice_for
from api.operations import enroll_images, match_images
from api.runtime import init_data_dir
from api.settings import Settings
from keys import KeyDestroyed
from vault import Actor, ConsentRequest

__all__ = ["demo", "run_demo"]

STAFF = Actor(role="staff", id="demo-staff")
KIOSK = Actor(role="kiosk", id="demo-kiosk")
VENUE = "hcm-district1"

ENROL = {
    "obama": ["obama_1.jpg"],
    "biden": ["biden_1.jpg"],
    "kit": ["kit_harington_1.jpg"],
    "rose": ["rose_leslie_1.jpg"],
}
PROBES = {
    "obama": "obama_2.jpg",
    "biden": "biden_2.jpg",
    "kit": "kit_harington_2.jpg",
    "rose": "rose_leslie_2.jpg",
}
STRANGER = "lin_manuel_miranda_1.png"


def find_faces(explicit: Path | None) -> Path:
    """The folder of sample photos: ``--faces``, the project's tests/data/faces, or
    ../shared/faces."""
    here = Path(__file__).resolve().parents[2]  # the project: api/cli/demo.py
    candidates = [explicit] if explicit else []
    candidates += [here / "tests" / "data" / "faces", Path.cwd() / "tests" / "data" / "faces"]
    candidates += [here.parent / "shared" / "faces"]
    for candidate in candidates:
        if candidate and (candidate / "obama_1.jpg").is_file():
            return candidate
    raise FileNotFoundError("no sample faces found; pass --faces DIR")


def run_demo(
    *, data_dir: Path | None, faces: Path | None, say: Callable[[str], None] | None
) -> dict[str, Any]:
    """Enrol, match, revoke, erase, and show that erased ciphertext cannot be opened."""
    echo = say or (lambda _line: None)
    folder = find_faces(faces)
    temp = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="facekeep-demo-")) if temp else data_dir
    assert root is not None
    summary: dict[str, Any] = {"data_dir": str(root), "faces": str(folder), "steps": []}

    def step(name: str, ok: bool, detail: str) -> None:
        summary["steps"].append({"step": name, "ok": ok, "detail": detail})
        echo(f"  [{'ok' if ok else 'UNEXPECTED'}] {detail}")

    settings = Settings(data_dir=root)
    try:
        echo(f"1. Creating a vault in {root} (a key-encryption key and two databases)")
        init_data_dir(settings)
        with cli_runtime(None, settings=settings, index=True) as runtime:
            summary["engine"] = runtime.settings.face_engine
            echo(
                f"  face engine: {runtime.settings.face_engine} (threshold "
                f"{runtime.settings.match_threshold}, margin {runtime.settings.match_margin})"
            )
            version = latest_version("vi", settings.notices_dir)
            text = notice_for(settings, version, "vi")
            consent = ConsentRequest(
                purposes=("checkin",),
                venues=(VENUE,),
                notice_text=text,
                notice_version=version,
                lang="vi",
                method="kiosk-camera",
                device="demo",
            )
            echo(f"2. Enrolling {len(ENROL)} guests at {VENUE}, consent for check-in only")
            ids: dict[str, str] = {}
            for person, photos in ENROL.items():
                result = enroll_images(
                    runtime,
                    [(folder / p).read_bytes() for p in photos],
                    consent,
                    actor=STAFF,
                    customer_id=f"guest-{person}",
                )
                ids[person] = result.enrolment.customer_id
                step(
                    "enrol",
                    True,
                    f"{person}: customer {ids[person]}, {len(photos)} encrypted template(s), "
                    f"own key {result.enrolment.key_id[:12]}...",
                )

            def probe(photo: str, purpose: str = "checkin") -> str | None:
                hit = match_images(
                    runtime,
                    [(folder / photo).read_bytes()],
                    purpose=purpose,
                    venue=VENUE,
                    actor=KIOSK,
                )
                return None if hit is None else hit.customer_id

            echo("3. The kiosk sees other photos of them, and a stranger")
            for person, photo in PROBES.items():
                got = probe(photo)
                step("match", got == ids[person], f"{photo} -> {got or 'no match'}")
            got = probe(STRANGER)
            step("stranger", got is None, f"{STRANGER} (never enrolled) -> {got or 'no match'}")
            got = probe(PROBES["obama"], purpose="marketing")
            step("purpose", got is None, f"{PROBES['obama']} for marketing -> {got or 'no match'}")

            echo("4. Kit withdraws consent")
            runtime.vault.revoke(ids["kit"], actor=STAFF)
            got = probe(PROBES["kit"])
            step("revoke", got is None, f"{PROBES['kit']} -> {got or 'no match'}")

            echo("5. Rose asks to be erased: her data key is destroyed")
            erasure = runtime.vault.erase(ids["rose"], reason="customer request", actor=STAFF)
            step("erase", True, f"destroyed key {erasure.key_ids[0]}")
            got = probe(PROBES["rose"])
            step("erased", got is None, f"{PROBES['rose']} -> {got or 'no match'}")
            sealed = runtime.vault.sealed_templates(ids["rose"])
            step(
                "ciphertext",
                bool(sealed),
                f"{len(sealed)} template ciphertext(s) still stored, e.g. "
                f"{sealed[0][1][:16].hex()}... ({len(sealed[0][1])} bytes)"
                if sealed
                else "no ciphertext left",
            )
            try:
                runtime.vault.open_templates(ids["rose"])
                step("shredded", False, "the erased template could still be decrypted")
            except KeyDestroyed:
                step("shredded", True, "decrypting it fails: the key no longer exists anywhere")
            still = probe(PROBES["obama"])
            step("others", still == ids["obama"], f"other guests still match: obama -> {still}")
    finally:
        if temp:
            shutil.rmtree(root, ignore_errors=True)
    summary["ok"] = all(s["ok"] for s in summary["steps"])
    echo("Done: every step behaved as promised." if summary["ok"] else "Some steps failed.")
    return summary


@click.command("demo")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to keep the demo's vault (default: a temporary directory, removed after).",
)
@click.option("--faces", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON summary.")
def demo(data_dir: Path | None, faces: Path | None, as_json: bool) -> None:
    """Run the whole story end to end on the sample faces that ship with facekeep."""
    summary = run_demo(data_dir=data_dir, faces=faces, say=None if as_json else click.echo)
    if as_json:
        emit(summary)
    if not summary["ok"]:
        sys.exit(1)
