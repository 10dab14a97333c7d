"""The key store's schema: its migration folder and the error raised when the schema
(of the key store or, for now, of any store checked through here) is older than the code.

The Alembic helpers themselves live in :mod:`dbkit.schema`; they are re-exported here
only so that old import paths keep working (temporary, see issue #17).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from dbkit import schema as _schema
from dbkit.schema import current_revision, head_revision, upgrade, version_table
from keys.errors import KeysError

__all__ = [
    "MIGRATIONS",
    "SchemaOutdated",
    "current_revision",
    "head_revision",
    "require_current",
    "upgrade",
    "version_table",
]


class SchemaOutdated(KeysError):
    """The database schema is older (or newer) than this code."""

    code = "schema_outdated"


def require_current(folder: Path, engine: Engine, what: str) -> None:
    """Raise :class:`SchemaOutdated`, naming the command to run, unless the schema is at
    head (kept a :class:`KeysError`, as the CLI and the API report it today)."""
    _schema.require_current(folder, engine, what, error=SchemaOutdated)


MIGRATIONS = Path(__file__).parent / "migrations"
