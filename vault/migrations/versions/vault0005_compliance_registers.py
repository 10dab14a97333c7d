"""compliance registers: data-subject requests and breaches

Revision ID: vault0005
Revises: vault0004
Create Date: 2026-11-30 08:00:00

The register of data-subject requests with their deadlines, and the breach register (a
file per breach, the pseudonymous customers it affects, and each step taken).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "vault0005"
down_revision = "vault0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_requests",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("ack_due", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_subject_requests_status", "subject_requests", ["status"])
    op.create_index("ix_subject_requests_customer", "subject_requests", ["customer_id"])
    op.create_table(
        "breaches",
        sa.Column("breach_id", sa.String(length=32), nullable=False),
        sa.Column("discovered_at", sa.DateTime(), nullable=False),
        sa.Column("occurred_from", sa.DateTime(), nullable=True),
        sa.Column("occurred_to", sa.DateTime(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("notify_due", sa.DateTime(), nullable=False),
        sa.Column("retain_until", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("contained_at", sa.DateTime(), nullable=True),
        sa.Column("authority_notified_at", sa.DateTime(), nullable=True),
        sa.Column("subjects_notified_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("breach_id"),
    )
    op.create_table(
        "breach_subjects",
        sa.Column("breach_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["breach_id"], ["breaches.breach_id"]),
        sa.PrimaryKeyConstraint("breach_id", "customer_id"),
    )
    op.create_table(
        "breach_steps",
        sa.Column("breach_id", sa.String(length=32), nullable=False),
        sa.Column("step_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(["breach_id"], ["breaches.breach_id"]),
        sa.PrimaryKeyConstraint("breach_id", "step_no"),
    )


def downgrade() -> None:
    op.drop_table("breach_steps")
    op.drop_table("breach_subjects")
    op.drop_table("breaches")
    op.drop_index("ix_subject_requests_customer", table_name="subject_requests")
    op.drop_index("ix_subject_requests_status", table_name="subject_requests")
    op.drop_table("subject_requests")
