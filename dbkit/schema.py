"""Schema migrations (Alembic) on SQLite or PostgreSQL, and the table shapes every store
shares.

Each store keeps its own migration folder inside its package (so a wheel carries it) and
its own version table, so several stores may share one database. The service refuses to
start on a schema older than its code: :func:`require_current` raises the caller's error,
so each store reports it in its own error tree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, MetaData, String, Table, Text

__all__ = [
    "current_revision",
    "head_revision",
    "require_current",
    "settings_table",
    "upgrade",
    "version_table",
]


def _config(folder: Path, engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.attributes["engine"] = engine
    return config


def head_revision(folder: Path) -> str | None:
    """The newest migration in ``folder``."""
    return ScriptDirectory(str(folder)).get_current_head()


def version_table(folder: Path) -> str:
    """Each store keeps its own version table, so both may share one database."""
    return f"alembic_version_{folder.parent.name}"


def current_revision(folder: Path, engine: Engine) -> str | None:
    """The revision the database is at (None if never migrated)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": version_table(folder)})
        return context.get_current_revision()


def upgrade(folder: Path, engine: Engine, revision: str = "head") -> str | None:
    """Migrate the database to ``revision`` (default the newest); returns where it is."""
    command.upgrade(_config(folder, engine), revision)
    return current_revision(folder, engine)


def require_current(
    folder: Path, engine: Engine, what: str, *, error: Callable[[str], Exception]
) -> None:
    """Raise ``error(message)``, naming the command to run, unless the schema is at head."""
    have, want = current_revision(folder, engine), head_revision(folder)
    if have != want:
        raise error(
            f"the {what} schema is at {have or 'nothing'}, this code needs {want}: "
            "run `facekeep db upgrade`"
        )


def settings_table(name: str, metadata: MetaData) -> Table:
    """A store's table of named settings, one text value per name (the key store's id, the
    face model a vault serves): every store declares it alike."""
    return Table(
        name,
        metadata,
        Column("name", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
