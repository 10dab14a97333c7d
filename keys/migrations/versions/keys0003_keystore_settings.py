"""keystore settings: the key store's own id, which binds the KEK epochs it creates

Revision ID: keys0003
Revises: keys0002
Create Date: 2026-11-30 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "keys0003"
down_revision = "keys0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "keystore_settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("keystore_settings")
