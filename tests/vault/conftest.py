"""Fixtures for the vault tests: real databases on the engine under test (SQLite files in a
data directory, or PostgreSQL schemas; see tests/conftest.py), real KEK files, a clock
moved by hand, crash points, and synthetic face embeddings.

Helpers are handed out as fixtures (not imported from this module) so the tests work
under any pytest import mode.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import MetaData, insert, inspect, select, text
from sqlalchemy.engine import make_url

from keys import KeyStore, LocalKekProvider
from keys.db import make_engine
from keys.store import metadata as keys_metadata
from vault import SYSTEM, Actor, ConsentRequest, Vault
from vault.models import metadata as vault_metadata

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


# -- raw database access through a separate engine, on SQLite or PostgreSQL ----------------


def _query(url: str, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement in its own transaction (committed) on a throwaway engine."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), dict(params or {}))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _as_bytes(value: object) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8")


def _stored_values(url: str) -> Iterator[tuple[str, bytes]]:
    """(``table.column``, bytes) of every non-null value in every row of every table."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            for table in sorted(inspect(conn).get_table_names()):
                for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():
                    for column, value in row.items():
                        if value is not None:
                            yield f"{table}.{column}", _as_bytes(value)
    finally:
        engine.dispose()


def _rows_containing(url: str, needle: bytes) -> list[str]:
    """``table.column`` of every stored value (any table, any row) holding ``needle``."""
    assert len(needle) >= 16
    return sorted({where for where, value in _stored_values(url) if needle in value})


def _sqlite_path(url: str) -> Path | None:
    return Path(make_url(url).database or "") if url.startswith("sqlite") else None


def _copy_tables(src_url: str, dst_url: str, metadatas: Sequence[MetaData]) -> None:
    """Replace every table of ``dst_url`` with the tables and rows of ``src_url``."""
    src, dst = make_engine(src_url), make_engine(dst_url)
    if src.dialect.name == "postgresql":  # one snapshot for every table: a consistent copy
        src = src.execution_options(isolation_level="REPEATABLE READ")
    try:
        with src.connect() as s, dst.begin() as d:
            present = set(inspect(s).get_table_names())
            known = [t for md in metadatas for t in md.sorted_tables]
            unknown = present - {t.name for t in known}
            assert not unknown, f"no metadata to copy tables {unknown}"
            cascade = " CASCADE" if d.dialect.name == "postgresql" else ""
            for name in inspect(d).get_table_names():
                d.execute(text(f'DROP TABLE "{name}"{cascade}'))
            for table in (t for t in known if t.name in present):
                table.create(d)
                rows = [dict(r) for r in s.execute(select(table)).mappings()]
                if rows:
                    d.execute(insert(table), rows)
    finally:
        src.dispose()
        dst.dispose()


@dataclass(frozen=True)
class Backup:
    """A consistent copy of one database, openable at ``url``."""

    url: str
    path: Path | None  # the SQLite file; None on PostgreSQL

    def contains(self, needle: bytes) -> bool:
        """Whether the copy holds ``needle``: anywhere in the file (SQLite), or in any
        stored value of any row (PostgreSQL)."""
        if self.path is not None:
            return needle in self.path.read_bytes()
        return _rows_containing(self.url, needle) != []


class Backups:
    """Backing databases up and restoring them, on either engine.

    SQLite: the backup API copies the file (WAL folded in); restoring replaces the files.
    PostgreSQL: the tables and their rows are copied into a fresh schema (from the
    metadata, so keys and constraints come along); restoring copies them back.
    """

    def __init__(
        self, folder: Path, new_db_urls: Callable[[Path], Any], metadatas: Sequence[MetaData]
    ) -> None:
        self.folder = folder
        self.new_db_urls = new_db_urls
        self.metadatas = metadatas
        self.taken = 0

    def take(self, url: str) -> Backup:
        self.taken += 1
        dest = self.new_db_urls(self.folder / f"backup-{self.taken}").vault
        source, target = _sqlite_path(url), _sqlite_path(dest)
        if source is None or target is None:
            _copy_tables(url, dest, self.metadatas)
            return Backup(dest, None)
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return Backup(dest, target)

    def restore(self, backup: Backup, url: str) -> None:
        """Put the copy back in place of the database at ``url`` (nothing may hold it open)."""
        path = _sqlite_path(url)
        if path is None or backup.path is None:
            _copy_tables(backup.url, url, self.metadatas)
            return
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        path.write_bytes(backup.path.read_bytes())


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
        return _query(self.url(db), sql, params)

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
            for where, value in _stored_values(self.url(db)):
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
