"""Flags raised by other departments' events, and the inbox of the registry's HEALTH consumer.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flags",
        sa.Column("pseudonym", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("since", sa.Date, nullable=False),
        sa.Column("source_event_id", sa.String(36), nullable=False),
    )
    # Plumbing inbox at its v1 shape (lienthong.inbox.define_table_v1).
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("flags")
