"""Fixtures for the vault tests: real databases on the engine under test (SQLite files in a
data directory, or PostgreSQL schemas; see tests/conftest.py), real KEK files, a clock
moved by hand, crash points, and synthetic face embeddings.

Helpers are handed out as fixtures (not imported from this module); what the key-store
and vault tests share lives in ``tests/storage.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from keys import KeyStore, LocalKekProvider
from keys.store import metadata as keys_metadata
from tests.storage import Backups, query, stored_values
from tests.support import Clock
from vault import SYSTEM, Actor, ConsentRequest, Vault
from vault.models import metadata as vault_metadata

MODEL_NAME = "synthetic"
MODEL_VERSION = "synthetic-v1"
NOTICE = "We keep a template of your face to check you in. Withdraw any time at the desk."
STAFF = Actor(role="staff", id="desk-1")


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
    """One deployment: a data directory (KEK files, and the SQLite files when SQLite is
    under test) and its two databases; ``open()`` starts a NEW Vault + KeyStore on them.

    The databases outlive every Vault opened on them, whichever the engine, so closing
    and opening again is a restart."""

    def __init__(self, root: Path, urls: Any, clock: Clock) -> None:
        self.root = root
        self.clock = clock
        self.kek_dir = root / "kek"
        self.vault_url: str = urls.vault
        self.keys_url: str = urls.keys
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
            self.keys_url,
            kek=LocalKekProvider.create(self.kek_dir),
            clock=self.clock,
        )
        kwargs: dict[str, Any] = {}
        if fault is not None:
            kwargs["fault"] = fault
        vault = Vault.open_url(
            self.vault_url,
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
        """Release a vault's databases (what the OS does when a crashed process is gone)."""
        if vault in self._open:
            self._open.remove(vault)
            vault.close()
            vault.keys.close()

    def close_all(self) -> None:
        for vault in list(self._open):
            self.close(vault)

    # -- raw access, bypassing the code under test -------------------------------------

    def url(self, db: str) -> str:
        assert db in ("vault", "keys"), db
        return self.vault_url if db == "vault" else self.keys_url

    def sql(
        self, sql: str, params: Mapping[str, object] | None = None, *, db: str = "vault"
    ) -> list[Any]:
        """Run one statement (``:name`` parameters) in its own committed transaction."""
        return query(self.url(db), sql, params)

    def count(self, table: str, *, db: str = "vault", customer_id: str | None = None) -> int:
        if customer_id is None:
            return int(self.sql(f"SELECT count(*) FROM {table}", db=db)[0][0])
        return int(
            self.sql(
                f"SELECT count(*) FROM {table} WHERE customer_id = :customer_id",
                {"customer_id": customer_id},
                db=db,
            )[0][0]
        )

    def wrapped_key(self, customer_id: str) -> bytes:
        rows = self.sql(
            "SELECT w.wrapped FROM wrapped_keys w JOIN data_keys d ON d.key_id = w.key_id "
            "WHERE d.customer_id = :customer_id",
            {"customer_id": customer_id},
            db="keys",
        )
        assert len(rows) == 1, rows
        return bytes(rows[0][0])

    def stored_values(self) -> Iterator[tuple[str, bytes]]:
        """(``db:table.column``, bytes) of every value in every row of both databases."""
        for db in ("vault", "keys"):
            for where, value in stored_values(self.url(db)):
                yield f"{db}:{where}", value

    def rows_containing(self, needle: bytes) -> list[str]:
        """``db:table.column`` of every stored value, in either database, holding ``needle``."""
        assert len(needle) >= 16
        return sorted({where for where, value in self.stored_values() if needle in value})

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())

    def files_containing(self, needle: bytes) -> list[str]:
        assert len(needle) >= 16
        return [str(p.relative_to(self.root)) for p in self.files() if needle in p.read_bytes()]


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
def env(tmp_path: Path, db_urls: Any, clock: Clock) -> Iterator[Env]:
    """The test's deployment: its data directory is tmp_path, its databases ``db_urls``."""
    e = Env(tmp_path, db_urls, clock)
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
def env_factory(
    tmp_path_factory: pytest.TempPathFactory, new_db_urls: Callable[[Path], Any]
) -> Iterator[Callable[[Clock], Env]]:
    """Fresh deployments on demand (for property-based tests: one per example)."""
    made: list[Env] = []

    def make(clock: Clock) -> Env:
        root = tmp_path_factory.mktemp("vault-example")
        e = Env(root, new_db_urls(root), clock)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close_all()


@pytest.fixture
def backups(
    tmp_path_factory: pytest.TempPathFactory, new_db_urls: Callable[[Path], Any]
) -> Backups:
    """``backups.take(env.vault_url)`` -> a consistent copy; ``backups.restore(copy, url)``
    puts it back. Copies live outside the data directory, so file scans never see them."""
    return Backups(tmp_path_factory.mktemp("backups"), new_db_urls, [vault_metadata, keys_metadata])


@pytest.fixture
def new_clock() -> Callable[[], Clock]:
    return lambda: Clock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))
