"""Fixtures for the key hierarchy tests: real KEK files, real key stores on the engine
under test (SQLite files or PostgreSQL schemas, see tests/conftest.py), a clock, and the
real KEK services (a SoftHSM2 token, an OpenBao transit mount) the provider tests use.

Helpers are handed out as fixtures (not imported from this module); what the key-store
and vault tests share lives in ``tests/storage.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from keys import KeyStore, LocalKekProvider
from keys.store import metadata as keys_metadata
from tests.keys.providers import BaoServer, SoftHsm, Token, Transit
from tests.storage import Backups, query, rows_containing
from tests.support import Clock


class Disk:
    """Raw access to one key store, bypassing the code under test: its rows through a
    separate engine (SQLite or PostgreSQL) and the files under the test's directory."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url

    def wrapped(self, customer_id: str, url: str | None = None) -> bytes:
        """The wrapped data key of a customer, read straight from the ``wrapped_keys`` table."""
        rows = query(
            url or self.url,
            "SELECT w.wrapped FROM wrapped_keys w JOIN data_keys d ON d.key_id = w.key_id "
            "WHERE d.customer_id = :customer_id",
            {"customer_id": customer_id},
        )
        assert len(rows) == 1, f"expected one wrapped key row for {customer_id}, got {rows}"
        return bytes(rows[0][0])

    def rows(self, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        return query(self.url, sql, params)

    def count(self, table: str) -> int:
        return int(query(self.url, f"SELECT count(*) FROM {table}")[0][0])

    def rows_containing(self, needle: bytes) -> list[str]:
        """``table.column`` of every value in the key store that holds ``needle``."""
        return rows_containing(self.url, needle)

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())

    def files_containing(self, needle: bytes) -> list[str]:
        """Every file under the directory (recursively) whose bytes contain ``needle``."""
        assert len(needle) >= 16
        return [str(p.relative_to(self.root)) for p in self.files() if needle in p.read_bytes()]


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
def db_url(db_urls: Any) -> str:
    """This test's key store database (``keys.db`` in tmp_path, or a PostgreSQL schema)."""
    return str(db_urls.keys)


@pytest.fixture
def disk(tmp_path: Path, db_url: str) -> Disk:
    return Disk(tmp_path, db_url)


@pytest.fixture
def backups(
    tmp_path_factory: pytest.TempPathFactory, new_db_urls: Callable[[Path], Any]
) -> Backups:
    """``backups.take(url)`` -> a copy to open or restore; ``backups.restore(copy, url)``.
    Copies live outside the test's directory, so file scans of ``disk`` never see them."""
    return Backups(tmp_path_factory.mktemp("backups"), new_db_urls, [keys_metadata])


@pytest.fixture
def open_store(db_url: str, kek_dir: Path, clock: Clock) -> Iterator[Callable[..., KeyStore]]:
    """``open_store()`` opens a NEW KeyStore on the same database (or on ``url=``), with a
    NEW KEK provider read from the key directory unless ``kek=`` is given; all are closed at
    teardown."""
    opened: list[KeyStore] = []

    def make(*, url: str | None = None, kek: LocalKekProvider | None = None) -> KeyStore:
        provider = kek if kek is not None else LocalKekProvider.create(kek_dir)
        store = KeyStore.open_url(url or db_url, kek=provider, clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., KeyStore]) -> KeyStore:
    return open_store()


# -- the real KEK services: one SoftHSM2 token directory and one OpenBao server a session --


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """One SoftHSM2 token directory per test process (the PKCS#11 module reads
    SOFTHSM2_CONF when it is first loaded); each test makes tokens of its own in it."""
    hsm = SoftHsm.setup(tmp_path_factory.mktemp("softhsm"))
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(hsm.conf)
    yield hsm
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before


@pytest.fixture
def token(softhsm: SoftHsm) -> Iterator[Token]:
    """A fresh token of this test (its providers closed at teardown)."""
    t = Token(softhsm)
    yield t
    t.close()


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    """One OpenBao dev server per test process; each test gets a mount of its own."""
    server = BaoServer.start(tmp_path_factory.mktemp("bao"))
    yield server
    server.stop()


@pytest.fixture
def admin(bao: BaoServer) -> Any:
    """A root hvac client that goes around the provider, to look at the server's state."""
    import hvac

    return hvac.Client(url=bao.url, token=bao.token)


@pytest.fixture
def transit(bao: BaoServer) -> Iterator[Transit]:
    """A fresh transit key and mount of this test (its providers closed at teardown)."""
    t = Transit(bao)
    yield t
    t.close()
