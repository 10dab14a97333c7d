"""Database plumbing shared by the key store, the vault and the service: engines, write
transactions, lock waits and UTC timestamps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "DEFAULT_LOCK_WAIT",
    "LOCK_WAIT",
    "UTCDateTime",
    "checkpoint_truncate",
    "insert_ignore",
    "lock_wait",
    "make_engine",
    "normalise_url",
    "serialise_writers",
    "writing",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


#: How long the transactions of the current context wait for a lock (seconds); None: the
#: engine's own default. The HTTP service sets a short wait for request paths, so a locked
#: database answers 503 at once instead of holding the request for half a minute.
LOCK_WAIT: ContextVar[float | None] = ContextVar("facekeep_lock_wait", default=None)

#: The default wait of an engine: background work and commands may wait this long.
DEFAULT_LOCK_WAIT = 30.0


@contextmanager
def lock_wait(seconds: float | None) -> Iterator[None]:
    """Transactions begun in this block (and in threads it starts with a copied context)
    wait at most ``seconds`` for a lock (None: the engine's default)."""
    token = LOCK_WAIT.set(seconds)
    try:
        yield
    finally:
        LOCK_WAIT.reset(token)


def _wanted_wait(default: float) -> int:
    """The lock wait, in whole milliseconds, for a transaction about to begin."""
    wanted = LOCK_WAIT.get()
    return round(1000 * (default if wanted is None else wanted))


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given without a driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str, *, secure_delete: bool = False, lock_wait: float = DEFAULT_LOCK_WAIT
) -> Engine:
    """Create an engine that never logs bound parameters; SQLite gets WAL and sane pragmas.

    ``secure_delete`` makes SQLite zero deleted content on every connection (it is a
    per-connection setting), which the key store needs so destroyed keys leave no bytes.
    PostgreSQL never zeroes dead tuples: there, erasure rests on destroyed keys alone.

    A transaction waits for locks ``lock_wait`` seconds, or what :data:`LOCK_WAIT` says
    in its context (SQLite's busy timeout, PostgreSQL's ``lock_timeout``); an unreachable
    PostgreSQL server fails a connection attempt within a few seconds.
    """
    url = normalise_url(url)
    is_sqlite = url.startswith("sqlite")
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if is_sqlite:
        kwargs["connect_args"] = {"timeout": lock_wait, "check_same_thread": False}
    else:
        kwargs |= {
            "pool_pre_ping": True,
            "pool_size": 10,
            "max_overflow": 20,
            # A request waiting for a pooled connection answers 503 after this long.
            "pool_timeout": 5,
            # Fail fast when the server is unreachable or stops acknowledging.
            "connect_args": {"connect_timeout": 3, "tcp_user_timeout": 5000},
        }
    engine = create_engine(url, **kwargs)
    if not is_sqlite:
        default_ms = round(1000 * lock_wait)

        @event.listens_for(engine, "connect")
        def _pg_session(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET lock_timeout = {default_ms}")
            dbapi_conn.commit()

        @event.listens_for(engine, "begin")
        def _pg_lock_timeout(conn: Any) -> None:
            # Only a transaction that wants another wait than the engine's pays for it.
            wanted = _wanted_wait(lock_wait)
            if wanted != default_ms:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(wanted)}")

    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={round(1000 * lock_wait)}")
            if secure_delete:
                cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the write lock at BEGIN, so a read-then-write transaction never
            # fails to upgrade; readers begin deferred and never wait for writers (WAL).
            immediate = conn.get_execution_options().get("facekeep_write", False)
            wanted = _wanted_wait(lock_wait)
            if conn.info.get("facekeep_lock_wait", round(1000 * lock_wait)) != wanted:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(wanted)}")
                conn.info["facekeep_lock_wait"] = wanted
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        # Let SQLAlchemy's `begin` event issue BEGIN itself (pysqlite's own is disabled).
        @event.listens_for(engine, "connect", insert=True)
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on error."""
    with engine.connect() as conn:
        conn.execution_options(facekeep_write=True)
        with conn.begin():
            yield conn


def checkpoint_truncate(engine: Engine) -> None:
    """Fold the SQLite WAL into the database and truncate it, so deleted rows leave no copy."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for _ in range(200):
            row = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.01)
    finally:
        raw.close()
    raise RuntimeError("the SQLite WAL could not be checkpointed (a reader holds it)")


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> bool:
    """INSERT unless a row with the same ``keys`` exists; True if this call inserted it."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        module.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(table.c[keys[0]])
    )
    # RETURNING gives a row only when this statement inserted (rowcount is unreliable here).
    return conn.execute(stmt).first() is not None


def serialise_writers(conn: Connection, lock_id: int) -> None:
    """Make concurrent writers of one kind take turns inside their transactions.

    SQLite already serialises writers (every transaction here begins IMMEDIATE);
    PostgreSQL gets a transaction-scoped advisory lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
