"""check-in hand-off: per-venue webhooks and the durable outbox

Revision ID: vault0006
Revises: vault0005
Create Date: 2026-12-01 08:00:00

Each venue's webhook (its URL and its signing secret, sealed under a key-store data key)
and the outbox of check-ins to deliver, written with the match's audit event.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "vault0006"
down_revision = "vault0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkin_webhooks",
        sa.Column("venue_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret_owner", sa.String(length=128), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("venue_id"),
    )
    op.create_table(
        "checkin_outbox",
        sa.Column("checkin_id", sa.String(length=40), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("consent_id", sa.String(length=64), nullable=False),
        sa.Column("venue", sa.String(length=64), nullable=False),
        sa.Column("kiosk", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("checkin_id"),
        sa.UniqueConstraint("audit_seq"),
    )
    op.create_index(
        "ix_checkin_outbox_due", "checkin_outbox", ["status", "next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_checkin_outbox_due", table_name="checkin_outbox")
    op.drop_table("checkin_outbox")
    op.drop_table("checkin_webhooks")
