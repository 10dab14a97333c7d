"""kiosk keys that may send embeddings

Revision ID: vault0004
Revises: vault0003
Create Date: 2026-11-30 06:00:00

A kiosk key may send embeddings instead of images only when it was made for a trusted
edge device (``allow_embeddings``). Keys made before this revision send images only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "vault0004"
down_revision = "vault0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("allow_embeddings", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("allow_embeddings")
