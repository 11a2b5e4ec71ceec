"""Rehab tables. They must stay identical to ``migrations/`` (a test compares them)."""

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
    # Empty while rehab knows the person only from the registry's court decision.
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
    Column("facility_code", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("public", Boolean, nullable=False),
    Column("operator", String(200), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("type", String(20), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False, index=True),
)

admissions = Table(
    "admissions",
    metadata,
    Column("admission_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("kind", String(30), nullable=False),
    Column("law_version", String(40), nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("minor", Boolean, nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
    # No foreign key: a court decision may name a facility rehab has not registered (flagged below).
    Column("facility_code", String(40), nullable=True, index=True),
    Column("facility_known", Boolean, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    # The registry's dossier: a replayed or re-sent decision never expects the person twice.
    Column("dossier_id", String(64), nullable=True, unique=True),
    Column("court_decided_on", Date, nullable=True),
    Column("admitted_on", Date, nullable=True),
    Column("temporary_stay_days", Integer, nullable=False),
    Column("stage", String(30), nullable=False),
    Column("stage_on", Date, nullable=True),
    Column("reduced_months", Integer, nullable=False),
    Column("reduced_on", Date, nullable=True),
    Column("absconded_on", Date, nullable=True),
    Column("absent_days", Integer, nullable=False),
    Column("discharged_on", Date, nullable=True),
    Column("discharge_reason", String(30), nullable=True),
)


def _admission_fk() -> Column:
    return Column(
        "admission_id", String(36), ForeignKey("admissions.admission_id"), nullable=False, index=True
    )


temporary_stays = Table(
    "temporary_stays",
    metadata,
    Column("stay_id", Integer, primary_key=True, autoincrement=True),
    _admission_fk(),
    Column("start_on", Date, nullable=False),
    Column("end_on", Date, nullable=False),
)

stage_changes = Table(
    "stage_changes",
    metadata,
    Column("change_id", Integer, primary_key=True, autoincrement=True),
    _admission_fk(),
    Column("stage", String(30), nullable=False),
    Column("entered_on", Date, nullable=False),
)

trainings = Table(
    "trainings",
    metadata,
    Column("training_id", Integer, primary_key=True, autoincrement=True),
    _admission_fk(),
    Column("given_on", Date, nullable=False),
    Column("trade", String(40), nullable=False),
)

audit_log = define_table_v1(metadata)
