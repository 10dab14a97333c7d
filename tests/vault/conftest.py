"""Fixtures for the vault tests: real SQLite files in a data directory, real KEK files,
a clock moved by hand, crash points, and synthetic face embeddings.

Helpers are handed out as fixtures (not imported from this module) so the tests work
under any pytest import mode.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from keys import KeyStore, LocalKekProvider
from vault import SYSTEM, Actor, ConsentRequest, Vault

MODEL_NAME = "synthetic"
MODEL_VERSION = "synthetic-v1"
NOTICE = "We keep a template of your face to check you in. Withdraw any time at the desk."
STAFF = Actor(role="staff", id="desk-1")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Crash(Exception):
    """Raised by a fault hook to simulate the process dying at a named point."""


class CrashAt:
    """A ``fault=`` hook that raises :class:`Crash` at one point (``times`` times at most)."""

    def __init__(self, point: str, times: int = 1_000_000) -> None:
        self.point = point
        self.times = times
        self.seen: list[str] = []

    def __call__(self, point: str) -> None:
        self.seen.append(point)
        if point == self.point and self.times > 0:
            self.times -= 1
            raise Crash(point)


class Faces:
    """Synthetic face embeddings on the scale of face_recognition's (values ~N(0, 0.09),
    norm ~1): identities are random base vectors, photos are small perturbations."""

    DIM = 128
    SCALE = 0.09

    def __init__(self, seed: int = 1234) -> None:
        self.rng = np.random.default_rng(seed)
        self._bases: dict[str, npt.NDArray[np.float64]] = {}

    def base(self, name: str) -> npt.NDArray[np.float64]:
        if name not in self._bases:
            self._bases[name] = self.rng.normal(0.0, self.SCALE, self.DIM)
        return self._bases[name]

    def photo(self, name: str, distance: float = 0.15) -> npt.NDArray[np.float64]:
        """Another "photo" of ``name``: exactly ``distance`` away from its base vector."""
        return self.at_distance(self.base(name), distance)

    def at_distance(
        self, vector: npt.NDArray[np.floating], distance: float
    ) -> npt.NDArray[np.float64]:
        direction = self.rng.normal(0.0, 1.0, self.DIM)
        direction /= np.linalg.norm(direction)
        return np.asarray(vector, dtype=np.float64) + distance * direction


class Env:
    """One deployment's data directory; ``open()`` starts a NEW Vault + KeyStore on it."""

    def __init__(self, root: Path, clock: Clock) -> None:
        self.root = root
        self.clock = clock
        self.kek_dir = root / "kek"
        self.keys_path = root / "keys.db"
        self.vault_path = root / "vault.db"
        self._open: list[Vault] = []

    def open(
        self,
        *,
        fault: Callable[[str], None] | None = None,
        start: bool = True,
        threshold: float = 0.5,
        model_version: str = MODEL_VERSION,
    ) -> Vault:
        keys = KeyStore.open_url(
            f"sqlite:///{self.keys_path}",
            kek=LocalKekProvider.create(self.kek_dir),
            clock=self.clock,
        )
        kwargs: dict[str, Any] = {}
        if fault is not None:
            kwargs["fault"] = fault
        vault = Vault.open_url(
            f"sqlite:///{self.vault_path}",
            keys=keys,
            model_name=MODEL_NAME,
            model_version=model_version,
            clock=self.clock,
            threshold=threshold,
            **kwargs,
        )
        self._open.append(vault)
        if start:
            vault.start()
        return vault

    def close(self, vault: Vault) -> None:
        """Release a vault's files (what the OS does when a crashed process is gone)."""
        if vault in self._open:
            self._open.remove(vault)
            vault.close()
            vault.keys.close()

    def close_all(self) -> None:
        for vault in list(self._open):
            self.close(vault)

    # -- raw access, bypassing the code under test -------------------------------------

    def sql(self, sql: str, params: Sequence[object] = (), *, db: str = "vault") -> list[Any]:
        path = self.vault_path if db == "vault" else self.keys_path
        con = sqlite3.connect(path)
        try:
            rows = con.execute(sql, tuple(params)).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def count(self, table: str, *, db: str = "vault", customer_id: str | None = None) -> int:
        if customer_id is None:
            return int(self.sql(f"SELECT count(*) FROM {table}", db=db)[0][0])
        return int(
            self.sql(f"SELECT count(*) FROM {table} WHERE customer_id = ?", [customer_id], db=db)[
                0
            ][0]
        )

    def wrapped_key(self, customer_id: str) -> bytes:
        rows = self.sql(
            "SELECT w.wrapped FROM wrapped_keys w JOIN data_keys d ON d.key_id = w.key_id "
            "WHERE d.customer_id = ?",
            [customer_id],
            db="keys",
        )
        assert len(rows) == 1, rows
        return bytes(rows[0][0])

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())

    def files_containing(self, needle: bytes) -> list[str]:
        assert len(needle) >= 16
        return [str(p.relative_to(self.root)) for p in self.files() if needle in p.read_bytes()]

    def backup_vault_db(self, destination: Path) -> Path:
        """A consistent copy of vault.db (WAL folded in) made with SQLite's backup API."""
        src = sqlite3.connect(self.vault_path)
        dst = sqlite3.connect(destination)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return destination


def make_consent(
    purposes: Sequence[str] = ("checkin",),
    venues: Sequence[str] = ("venue-1",),
    *,
    expires_at: datetime | None = None,
    notice_text: str = NOTICE,
    notice_version: str = "2025-01",
    lang: str = "en",
) -> ConsentRequest:
    return ConsentRequest(
        purposes=tuple(purposes),
        venues=tuple(venues),
        notice_text=notice_text,
        notice_version=notice_version,
        lang=lang,
        method="kiosk",
        device="kiosk-7",
        expires_at=expires_at,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def env(tmp_path: Path, clock: Clock) -> Iterator[Env]:
    e = Env(tmp_path / "data", clock)
    e.root.mkdir()
    yield e
    e.close_all()


@pytest.fixture
def vault(env: Env) -> Vault:
    return env.open()


@pytest.fixture
def faces() -> Faces:
    return Faces()


@pytest.fixture
def consent() -> Callable[..., ConsentRequest]:
    """``consent(purposes, venues, expires_at=...)`` -> a valid ConsentRequest."""
    return make_consent


@pytest.fixture
def crash_at() -> Callable[..., CrashAt]:
    return CrashAt


@pytest.fixture
def crash_type() -> type[Crash]:
    return Crash


@pytest.fixture
def staff() -> Actor:
    return STAFF


@pytest.fixture
def system() -> Actor:
    return SYSTEM


@pytest.fixture
def env_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Clock], Env]]:
    """Fresh data directories on demand (for property-based tests: one per example)."""
    made: list[Env] = []

    def make(clock: Clock) -> Env:
        e = Env(tmp_path_factory.mktemp("vault-example"), clock)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close_all()


@pytest.fixture
def new_clock() -> Callable[[], Clock]:
    return lambda: Clock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))
