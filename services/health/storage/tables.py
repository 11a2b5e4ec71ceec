"""Health tables. They must stay identical to ``migrations/`` (a test compares them)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, ForeignKey, Integer, MetaData, String, Table, Text

from lienthong import fieldkeys, inbox, outbox
from lienthong.audit import define_table_v1

metadata = MetaData()
outbox.define_tables_v1(metadata)
inbox.define_table_v1(metadata)
fieldkeys.define_table_v1(metadata)

persons = Table(
    "persons",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("pseudonym", String(80), nullable=False, unique=True),
    # Empty while health knows the person only from another department's event.
    # Encrypted at rest (lienthong.fieldcrypto): storage encrypts and decrypts, the domain never sees a token.
    Column("citizen_id_enc", Text, nullable=True),
    Column("full_name_enc", Text, nullable=True),
    Column("date_of_birth", Date, nullable=True),
    Column("sex", String(10), nullable=False),
    Column("age_band", String(12), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("version", Integer, nullable=False),
)

facilities = Table(
    "facilities",
    metadata,
    Column("facility_id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("licensed", Boolean, nullable=False),
)

determinations = Table(
    "determinations",
    metadata,
    Column("determination_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("legal_case", String(20), nullable=False),
    Column("requested_on", Date, nullable=False),
    Column("law_version", String(40), nullable=False),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("province_code", String(2), nullable=False),
    # The registry's test that triggered the request: a replayed event never opens a second one.
    Column("source_test_id", String(64), nullable=True, unique=True),
    Column("facility_id", String(40), ForeignKey("facilities.facility_id"), nullable=True),
    Column("observed_on", Date, nullable=True),
    Column("criteria", String(200), nullable=True),
    Column("result", String(20), nullable=True),
    Column("concluded_on", Date, nullable=True),
    Column("late", Boolean, nullable=True),
)

episodes = Table(
    "methadone_episodes",
    metadata,
    Column("episode_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("enrolled_on", Date, nullable=False),
    Column("law_version", String(40), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("phase", String(20), nullable=False),
    Column("maintenance_on", Date, nullable=True),
    Column("covered_until", Date, nullable=False, index=True),
    Column("ended_on", Date, nullable=True),
    Column("end_reason", String(30), nullable=True),
)

doses = Table(
    "methadone_doses",
    metadata,
    Column("dose_id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", String(36), ForeignKey("methadone_episodes.episode_id"), nullable=False, index=True),
    Column("taken_on", Date, nullable=False),
    Column("days_covered", Integer, nullable=False),
)

breaches = Table(
    "methadone_breaches",
    metadata,
    Column("breach_id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", String(36), ForeignKey("methadone_episodes.episode_id"), nullable=False, index=True),
    Column("occurred_on", Date, nullable=False),
    Column("kind", String(30), nullable=False),
)

opioid_tests = Table(
    "opioid_tests",
    metadata,
    Column("test_id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", String(36), ForeignKey("methadone_episodes.episode_id"), nullable=False, index=True),
    Column("tested_on", Date, nullable=False),
    Column("positive", Boolean, nullable=False),
)

audit_log = define_table_v1(metadata)
