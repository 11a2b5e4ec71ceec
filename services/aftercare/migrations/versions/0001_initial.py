"""Aftercare schema v1: persons (by pseudonym), cases, supports, relapses, commune model changes, read
audit, and the plumbing's outbox, relay lease and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from lienthong.migrate import create_inbox_v1, create_outbox_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _case_fk() -> sa.Column:
    return sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.case_id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("person_id", sa.String(36), primary_key=True),
        sa.Column("pseudonym", sa.String(80), nullable=False, unique=True),
        sa.Column("sex", sa.String(10), nullable=False),
        sa.Column("age_band", sa.String(12), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("source_kind", sa.String(30), nullable=False),
        sa.Column("source_id", sa.String(80), nullable=True, unique=True),
        sa.Column("transferred_from", sa.String(36), nullable=True),
        sa.Column("completed_on", sa.Date, nullable=False),
        sa.Column("age_band", sa.String(12), nullable=False),
        sa.Column("term_months", sa.Integer, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("law_version", sa.String(40), nullable=False),
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decided_on", sa.Date, nullable=True),
        sa.Column("decision_number", sa.String(50), nullable=True),
        sa.Column("caretaker_kind", sa.String(20), nullable=True),
        sa.Column("caretaker_name", sa.String(200), nullable=True),
        sa.Column("closed_on", sa.Date, nullable=True),
        sa.Column("close_reason", sa.String(30), nullable=True),
    )
    for column in ("person_id", "ends_on", "commune_code", "status"):
        op.create_index(f"ix_cases_{column}", "cases", [column])
    op.create_table(
        "supports",
        sa.Column("support_id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("given_on", sa.Date, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
    )
    op.create_index("ix_supports_case_id", "supports", ["case_id"])
    op.create_table(
        "relapses",
        sa.Column("relapse_id", sa.String(36), primary_key=True),
        _case_fk(),
        sa.Column("suspected_on", sa.Date, nullable=True),
        sa.Column("determined_on", sa.Date, nullable=True),
    )
    op.create_index("ix_relapses_case_id", "relapses", ["case_id"])
    op.create_table(
        "model_changes",
        sa.Column("change_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("changed_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_index("ix_model_changes_commune_code", "model_changes", ["commune_code"])
    op.create_table(
        "read_audit",
        sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("officer_id", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("pseudonym", sa.String(80), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
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
        "model_changes",
        "relapses",
        "supports",
        "cases",
        "persons",
    ):
        op.drop_table(table)
