"""Fixtures for the key hierarchy tests: real KEK files, real SQLite key stores, a clock.

Helpers are handed out as fixtures (not imported from this module) so the tests work
under any pytest import mode.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keys import KeyStore, LocalKekProvider


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Disk:
    """Raw access to the files of one key store directory, bypassing the code under test."""

    def __init__(self, root: Path, db_path: Path) -> None:
        self.root = root
        self.db_path = db_path

    def _query(self, sql: str, params: tuple[object, ...] = (), path: Path | None = None):
        con = sqlite3.connect(path or self.db_path)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def wrapped(self, customer_id: str, path: Path | None = None) -> bytes:
        """The wrapped data key of a customer, read straight from the ``wrapped_keys`` table."""
        rows = self._query(
            "SELECT w.wrapped FROM wrapped_keys w JOIN data_keys d ON d.key_id = w.key_id "
            "WHERE d.customer_id = ?",
            (customer_id,),
            path,
        )
        assert len(rows) == 1, f"expected one wrapped key row for {customer_id}, got {rows}"
        return bytes(rows[0][0])

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return [tuple(r) for r in self._query(sql, params)]

    def count(self, table: str) -> int:
        return int(self._query(f"SELECT count(*) FROM {table}")[0][0])

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())

    def files_containing(self, needle: bytes) -> list[str]:
        """Every file under the directory (recursively) whose bytes contain ``needle``."""
        assert len(needle) >= 16
        return [str(p.relative_to(self.root)) for p in self.files() if needle in p.read_bytes()]

    def backup(self, destination: Path) -> Path:
        """A consistent copy of the database (WAL included) made with SQLite's backup API."""
        src = sqlite3.connect(self.db_path)
        dst = sqlite3.connect(destination)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return destination


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def kek_dir(tmp_path: Path) -> Path:
    return tmp_path / "kek"


@pytest.fixture
def kek(kek_dir: Path) -> LocalKekProvider:
    return LocalKekProvider.create(kek_dir)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "keys.db"


@pytest.fixture
def disk(tmp_path: Path, db_path: Path) -> Disk:
    return Disk(tmp_path, db_path)


@pytest.fixture
def open_store(db_path: Path, kek_dir: Path, clock: Clock) -> Iterator[Callable[..., KeyStore]]:
    """``open_store()`` opens a NEW KeyStore on the same database file, with a NEW KEK
    provider read from the key directory unless ``kek=`` is given; all are closed at
    teardown."""
    opened: list[KeyStore] = []

    def make(*, path: Path | None = None, kek: LocalKekProvider | None = None) -> KeyStore:
        provider = kek if kek is not None else LocalKekProvider.create(kek_dir)
        store = KeyStore.open_url(f"sqlite:///{path or db_path}", kek=provider, clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., KeyStore]) -> KeyStore:
    return open_store()
