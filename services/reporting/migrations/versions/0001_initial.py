"""Reporting read model: people, positive tests, management spells, ingest state, and the inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lienthong.migrate import create_inbox_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("pseudonym", sa.String(64), primary_key=True),
        sa.Column("sex", sa.String(12), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=False),
    )
    op.create_table(
        "positive_tests",
        sa.Column("test_id", sa.String(64), primary_key=True),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("tested_on", sa.Date(), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("sex", sa.String(12), nullable=False),
        sa.Column("age_band", sa.String(12), nullable=False),
        sa.Column("substance", sa.String(50), nullable=False),
        sa.Column("during_management", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_positive_tests_pseudonym", "positive_tests", ["pseudonym"])
    op.create_index("ix_positive_tests_tested_on", "positive_tests", ["tested_on"])
    op.create_table(
        "management_spells",
        sa.Column("management_id", sa.String(64), primary_key=True),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=True),
        sa.Column("province_code", sa.String(2), nullable=True),
        sa.Column("sex", sa.String(12), nullable=True),
        sa.Column("age_band", sa.String(12), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("decided_version", sa.Integer(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(50), nullable=True),
        sa.Column("ended_version", sa.Integer(), nullable=True),
    )
    op.create_index("ix_management_spells_pseudonym", "management_spells", ["pseudonym"])
    op.create_index("ix_management_spells_decided_on", "management_spells", ["decided_on"])
    op.create_index("ix_management_spells_unit", "management_spells", ["province_code", "commune_code"])
    op.create_table(
        "ingest_state",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("last_event_time", sa.DateTime(timezone=True), nullable=False),
    )
    create_inbox_v1(op)


def downgrade() -> None:
    for table in ("inbox", "ingest_state", "management_spells", "positive_tests", "people"):
        op.drop_table(table)
