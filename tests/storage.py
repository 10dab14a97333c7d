"""Helpers shared by the key-store and vault tests: raw access to a test database through
a separate engine (SQLite or PostgreSQL), and backups of it. (Clocks and polling live in
:mod:`tests.support`.)

Imported as ``tests.storage`` (pytest puts the project root on ``sys.path``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, insert, inspect, select, text
from sqlalchemy.engine import make_url

from dbkit import make_engine

# -- raw database access through a separate engine, on SQLite or PostgreSQL ----------------


def query(url: str, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
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


def stored_values(url: str) -> Iterator[tuple[str, bytes]]:
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


def rows_containing(url: str, needle: bytes) -> list[str]:
    """``table.column`` of every stored value (any table, any row) holding ``needle``."""
    assert len(needle) >= 16
    return sorted({where for where, value in stored_values(url) if needle in value})


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
        return rows_containing(self.url, needle) != []


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
