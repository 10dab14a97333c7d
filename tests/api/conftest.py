"""Fixtures for the HTTP API tests: a real service on real SQLite files in a temporary
data directory, the real face embedder, real HTTP through Starlette's TestClient, and a
real ``facekeep serve`` subprocess for the tests that need a socket.

Helpers are handed out as fixtures (not imported from this module) so the tests work
under any pytest import mode.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from api import credentials
from api.app import create_app
from api.operations import enroll_vectors
from api.runtime import init_data_dir
from api.settings import Settings
from enroll import Embedder
from tests.support import Clock, Server, Ticker, launch_server
from tests.support.faces import FakeEmbedder
from vault import SYSTEM, ConsentRequest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}
FACEKEEP = Path(sys.executable).parent / "facekeep"


@dataclass(frozen=True)
class Key:
    """An API key: the secret (shown once) and its id."""

    secret: str
    id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@dataclass(frozen=True)
class Customer:
    """An enrolled customer as the enrolment answered."""

    id: str
    code: str
    key_id: str
    consent: str
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.code}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def photo(name: str, data: bytes) -> tuple[str, tuple[str, bytes, str]]:
    kind = "image/png" if name.endswith(".png") else "image/jpeg"
    return ("image", (name, data, kind))


@pytest.fixture(scope="session")
def embedder(served_embedder: Embedder) -> Embedder:
    """The service's engine (SFace), not the top-level fixture's dlib."""
    return served_embedder


@pytest.fixture(scope="session")
def fake_embedder(
    faces_dir: Path,
    face_bytes: Callable[[str], bytes],
    served_embedding: Callable[[str], npt.NDArray[np.float64]],
) -> FakeEmbedder:
    """An embedder that runs no model: each sample photo answers the served engine's
    vector of that photo (``face_embedding``), any other image has no face. For services
    whose subject is not the face (``make_service(fake=fake_embedder)``)."""
    # Only photos of one face of ordinary size: the group photos and the small face
    # are refused by the real engine, so the fake does not know them (no face).
    names = [
        p.name
        for p in sorted(faces_dir.iterdir())
        if p.suffix in (".jpg", ".png")
        and not p.name.startswith("group_")
        and "small" not in p.name
    ]
    return FakeEmbedder.of_samples(names, face_bytes, served_embedding)


@pytest.fixture(scope="session")
def face_embedding(
    served_embedding: Callable[[str], npt.NDArray[np.float64]],
) -> Callable[[str], npt.NDArray[np.float64]]:
    """Embeddings of the service's engine, not the top-level fixture's dlib."""
    return served_embedding


class Service:
    """One facekeep deployment in a data directory, served through a TestClient.

    Every response passes a hook that fails the test on any 5xx answer.
    """

    def __init__(
        self,
        root: Path,
        embedder: Embedder,
        urls: Any,
        *,
        clock: Clock | None = None,
        client_address: tuple[str, int] = ("testclient", 50000),
        **overrides: Any,
    ) -> None:
        self.root = root
        self.clock = clock
        self.embedder = embedder
        self.settings = Settings(
            data_dir=root, database_url=urls.vault, keystore_url=urls.keys, **overrides
        )
        init_data_dir(self.settings)
        self.app = create_app(self.settings, embedder=embedder, clock=clock)
        self.runtime = self.app.state.facekeep.runtime
        self.engine = self.runtime.vault.engine
        self.seen: list[tuple[str, str, int]] = []
        self.clients: list[TestClient] = []
        self.client = self.new_client(client_address)
        self.admin = self.key("admin", label="test admin")
        self.auditor = self.key("auditor", label="test auditor")

    # -- plumbing ------------------------------------------------------------------------

    def limiter_clock(self) -> Ticker:
        """Put every rate limiter of the app on a clock the test moves by hand (the
        buckets are full again once it advances), so no test sleeps for a refill."""
        ticker = Ticker()
        state = self.app.state.facekeep
        for limiter in (state.match_limiter, state.code_limiter, state.code_spill):
            limiter.clock = ticker
        return ticker

    def new_client(self, address: tuple[str, int] = ("testclient", 50000)) -> TestClient:
        """Another HTTP client of the same app (optionally from another address)."""
        client = TestClient(self.app, raise_server_exceptions=False, client=address)
        client.event_hooks = {"response": [self._check]}
        client.__enter__()
        self.clients.append(client)
        return client

    def _check(self, response: httpx.Response) -> None:
        request = response.request
        self.seen.append((request.method, request.url.path, response.status_code))
        if response.status_code >= 500:
            response.read()
            raise AssertionError(
                f"{request.method} {request.url.path} answered {response.status_code}: "
                f"{response.text[:500]}"
            )

    def close(self) -> None:
        for client in reversed(self.clients):
            client.__exit__(None, None, None)
        self.clients.clear()

    def db_env(self) -> dict[str, str]:
        """FACEKEEP_ variables pointing a subprocess at this deployment's databases."""
        return {
            "FACEKEEP_DATABASE_URL": self.settings.vault_url(),
            "FACEKEEP_KEYSTORE_URL": self.settings.keys_url(),
        }

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(UTC)

    # -- credentials ---------------------------------------------------------------------

    def key(
        self,
        role: str,
        *,
        venue: str | None = None,
        purposes: Sequence[str] = (),
        label: str = "",
        allow_embeddings: bool = False,
    ) -> Key:
        """A key made directly in the credential tables (as an operator would offline);
        ``allow_embeddings`` makes a trusted edge device's kiosk key."""
        if venue is not None:
            credentials.ensure_venue(self.engine, venue, venue, self.now(), SYSTEM)
        secret, record = credentials.create_key(
            self.engine,
            role=role,
            now=self.now(),
            actor=SYSTEM,
            venue=venue,
            purposes=tuple(purposes),
            label=label,
            allow_embeddings=allow_embeddings,
        )
        return Key(secret, record.key_id)

    def staff(
        self,
        venues: Sequence[str] = ("hcm-1",),
        *,
        staff_id: str | None = None,
        pin: str = "493817",
    ) -> Key:
        """A staff account at ``venues`` (made as an operator would), signed in over HTTP
        with its PIN: the session token and the staff id."""
        from api import accounts

        for venue in venues:
            credentials.ensure_venue(self.engine, venue, venue, self.now(), SYSTEM)
        self._staff_n = getattr(self, "_staff_n", 0) + 1
        staff_id = staff_id or f"staff-{self._staff_n}"
        accounts.create_staff(
            self.engine,
            staff_id=staff_id,
            name=staff_id,
            venues=tuple(venues),
            pin=pin,
            now=self.now(),
            actor=SYSTEM,
        )
        r = self.client.post("/v1/staff/sessions", json={"staff": staff_id, "pin": pin})
        assert r.status_code == 201, r.text
        return Key(r.json()["token"], staff_id)

    def venue(self, venue_id: str, name: str | None = None) -> None:
        """Register a venue over HTTP (201)."""
        r = self.client.post(
            "/v1/venues",
            json={"id": venue_id, "name": name or venue_id},
            headers=self.admin.headers,
        )
        assert r.status_code == 201, r.text

    def kiosk(
        self,
        venue: str,
        purposes: Sequence[str] = ("checkin",),
        label: str = "",
        *,
        allow_embeddings: bool = False,
    ) -> Key:
        """Make a kiosk key over HTTP (201; the key is in the answer once);
        ``allow_embeddings`` for a trusted edge device that may send embeddings."""
        r = self.client.post(
            "/v1/kiosks",
            json={
                "venue": venue,
                "purposes": list(purposes),
                "label": label,
                "allow_embeddings": allow_embeddings,
            },
            headers=self.admin.headers,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["allow_embeddings"] is allow_embeddings
        return Key(body["key"], body["id"])

    # -- enrolment -----------------------------------------------------------------------

    def enrol_request(
        self,
        images: Sequence[tuple[str, bytes]],
        *,
        purposes: Sequence[str] = ("checkin",),
        venues: Sequence[str] = ("hcm-1",),
        customer: str | None = None,
        expires_days: int | None = None,
        notice_version: str = "v1",
        lang: str = "vi",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST /v1/enrolments as multipart and return the raw answer."""
        data: dict[str, Any] = {
            "purposes": ",".join(purposes),
            "venues": ",".join(venues),
            "notice_version": notice_version,
            "lang": lang,
        }
        if customer is not None:
            data["customer"] = customer
        if expires_days is not None:
            data["expires_days"] = str(expires_days)
        return self.client.post(
            "/v1/enrolments",
            headers=headers or self.admin.headers,
            data=data,
            files=[photo(name, blob) for name, blob in images],
        )

    def enrol(self, images: Sequence[tuple[str, bytes]], **kwargs: Any) -> Customer:
        """Enrol over HTTP and expect 201."""
        r = self.enrol_request(images, **kwargs)
        assert r.status_code == 201, r.text
        body = r.json()
        return Customer(
            body["customer"], body["access_code"], body["key_id"], body["consent"], body
        )

    def enrol_vectors(
        self,
        vectors: Sequence[Any],
        *,
        purposes: Sequence[str] = ("checkin",),
        venues: Sequence[str] = ("hcm-1",),
        customer: str | None = None,
    ) -> Customer:
        """Enrol from embeddings already computed, through the running app's runtime
        (no image work; for tests that need many customers)."""
        consent = ConsentRequest(
            purposes=tuple(purposes),
            venues=tuple(venues),
            notice_text="test notice",
            notice_version="v1",
            lang="en",
            method="test",
            device="test",
        )
        result = enroll_vectors(
            self.runtime, list(vectors), consent, actor=SYSTEM, customer_id=customer
        )
        e = result.enrolment
        return Customer(e.customer_id, result.access_code, e.key_id, e.consent_id)

    # -- matching ------------------------------------------------------------------------

    def match(
        self,
        kiosk: Key,
        *,
        image: tuple[str, bytes] | None = None,
        embedding: Any = None,
        purpose: str | None = None,
        images: Sequence[tuple[str, bytes]] = (),
        embeddings: Sequence[Any] = (),
    ) -> httpx.Response:
        """POST /v1/match with an image or several frames (multipart), or an embedding or
        several (JSON; the kiosk key must allow embeddings)."""
        frames = [image] if image is not None else list(images)
        if frames:
            data = {"purpose": purpose} if purpose else {}
            return self.client.post(
                "/v1/match",
                headers=kiosk.headers,
                files=[photo(*frame) for frame in frames],
                data=data,
            )
        body: dict[str, Any]
        if embeddings:
            body = {"embeddings": [[float(x) for x in e] for e in embeddings]}
        else:
            body = {"embedding": [float(x) for x in embedding]}
        if purpose:
            body["purpose"] = purpose
        return self.client.post("/v1/match", headers=kiosk.headers, json=body)

    def events(self, **params: Any) -> list[dict[str, Any]]:
        """Every audit event, read as the auditor, page by page."""
        out: list[dict[str, Any]] = []
        after = -1
        while True:
            r = self.client.get(
                "/v1/audit/events",
                params={"after": after, "limit": 100, **params},
                headers=self.auditor.headers,
            )
            assert r.status_code == 200, r.text
            page = r.json()
            out += page["events"]
            if not page["events"]:
                return out
            after = page["next_after"]


@pytest.fixture(scope="session")
def open_service(embedder: Embedder, new_db_urls: Callable[[Path], Any]) -> Callable[..., Service]:
    """``open_service(root, clock=..., fake=None, **settings)`` -> a started Service (call
    close()), on fresh databases of the engine under test (SQLite files in ``root`` by
    default); ``fake`` replaces the real embedder (see ``fake_embedder``)."""

    def start(root: Path, *, fake: Embedder | None = None, **kwargs: Any) -> Service:
        return Service(root, fake or embedder, new_db_urls(root), **kwargs)

    return start


@pytest.fixture
def make_service(
    open_service: Callable[..., Service], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Service]]:
    """A fresh deployment per call, closed at the end of the test."""
    made: list[Service] = []

    def make(**kwargs: Any) -> Service:
        service = open_service(tmp_path_factory.mktemp("svc") / "data", **kwargs)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


@pytest.fixture(scope="session")
def clock_type() -> type[Clock]:
    return Clock


@pytest.fixture(scope="session")
def key_type() -> type[Key]:
    return Key


@pytest.fixture(scope="session")
def auth() -> Callable[[str], dict[str, str]]:
    """``auth(token)`` -> an Authorization header."""
    return bearer


@pytest.fixture(scope="session")
def photos(face_bytes: Callable[[str], bytes]) -> Callable[[str], tuple[str, bytes]]:
    """``photos("obama_2.jpg")`` -> (filename, bytes) for a multipart upload."""

    def get(name: str) -> tuple[str, bytes]:
        return (name, face_bytes(name))

    return get


def check_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem document with a stable code."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert set(body) >= PROBLEM_FIELDS, body
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert body["type"].endswith("/" + code), body
    assert isinstance(body["detail"], str) and body["detail"], body
    return body


@pytest.fixture(scope="session")
def problem() -> Callable[[httpx.Response, int, str], dict[str, Any]]:
    """``problem(response, status, code)`` asserts a problem+json answer; returns its body."""
    return check_problem


def numeric_runs(value: Any, path: str = "$") -> Iterator[tuple[str, int]]:
    """(path, length) of every list of 8 or more numbers inside a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from numeric_runs(v, f"{path}.{k}")
    elif isinstance(value, list):
        numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) >= 8:
            yield path, len(numbers)
        for i, v in enumerate(value):
            yield from numeric_runs(v, f"{path}[{i}]")


def check_no_biometrics(
    value: Any, vectors: Sequence[Any] = (), secrets: Sequence[str] = ()
) -> None:
    """No list of numbers, no component of the given embeddings (printed in full
    precision, as JSON would) and no secret appears anywhere in a JSON value."""
    runs = list(numeric_runs(value))
    assert not runs, f"numeric arrays in an answer: {runs}"
    text = json.dumps(value)
    for vector in vectors:
        for x in np.asarray(vector, dtype=np.float64)[:16]:
            for printed in (repr(float(x)), repr(float(np.float32(x)))):
                if len(printed) >= 10:
                    assert printed not in text, f"embedding component {printed} leaked"
    for secret in secrets:
        assert secret not in text, "a secret leaked into an answer"
        assert secret.replace("-", "") not in text, "a secret leaked into an answer"


@pytest.fixture(scope="session")
def no_biometrics() -> Callable[..., None]:
    """``no_biometrics(json_value, vectors=[...], secrets=[...])``."""
    return check_no_biometrics


class BadImages:
    """Uploads that are not usable face photos, built in memory."""

    @staticmethod
    def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
        buf = BytesIO()
        img.save(buf, fmt, **params)
        return buf.getvalue()

    @staticmethod
    def png_declaring(width: int, height: int) -> bytes:
        """A well-formed tiny PNG whose IHDR claims ``width`` x ``height`` pixels."""
        import struct
        import zlib

        def chunk(kind: bytes, payload: bytes) -> bytes:
            crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
            return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        idat = zlib.compress(b"\x00" * (1 + 3 * min(width, 1024)) * 4, 9)
        return (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
        )

    def gif(self) -> bytes:
        return self.encode(Image.new("RGB", (64, 64), (200, 10, 10)), "GIF")

    @staticmethod
    def svg() -> bytes:
        return (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="640" '
            b'height="480"><circle cx="320" cy="240" r="100" fill="peru"/></svg>'
        )

    @staticmethod
    def zip_archive() -> bytes:
        import zipfile

        buf = BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("face.jpg", b"\xff\xd8\xff\xe0 not really")
        return buf.getvalue()

    @staticmethod
    def garbage() -> bytes:
        return np.random.default_rng(5).integers(0, 256, 20_000, dtype=np.uint8).tobytes()

    def landscape(self) -> bytes:
        """A face-free generated scene (sky gradient, noisy grass) as a JPEG."""
        rng = np.random.default_rng(7)
        h, w = 480, 640
        arr = np.zeros((h, w, 3), dtype=np.uint8)
        arr[: h // 2] = np.linspace(120, 230, h // 2, dtype=np.uint8)[:, None, None]
        arr[h // 2 :, :, 1] = rng.integers(90, 160, (h - h // 2, w), dtype=np.uint8)
        return self.encode(Image.fromarray(arr), "JPEG", quality=85)

    def small_face(self, face: bytes) -> bytes:
        """obama_small.jpg shrunk to 100 px: a face is found but is under 48 px."""
        img = Image.open(BytesIO(face))
        img.load()
        img.thumbnail((100, 100), Image.Resampling.LANCZOS)
        return self.encode(img.convert("RGB"), "PNG")


@pytest.fixture(scope="session")
def bad_images() -> BadImages:
    return BadImages()


# -- a real server process -----------------------------------------------------------------


def clean_env(pycache: Path, **extra: str) -> dict[str, str]:
    """The environment without any FACEKEEP_ setting but those given; compiled bytecode
    is cached in ``pycache`` so each subprocess does not recompile everything."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def pycache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.getbasetemp() / "pycache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def serve(tmp_path: Path, pycache_dir: Path) -> Iterator[Callable[..., Server]]:
    """``serve(data_dir, **env)`` -> a running ``facekeep serve`` on a free 127.0.0.1 port,
    logging to a file (stopped after the test)."""
    started: list[Server] = []

    def start(data_dir: Path, **env: str) -> Server:
        server = launch_server(
            data_dir,
            env=clean_env(pycache_dir, FACEKEEP_HOST="127.0.0.1", **env),
            log=tmp_path / f"serve-{len(started)}.log",
            timeout=60.0,
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def facekeep_bin() -> Path:
    """The installed ``facekeep`` console script of this environment."""
    assert FACEKEEP.is_file(), FACEKEEP
    return FACEKEEP


@pytest.fixture(scope="session")
def subprocess_env(pycache_dir: Path) -> Callable[..., dict[str, str]]:
    """``subprocess_env(**extra)`` -> an environment for a ``facekeep`` subprocess."""

    def make(**extra: str) -> dict[str, str]:
        return clean_env(pycache_dir, **extra)

    return make


@pytest.fixture(scope="module")
def edge_service(open_service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One service per module for the HTTP-edge tests: venue ``hcm-1`` with a kiosk key
    (``kiosk_key``), no match rate limit."""
    service = open_service(tmp_path_factory.mktemp("edge") / "data", match_rate=0)
    service.venue("hcm-1")
    service.kiosk_key = service.kiosk("hcm-1")
    yield service
    service.close()
