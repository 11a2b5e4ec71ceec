"""Registry schema v1: persons, positive drug tests, management decisions, read audit, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from lienthong.migrate import create_outbox_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("person_id", sa.String(36), primary_key=True),
        sa.Column("citizen_id", sa.String(12), nullable=False, unique=True),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("date_of_birth", sa.Date, nullable=False),
        sa.Column("sex", sa.String(10), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("pseudonym", sa.String(80), nullable=False),
        sa.Column("registered_on", sa.Date, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_persons_pseudonym", "persons", ["pseudonym"])
    op.create_table(
        "drug_tests",
        sa.Column("test_id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("tested_on", sa.Date, nullable=False),
        sa.Column("substance", sa.String(40), nullable=False),
        sa.Column("place", sa.String(200), nullable=False),
        sa.Column("during_management", sa.Boolean, nullable=False),
    )
    op.create_index("ix_drug_tests_person_id", "drug_tests", ["person_id"])
    op.create_table(
        "managements",
        sa.Column("management_id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("decision_number", sa.String(60), nullable=False),
        sa.Column("decided_on", sa.Date, nullable=False),
        sa.Column("expires_on", sa.Date, nullable=False),
        sa.Column("ended_on", sa.Date, nullable=True),
        sa.Column("end_reason", sa.String(40), nullable=True),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
    )
    op.create_index("ix_managements_person_id", "managements", ["person_id"])
    op.create_table(
        "read_audit",
        sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("officer_id", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("fields", sa.String(500), nullable=False),
    )
    op.create_index("ix_read_audit_person_id", "read_audit", ["person_id"])
    create_outbox_v1(op)


def downgrade() -> None:
    for table in ("relay_lease", "outbox", "read_audit", "managements", "drug_tests", "persons"):
        op.drop_table(table)
