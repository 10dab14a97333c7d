"""Fixtures for the "verifiable destruction" acceptance tests.

Real deployments in ``tmp_path`` (vault.db, keys.db, kek/, audit/ signing key) opened with
``api.runtime.open_runtime(settings, create=True, clock=...)``; the command line run
in-process through click's runner (and once through the installed console script); an
RFC 6962 / RFC 9162 Merkle implementation written here from the RFC text, independent
of ``vault.audit.merkle``.

Helpers are handed out as fixtures (not imported from this module) so the tests work
under any pytest import mode.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from click.testing import CliRunner
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.cli import main
from api.runtime import Runtime, open_runtime
from api.settings import Settings
from tests.support import Clock
from vault import Actor, ConsentRequest

NOTICE = "We keep a template of your face to check you in. Withdraw any time at the desk."
STAFF = Actor(role="staff", id="desk-1")
KIOSK = Actor(role="kiosk", id="kiosk-lobby")


# --------------------------------------------------------------------------- time, faces


class Faces:
    """Synthetic 128-d embeddings on face_recognition's scale (values ~N(0, 0.09))."""

    def __init__(self, seed: int = 20250301) -> None:
        self.rng = np.random.default_rng(seed)
        self._bases: dict[str, npt.NDArray[np.float64]] = {}

    def base(self, name: str) -> npt.NDArray[np.float64]:
        if name not in self._bases:
            self._bases[name] = self.rng.normal(0.0, 0.09, 128)
        return self._bases[name]

    def photo(self, name: str, distance: float = 0.1) -> npt.NDArray[np.float64]:
        """Another "photo" of ``name``, exactly ``distance`` from its base vector."""
        direction = self.rng.normal(0.0, 1.0, 128)
        direction /= np.linalg.norm(direction)
        return self.base(name) + distance * direction


def make_consent(
    purposes: Sequence[str] = ("checkin",),
    venues: Sequence[str] = ("lobby",),
    *,
    expires_at: datetime | None = None,
) -> ConsentRequest:
    return ConsentRequest(
        purposes=tuple(purposes),
        venues=tuple(venues),
        notice_text=NOTICE,
        notice_version="2025-01",
        lang="en",
        method="kiosk",
        device="kiosk-7",
        expires_at=expires_at,
    )


# --------------------------------------------------------------------------- deployments


def sqlite_backup(source: Path, destination: Path) -> Path:
    """A consistent copy of a SQLite database (WAL folded in) via SQLite's backup API."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(destination)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return destination


class CliResult:
    """Exit code and the JSON object printed on stdout."""

    def __init__(self, exit_code: int, stdout: str, exception: BaseException | None) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.exception = exception

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run ``facekeep ARGS`` in-process through ``api.cli.main``, the console script's
    entry point (errors become a JSON object and a non-zero exit code there)."""
    runner = CliRunner()
    code: int = 0
    exception: BaseException | None = None
    with runner.isolation(env=env or {}) as streams:
        saved_argv = sys.argv
        sys.argv = ["facekeep", *args]
        try:
            main()
        except SystemExit as exc:
            exception = exc
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = saved_argv
        stdout = streams[0].getvalue().decode("utf-8")
    return CliResult(code, stdout, exception)


class Deployment:
    """One facekeep data directory, opened through ``api.runtime.open_runtime``."""

    def __init__(self, data_dir: Path, clock: Clock, faces: Faces) -> None:
        self.data_dir = data_dir
        self.clock = clock
        self.faces = faces
        self.settings = Settings(data_dir=data_dir, retention_interval_seconds=0)
        self._runtime: Runtime | None = None

    # -- the runtime -------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = open_runtime(self.settings, create=True, clock=self.clock)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    def reopen(self) -> Runtime:
        """A NEW runtime on the same files (nothing cached from before)."""
        self.close()
        return self.runtime

    @property
    def vault(self) -> Any:
        return self.runtime.vault

    # -- operations --------------------------------------------------------------------

    def enroll(self, name: str, consent: ConsentRequest | None = None, photos: int = 1) -> Any:
        embeddings = [self.faces.photo(name, 0.05) for _ in range(photos)]
        result = self.vault.enroll(
            embeddings, consent or make_consent(), actor=STAFF, customer_id=name
        )
        self.clock.advance(minutes=1)
        return result

    def match(self, name: str, venue: str = "lobby") -> Any:
        hit = self.vault.match(self.faces.photo(name), purpose="checkin", venue=venue, actor=KIOSK)
        self.clock.advance(seconds=30)
        return hit

    def revoke(self, name: str, purpose: str | None = None) -> Any:
        result = self.vault.revoke(name, purpose=purpose, actor=STAFF)
        self.clock.advance(minutes=1)
        return result

    def erase(self, name: str, reason: str = "customer request") -> Any:
        result = self.vault.erase(name, reason=reason, actor=STAFF)
        self.clock.advance(minutes=1)
        return result

    def export(self, out: Path) -> dict[str, Any]:
        from vault.audit.export import export_audit

        return export_audit(self.vault.audit, self.runtime.keys, out)

    # -- the command line --------------------------------------------------------------

    def cli(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        """``facekeep ARGS --data-dir DIR`` (the runtime is closed first, like a new process)."""
        self.close()
        return run_cli(*args, "--data-dir", str(self.data_dir), env=env)

    # -- raw access, bypassing the code under test ---------------------------------------

    def sql(self, query: str, params: Sequence[object] = (), *, db: str = "vault") -> list[Any]:
        path = self.data_dir / ("vault.db" if db == "vault" else "keys.db")
        con = sqlite3.connect(path)
        try:
            rows = con.execute(query, tuple(params)).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.sql("SELECT leaf FROM audit_events ORDER BY seq")]

    def pubkey_pem(self) -> str:
        from keys.signing import Ed25519Signer

        return Ed25519Signer.load(self.settings.signing_key_path()).public_pem()


@pytest.fixture(autouse=True)
def _no_facekeep_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read FACEKEEP_* variables: make sure none leaks in from the shell."""
    for name in list(os.environ):
        if name.startswith("FACEKEEP_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def clock_at() -> Callable[[datetime], Clock]:
    """``clock_at(start)`` -> another hand-moved clock."""
    return Clock


@pytest.fixture
def faces() -> Faces:
    return Faces()


@pytest.fixture
def deployment(tmp_path: Path, clock: Clock, faces: Faces) -> Iterator[Deployment]:
    d = Deployment(tmp_path / "data", clock, faces)
    yield d
    d.close()


@pytest.fixture
def deployment_at(tmp_path: Path) -> Iterator[Callable[[str, Clock], Deployment]]:
    """More deployments: ``deployment_at("name", clock)``."""
    made: list[Deployment] = []

    def make(name: str, clock: Clock) -> Deployment:
        d = Deployment(tmp_path / name, clock, Faces())
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def build_busy_log(d: Deployment) -> dict[str, Any]:
    """Enrolments, matches (hits and misses), revocations, a grant and two erasures."""
    for name in ("ana", "bao", "chi", "duc", "em"):
        d.enroll(name, make_consent(("checkin", "marketing")))
    assert d.match("ana") is not None
    assert d.match("bao") is not None
    assert d.match("stranger") is None
    d.revoke("bao", "marketing")
    d.revoke("chi")
    assert d.match("chi") is None
    d.vault.grant("duc", make_consent(("checkin",), ("rooftop",)), actor=STAFF)
    d.clock.advance(minutes=1)
    erased = [d.erase("ana"), d.erase("chi", reason="retention")]
    assert d.match("em") is not None
    return {"erased": erased}


@pytest.fixture(scope="session")
def make_deployment() -> Callable[[Path, Clock], Deployment]:
    """``make_deployment(data_dir, clock)`` (the caller closes it)."""
    return lambda data_dir, clock: Deployment(data_dir, clock, Faces())


@pytest.fixture(scope="session")
def build_busy() -> Callable[[Deployment], dict[str, Any]]:
    return build_busy_log


@pytest.fixture
def busy(deployment: Deployment) -> Deployment:
    """A deployment whose log holds every kind of event, two erasures among them."""
    build_busy_log(deployment)
    return deployment


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One busy deployment exported once per module; tests tamper with copies of it."""
    root = tmp_path_factory.mktemp("sample")
    d = Deployment(root / "data", Clock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC)), Faces())
    try:
        build_busy_log(d)
        out = root / "export"
        manifest = d.export(out)
        pem = root / "audit-pubkey.pem"
        pem.write_text(d.pubkey_pem(), encoding="utf-8")
    finally:
        d.close()
    return {"dir": out, "manifest": manifest, "pubkey": pem}


@pytest.fixture
def export_copy(sample_export: dict[str, Any], tmp_path: Path) -> Callable[[str], Path]:
    """``export_copy("name")`` -> a fresh copy of the sample export to tamper with."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(sample_export["dir"], target)
        return target

    return copy


@pytest.fixture
def cli_run() -> Callable[..., CliResult]:
    """``cli_run("audit", "verify", DIR, env={...})`` -> CliResult."""
    return run_cli


@pytest.fixture
def consent() -> Callable[..., ConsentRequest]:
    return make_consent


@pytest.fixture
def staff() -> Actor:
    return STAFF


@pytest.fixture
def backup() -> Callable[[Path, Path], Path]:
    return sqlite_backup


# --------------------------------------------------------------------------- RFC 9162


class Rfc9162:
    """RFC 6962 / RFC 9162 section 2.1 written from the RFC text (not from vault.audit.merkle).

    ``mth``, ``path`` and ``proof`` follow the recursive definitions (2.1.1, 2.1.3.1,
    2.1.4.1); ``verify_inclusion`` and ``verify_consistency`` the verification
    algorithms (2.1.3.2, 2.1.4.2) and return a bool.
    """

    @staticmethod
    def leaf(data: bytes) -> bytes:
        return hashlib.sha256(b"\x00" + data).digest()

    @staticmethod
    def node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    @staticmethod
    def _k(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def mth(self, entries: Sequence[bytes]) -> bytes:
        n = len(entries)
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.leaf(entries[0])
        k = self._k(n)
        return self.node(self.mth(entries[:k]), self.mth(entries[k:]))

    def path(self, m: int, entries: Sequence[bytes]) -> list[bytes]:
        n = len(entries)
        if n == 1:
            return []
        k = self._k(n)
        if m < k:
            return [*self.path(m, entries[:k]), self.mth(entries[k:])]
        return [*self.path(m - k, entries[k:]), self.mth(entries[:k])]

    def proof(self, m: int, entries: Sequence[bytes]) -> list[bytes]:
        if m in (0, len(entries)):
            return []
        return self._subproof(m, entries, True)

    def _subproof(self, m: int, entries: Sequence[bytes], b: bool) -> list[bytes]:
        n = len(entries)
        if m == n:
            return [] if b else [self.mth(entries)]
        k = self._k(n)
        if m <= k:
            return [*self._subproof(m, entries[:k], b), self.mth(entries[k:])]
        return [*self._subproof(m - k, entries[k:], False), self.mth(entries[:k])]

    def verify_inclusion(
        self, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
    ) -> bool:
        if index >= size:
            return False
        fn, sn, r = index, size - 1, leaf_hash
        for p in proof:
            if sn == 0:
                return False
            if fn % 2 == 1 or fn == sn:
                r = self.node(p, r)
                if fn % 2 == 0:
                    while fn % 2 == 0 and fn != 0:
                        fn >>= 1
                        sn >>= 1
            else:
                r = self.node(r, p)
            fn >>= 1
            sn >>= 1
        return sn == 0 and r == root

    def verify_consistency(
        self,
        first: int,
        second: int,
        first_hash: bytes,
        second_hash: bytes,
        proof: Sequence[bytes],
    ) -> bool:
        if first > second:
            return False
        if first == second:
            return not proof and first_hash == second_hash
        if first == 0:
            return not proof and first_hash == hashlib.sha256(b"").digest()
        if not proof:
            return False
        path = list(proof)
        if first & (first - 1) == 0:  # an exact power of two
            path.insert(0, first_hash)
        fn, sn = first - 1, second - 1
        while fn % 2 == 1:
            fn >>= 1
            sn >>= 1
        fr = sr = path[0]
        for c in path[1:]:
            if sn == 0:
                return False
            if fn % 2 == 1 or fn == sn:
                fr = self.node(c, fr)
                sr = self.node(c, sr)
                if fn % 2 == 0:
                    while fn % 2 == 0 and fn != 0:
                        fn >>= 1
                        sn >>= 1
            else:
                sr = self.node(sr, c)
            fn >>= 1
            sn >>= 1
        return fr == first_hash and sr == second_hash and sn == 0


@pytest.fixture(scope="session")
def rfc() -> Rfc9162:
    return Rfc9162()


# --------------------------------------------------------------------------- auditor side


class Auditor:
    """What an outside auditor does with only the public key: plain cryptography/json."""

    @staticmethod
    def canonical(value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )

    @staticmethod
    def public_key(pem: str) -> Ed25519PublicKey:
        key = serialization.load_pem_public_key(pem.encode())
        assert isinstance(key, Ed25519PublicKey)
        return key

    def signature_ok(self, pem: str, signature_b64: str, message: bytes) -> bool:
        try:
            self.public_key(pem).verify(base64.b64decode(signature_b64), message)
        except InvalidSignature:
            return False
        return True

    def head_ok(self, pem: str, head: dict[str, Any]) -> bool:
        """A tree head's signature covers the canonical JSON of its fields minus sig/alg."""
        body = {k: v for k, v in head.items() if k not in ("signature", "alg")}
        assert set(body) == {"v", "log", "tree_size", "root_hash", "timestamp", "key_id"}
        return self.signature_ok(pem, head["signature"], self.canonical(body))


@pytest.fixture(scope="session")
def auditor() -> Auditor:
    return Auditor()
