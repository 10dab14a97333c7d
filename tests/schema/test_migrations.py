"""Alembic migrations build exactly the schema the code declares, on the engine under test,
and the service refuses to start on an older schema, naming the command to run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from api.runtime import KEYS_MIGRATIONS, VAULT_MIGRATIONS, init_data_dir, open_runtime
from api.settings import Settings
from dbkit import make_engine, schema
from keys.errors import KeysError
from keys.store import metadata as keys_metadata
from vault.models import metadata as vault_metadata


def _diff(url: str, metadata: object, folder: Path) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": schema.version_table(folder)}
            )
            return list(compare_metadata(context, metadata))  # type: ignore[arg-type]
    finally:
        engine.dispose()


def test_migrations_match_the_declared_tables(tmp_path: Path, db_urls: object) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    init_data_dir(settings)
    assert _diff(settings.vault_url(), vault_metadata, VAULT_MIGRATIONS) == []
    assert _diff(settings.keys_url(), keys_metadata, KEYS_MIGRATIONS) == []


def test_init_is_idempotent_and_at_head(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    init_data_dir(settings)
    init_data_dir(settings)
    runtime = open_runtime(settings)
    try:
        assert schema.current_revision(
            KEYS_MIGRATIONS, runtime.keys.engine
        ) == schema.head_revision(KEYS_MIGRATIONS)
        assert schema.current_revision(
            VAULT_MIGRATIONS, runtime.vault.engine
        ) == schema.head_revision(VAULT_MIGRATIONS)
    finally:
        runtime.close()


def test_an_older_schema_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    init_data_dir(settings)
    # Step the key store back one revision, as if the code had been upgraded since.
    from alembic import command
    from alembic.config import Config

    engine = make_engine(settings.keys_url())
    config = Config()
    config.set_main_option("script_location", str(KEYS_MIGRATIONS))
    config.attributes["engine"] = engine
    command.downgrade(config, "-1")
    engine.dispose()

    with pytest.raises(KeysError) as caught:
        open_runtime(settings)
    assert caught.value.code == "schema_outdated"
    assert "facekeep db upgrade" in str(caught.value)

    env = {**os.environ, "FACEKEEP_DATA_DIR": str(settings.data_dir)}
    cli = [sys.executable, "-m", "api.cli"]
    refused = subprocess.run([*cli, "show", "--customer", "x"], env=env, capture_output=True)
    assert refused.returncode != 0
    assert json.loads(refused.stdout)["error"] == "schema_outdated"
    upgraded = subprocess.run([*cli, "db", "upgrade"], env=env, capture_output=True, check=True)
    assert json.loads(upgraded.stdout)["upgraded"]["keystore"] == schema.head_revision(
        KEYS_MIGRATIONS
    )
    runtime = open_runtime(settings)
    runtime.close()


def test_a_wrong_kek_is_refused_at_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    init_data_dir(settings)
    kek_file = next((settings.data_dir / "kek").glob("epoch-*.kek"))
    kek_file.write_bytes(os.urandom(32))
    with pytest.raises(KeysError) as caught:
        open_runtime(settings)
    assert "not the one this key store was written with" in str(caught.value)
