"""Every department's acts as steps of a person's path (the timeline and activity counts).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "steps",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("pseudonym", sa.String(64), nullable=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("department", sa.String(20), nullable=False),
        sa.Column("agency", sa.String(30), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("sex", sa.String(12), nullable=True),
        sa.Column("age_band", sa.String(12), nullable=True),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("codes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_steps_person", "steps", ["pseudonym", "occurred_on"])
    op.create_index("ix_steps_period_unit", "steps", ["occurred_on", "province_code", "commune_code"])
