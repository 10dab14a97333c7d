"""vault settings: the face model a vault serves

Revision ID: vault0003
Revises: vault0002
Create Date: 2026-11-30 05:00:00

A vault made before this revision holds templates of the dlib engine only: it is recorded
as serving the model version its templates carry, so upgrading never changes the engine.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "vault0003"
down_revision = "vault0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vault_settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.execute(
        "INSERT INTO vault_settings (name, value) "
        "SELECT 'model_version', MIN(model_version) FROM templates HAVING COUNT(*) > 0"
    )


def downgrade() -> None:
    op.drop_table("vault_settings")
