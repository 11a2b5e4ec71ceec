"""Flags raised by other departments' events, and the inbox of the registry's HEALTH consumer.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from lienthong.migrate import create_inbox_v1

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
    create_inbox_v1(op)


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("flags")
