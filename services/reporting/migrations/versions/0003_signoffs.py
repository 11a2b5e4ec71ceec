"""Signed-off reports: a unit's period figures approved and frozen (who, when, the figures).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signoffs",
        sa.Column("snapshot_id", sa.String(36), primary_key=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("signed_by", sa.String(100), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("catalogue_version", sa.String(40), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.UniqueConstraint(
            "period_start", "period_end", "province_code", "commune_code", name="uq_signoffs_unit_period"
        ),
    )
