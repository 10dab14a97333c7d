"""The key store's schema: its migration folder, and the error raised when a schema (the
key store's, or, as before the move, the vault's when checked through here) is older
than the code. The Alembic helpers themselves are :mod:`dbkit.schema`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from dbkit import schema as _schema
from keys.errors import KeysError

__all__ = ["MIGRATIONS", "SchemaOutdated", "require_current"]


class SchemaOutdated(KeysError):
    """The database schema is older (or newer) than this code."""

    code = "schema_outdated"


def require_current(folder: Path, engine: Engine, what: str) -> None:
    """Raise :class:`SchemaOutdated`, naming the command to run, unless the schema is at
    head (kept a :class:`KeysError`, as the CLI and the API report it today)."""
    _schema.require_current(folder, engine, what, error=SchemaOutdated)


MIGRATIONS = Path(__file__).parent / "migrations"
