"""Health schema v1: persons (by pseudonym), facilities, determinations, methadone episodes with their
doses, breaches and opioid tests, read audit, and the plumbing's outbox, relay lease and inbox.

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


def _episode_fk() -> sa.Column:
    return sa.Column(
        "episode_id", sa.String(36), sa.ForeignKey("methadone_episodes.episode_id"), nullable=False
    )


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
        sa.Column("facility_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("licensed", sa.Boolean, nullable=False),
    )
    op.create_table(
        "determinations",
        sa.Column("determination_id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("legal_case", sa.String(20), nullable=False),
        sa.Column("requested_on", sa.Date, nullable=False),
        sa.Column("law_version", sa.String(40), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("source_test_id", sa.String(64), nullable=True, unique=True),
        sa.Column("facility_id", sa.String(40), sa.ForeignKey("facilities.facility_id"), nullable=True),
        sa.Column("observed_on", sa.Date, nullable=True),
        sa.Column("criteria", sa.String(200), nullable=True),
        sa.Column("result", sa.String(20), nullable=True),
        sa.Column("concluded_on", sa.Date, nullable=True),
        sa.Column("late", sa.Boolean, nullable=True),
    )
    op.create_index("ix_determinations_person_id", "determinations", ["person_id"])
    op.create_index("ix_determinations_commune_code", "determinations", ["commune_code"])
    op.create_table(
        "methadone_episodes",
        sa.Column("episode_id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("enrolled_on", sa.Date, nullable=False),
        sa.Column("law_version", sa.String(40), nullable=False),
        sa.Column("commune_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("maintenance_on", sa.Date, nullable=True),
        sa.Column("covered_until", sa.Date, nullable=False),
        sa.Column("ended_on", sa.Date, nullable=True),
        sa.Column("end_reason", sa.String(30), nullable=True),
    )
    op.create_index("ix_methadone_episodes_person_id", "methadone_episodes", ["person_id"])
    op.create_index("ix_methadone_episodes_covered_until", "methadone_episodes", ["covered_until"])
    op.create_table(
        "methadone_doses",
        sa.Column("dose_id", sa.Integer, primary_key=True, autoincrement=True),
        _episode_fk(),
        sa.Column("taken_on", sa.Date, nullable=False),
        sa.Column("days_covered", sa.Integer, nullable=False),
    )
    op.create_index("ix_methadone_doses_episode_id", "methadone_doses", ["episode_id"])
    op.create_table(
        "methadone_breaches",
        sa.Column("breach_id", sa.Integer, primary_key=True, autoincrement=True),
        _episode_fk(),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
    )
    op.create_index("ix_methadone_breaches_episode_id", "methadone_breaches", ["episode_id"])
    op.create_table(
        "opioid_tests",
        sa.Column("test_id", sa.Integer, primary_key=True, autoincrement=True),
        _episode_fk(),
        sa.Column("tested_on", sa.Date, nullable=False),
        sa.Column("positive", sa.Boolean, nullable=False),
    )
    op.create_index("ix_opioid_tests_episode_id", "opioid_tests", ["episode_id"])
    op.create_table(
        "read_audit",
        sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("officer_id", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("pseudonym", sa.String(80), nullable=False),
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
        "opioid_tests",
        "methadone_breaches",
        "methadone_doses",
        "methadone_episodes",
        "determinations",
        "facilities",
        "persons",
    ):
        op.drop_table(table)
