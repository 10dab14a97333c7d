"""``facekeep init`` and ``facekeep db``: the data directory and its schemas."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.common import cli_runtime, data_dir_option, emit, load_settings
from api.runtime import init_data_dir

__all__ = ["db_group", "init"]


def shown_url(url: str) -> str:
    """A database URL fit to print: its password masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


@click.command("init")
@data_dir_option
def init(data_dir: Path | None) -> None:
    """Create the data directory, the key file and both databases (idempotent)."""
    settings = load_settings(data_dir)
    path = init_data_dir(settings)
    emit(
        {
            "data_dir": path.resolve(),
            "vault": shown_url(settings.vault_url()),
            "keystore": shown_url(settings.keys_url()),
        }
    )


@click.group(name="db")
def db_group() -> None:
    """Database schemas (Alembic migrations for the vault and the key store)."""


@db_group.command("upgrade")
@data_dir_option
def db_upgrade(data_dir: Path | None) -> None:
    """Migrate both databases to the schema this code needs (nothing else: no key is
    made, no file written)."""
    from api.runtime import upgrade_schemas

    emit({"upgraded": upgrade_schemas(load_settings(data_dir))})


@db_group.command("current")
@data_dir_option
def db_current(data_dir: Path | None) -> None:
    """Show each database's schema revision and the one this code needs."""
    from api.runtime import KEYS_MIGRATIONS, VAULT_MIGRATIONS
    from dbkit import schema

    with cli_runtime(data_dir, start=False, check=False) as runtime:
        emit(
            {
                "keystore": schema.current_revision(KEYS_MIGRATIONS, runtime.keys.engine),
                "keystore_head": schema.head_revision(KEYS_MIGRATIONS),
                "vault": schema.current_revision(VAULT_MIGRATIONS, runtime.vault.engine),
                "vault_head": schema.head_revision(VAULT_MIGRATIONS),
            }
        )
