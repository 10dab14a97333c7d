"""Schema migrations (Alembic) for the key store and the vault, on SQLite or PostgreSQL.

Each store has its own migration folder inside its package, so a wheel carries them.
The service refuses to start on a schema older than its code.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from keys.errors import KeysError


class SchemaOutdated(KeysError):
    """The database schema is older (or newer) than this code."""

    code = "schema_outdated"


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


def require_current(folder: Path, engine: Engine, what: str) -> None:
    """Raise SchemaOutdated, naming the command to run, unless the schema is at head."""
    have, want = current_revision(folder, engine), head_revision(folder)
    if have != want:
        raise SchemaOutdated(
            f"the {what} schema is at {have or 'nothing'}, this code needs {want}: "
            "run `facekeep db upgrade`"
        )


MIGRATIONS = Path(__file__).parent / "migrations"
