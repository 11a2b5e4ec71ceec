"""The registry's tables (SQLAlchemy Core). Migrations in ../migrations create them; a test keeps both equal."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, ForeignKey, Integer, MetaData, String, Table

from lienthong import inbox, outbox
from lienthong.audit import define_table_v1

metadata = MetaData()
outbox.define_tables_v1(metadata)
inbox.define_table_v1(metadata)

persons = Table(
    "persons",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("citizen_id", String(12), nullable=False, unique=True),
    Column("full_name", String(200), nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("sex", String(10), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("pseudonym", String(80), nullable=False, index=True),
    Column("registered_on", Date, nullable=False),
    Column("version", Integer, nullable=False),
)

drug_tests = Table(
    "drug_tests",
    metadata,
    Column("test_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("tested_on", Date, nullable=False),
    Column("substance", String(40), nullable=False),
    Column("place", String(200), nullable=False),
    Column("during_management", Boolean, nullable=False),
)

managements = Table(
    "managements",
    metadata,
    Column("management_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("decision_number", String(60), nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("ended_on", Date, nullable=True),
    Column("end_reason", String(40), nullable=True),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("law_version", String(20), nullable=False, server_default="law_73_2021"),
)

flags = Table(
    "flags",
    metadata,
    Column("pseudonym", String(80), primary_key=True),
    Column("kind", String(40), primary_key=True),
    Column("since", Date, nullable=False),
    Column("source_event_id", String(36), nullable=False),
)

dossiers = Table(
    "compulsory_dossiers",
    metadata,
    Column("dossier_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("ground", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("law_version", String(20), nullable=False),
    Column("minor", Boolean, nullable=False),
    Column("submitted_on", Date, nullable=True),
    Column("decided_on", Date, nullable=True),
    Column("term_months", Integer, nullable=True),
    Column("facility_code", String(40), nullable=True),
)

proposals = Table(
    "list_proposals",
    metadata,
    Column("proposal_id", String(36), primary_key=True),
    Column("change", String(10), nullable=False),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("proposed_by", String(100), nullable=False),
    Column("proposed_on", Date, nullable=False),
    Column("legal_basis", String(300), nullable=False),
    Column("management_id", String(36), nullable=True),
    Column("end_reason", String(40), nullable=True),
    Column("state", String(10), nullable=False),
    Column("reviewed_by", String(100), nullable=True),
    Column("reviewed_on", Date, nullable=True),
    Column("review_note", String(500), nullable=True),
    Column("decision_number", String(60), nullable=True),
)

audit_log = define_table_v1(metadata)
