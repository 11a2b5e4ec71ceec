"""Rehab schema v1: persons (by pseudonym), facilities, admissions with their temporary stays, stage
changes and training, read audit, and the plumbing's outbox, relay lease and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from lienthong.migrate import create_inbox_v1, create_outbox_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _admission_fk() -> sa.Column:
    return sa.Column("admission_id", sa.String(36), sa.ForeignKey("admissions.admission_id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("person_id", sa.String(36), primary_key=True),
        sa.Column("pseudonym", sa.String(80), nullable=False, unique=True),
        sa.Column("citizen_id", sa.String(12), nullable=True),
        sa.Column("full_name", sa.String(200), nullable=True),
        sa.Column("date_of_birth", sa.Date, nullable=True),
        sa.Column("sex", sa.String(10), nullable=False),
        sa.Column("age_band", sa.String(12), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "facilities",
        sa.Column("facility_code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("operator", sa.String(200), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
    )
    op.create_index("ix_facilities_province_code", "facilities", ["province_code"])
    op.create_table(
        "admissions",
        sa.Column("admission_id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("law_version", sa.String(40), nullable=False),
        sa.Column("term_months", sa.Integer, nullable=False),
        sa.Column("minor", sa.Boolean, nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("facility_code", sa.String(40), nullable=True),
        sa.Column("facility_known", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("dossier_id", sa.String(64), nullable=True, unique=True),
        sa.Column("court_decided_on", sa.Date, nullable=True),
        sa.Column("admitted_on", sa.Date, nullable=True),
        sa.Column("temporary_stay_days", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(30), nullable=False),
        sa.Column("stage_on", sa.Date, nullable=True),
        sa.Column("reduced_months", sa.Integer, nullable=False),
        sa.Column("reduced_on", sa.Date, nullable=True),
        sa.Column("absconded_on", sa.Date, nullable=True),
        sa.Column("absent_days", sa.Integer, nullable=False),
        sa.Column("discharged_on", sa.Date, nullable=True),
        sa.Column("discharge_reason", sa.String(30), nullable=True),
    )
    op.create_index("ix_admissions_person_id", "admissions", ["person_id"])
    op.create_index("ix_admissions_facility_code", "admissions", ["facility_code"])
    op.create_index("ix_admissions_status", "admissions", ["status"])
    op.create_table(
        "temporary_stays",
        sa.Column("stay_id", sa.Integer, primary_key=True, autoincrement=True),
        _admission_fk(),
        sa.Column("start_on", sa.Date, nullable=False),
        sa.Column("end_on", sa.Date, nullable=False),
    )
    op.create_index("ix_temporary_stays_admission_id", "temporary_stays", ["admission_id"])
    op.create_table(
        "stage_changes",
        sa.Column("change_id", sa.Integer, primary_key=True, autoincrement=True),
        _admission_fk(),
        sa.Column("stage", sa.String(30), nullable=False),
        sa.Column("entered_on", sa.Date, nullable=False),
    )
    op.create_index("ix_stage_changes_admission_id", "stage_changes", ["admission_id"])
    op.create_table(
        "trainings",
        sa.Column("training_id", sa.Integer, primary_key=True, autoincrement=True),
        _admission_fk(),
        sa.Column("given_on", sa.Date, nullable=False),
        sa.Column("trade", sa.String(40), nullable=False),
    )
    op.create_index("ix_trainings_admission_id", "trainings", ["admission_id"])
    op.create_table(
        "read_audit",
        sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("officer_id", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("pseudonym", sa.String(80), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("fields", sa.String(500), nullable=False),
    )
    op.create_index("ix_read_audit_pseudonym", "read_audit", ["pseudonym"])
    create_outbox_v1(op)
    create_inbox_v1(op)


def downgrade() -> None:
    for table in (
        "inbox",
        "relay_lease",
        "outbox",
        "read_audit",
        "trainings",
        "stage_changes",
        "temporary_stays",
        "admissions",
        "facilities",
        "persons",
    ):
        op.drop_table(table)
