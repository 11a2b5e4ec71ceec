"""Aftercare tables. They must stay identical to ``migrations/`` (a test compares them)."""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Integer, MetaData, String, Table, Text

from lienthong import fieldkeys, inbox, outbox
from lienthong.audit import define_table_v1

metadata = MetaData()
outbox.define_tables_v1(metadata)
inbox.define_table_v1(metadata)
fieldkeys.define_table_v1(metadata)

# Known only by pseudonym: aftercare never receives a citizen ID or a name of the person.
persons = Table(
    "persons",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("pseudonym", String(80), nullable=False, unique=True),
    Column("sex", String(10), nullable=False),
    Column("age_band", String(12), nullable=False),
    Column("version", Integer, nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("source", String(20), nullable=False),
    Column("source_kind", String(30), nullable=False),
    # The completion that opened the case ("rehab:<admission>", "methadone:<episode>"): a replayed event
    # never opens a second case. Empty for a case opened by a transfer.
    Column("source_id", String(80), nullable=True, unique=True),
    Column("transferred_from", String(36), nullable=True),
    Column("completed_on", Date, nullable=False),
    Column("age_band", String(12), nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("ends_on", Date, nullable=False, index=True),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("province_code", String(2), nullable=False),
    Column("law_version", String(40), nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("decided_on", Date, nullable=True),
    # Personal or official detail kept only here, encrypted at rest (lienthong.fieldcrypto): read through
    # the audited GetCase.
    Column("decision_number_enc", Text, nullable=True),
    Column("caretaker_kind", String(20), nullable=True),
    Column("caretaker_name_enc", Text, nullable=True),
    Column("closed_on", Date, nullable=True),
    Column("close_reason", String(30), nullable=True),
)

supports = Table(
    "supports",
    metadata,
    Column("support_id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.case_id"), nullable=False, index=True),
    Column("given_on", Date, nullable=False),
    Column("kind", String(30), nullable=False),
)

relapses = Table(
    "relapses",
    metadata,
    Column("relapse_id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.case_id"), nullable=False, index=True),
    Column("suspected_on", Date, nullable=True),
    Column("determined_on", Date, nullable=True),
)

model_changes = Table(
    "model_changes",
    metadata,
    Column("change_id", Integer, primary_key=True, autoincrement=True),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("province_code", String(2), nullable=False),
    Column("changed_on", Date, nullable=False),
    Column("status", String(20), nullable=False),
)

audit_log = define_table_v1(metadata)
