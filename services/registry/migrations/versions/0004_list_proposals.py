"""Proposals to add people to, or remove them from, the management list, and their review.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "list_proposals",
        sa.Column("proposal_id", sa.String(36), primary_key=True),
        sa.Column("change", sa.String(10), nullable=False),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("proposed_by", sa.String(100), nullable=False),
        sa.Column("proposed_on", sa.Date, nullable=False),
        sa.Column("legal_basis", sa.String(300), nullable=False),
        sa.Column("management_id", sa.String(36), nullable=True),
        sa.Column("end_reason", sa.String(40), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("reviewed_by", sa.String(100), nullable=True),
        sa.Column("reviewed_on", sa.Date, nullable=True),
        sa.Column("review_note", sa.String(500), nullable=True),
        sa.Column("decision_number", sa.String(60), nullable=True),
    )
    op.create_index("ix_list_proposals_person_id", "list_proposals", ["person_id"])


def downgrade() -> None:
    op.drop_table("list_proposals")
