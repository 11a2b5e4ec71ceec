"""Compulsory-rehab dossiers and court decisions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compulsory_dossiers",
        sa.Column("dossier_id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("ground", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("law_version", sa.String(20), nullable=False),
        sa.Column("minor", sa.Boolean, nullable=False),
        sa.Column("submitted_on", sa.Date, nullable=True),
        sa.Column("decided_on", sa.Date, nullable=True),
        sa.Column("term_months", sa.Integer, nullable=True),
        sa.Column("facility_code", sa.String(40), nullable=True),
    )
    op.create_index("ix_compulsory_dossiers_person_id", "compulsory_dossiers", ["person_id"])


def downgrade() -> None:
    op.drop_table("compulsory_dossiers")
