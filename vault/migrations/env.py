"""Alembic environment of the vault store: runs on the engine handed over by dbkit.schema."""

from __future__ import annotations

from pathlib import Path

from alembic import context

from dbkit.schema import version_table
from vault.models import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        version_table=version_table(Path(__file__).parent),
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
