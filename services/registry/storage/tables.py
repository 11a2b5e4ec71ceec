"""The registry's tables (SQLAlchemy Core). Migrations in ../migrations create them; a test keeps both equal."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from lienthong import fieldkeys, inbox, outbox
from lienthong.audit import define_table_v1

metadata = MetaData()
outbox.define_tables_v1(metadata)
inbox.define_table_v1(metadata)
fieldkeys.define_table_v1(metadata)

# Columns ending in _enc hold personal data encrypted at rest (lienthong.fieldcrypto: AES-256-GCM bound to
# table, column, row id and key version); storage encrypts and decrypts them, the domain never sees a token.

persons = Table(
    "persons",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("citizen_id_enc", Text, nullable=False),
    # The keyed blind index of the citizen ID: lookups and uniqueness without the number in plaintext.
    Column("citizen_id_index", String(64), nullable=False),
    Column("full_name_enc", Text, nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("sex", String(10), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("pseudonym", String(80), nullable=False, index=True),
    Column("registered_on", Date, nullable=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint("citizen_id_index", name="uq_persons_citizen_id_index"),
)

drug_tests = Table(
    "drug_tests",
    metadata,
    Column("test_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("tested_on", Date, nullable=False),
    Column("substance", String(40), nullable=False),
    Column("place_enc", Text, nullable=False),
    Column("during_management", Boolean, nullable=False),
)

managements = Table(
    "managements",
    metadata,
    Column("management_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("decision_number_enc", Text, nullable=False),
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
    Column("legal_basis_enc", Text, nullable=False),
    Column("management_id", String(36), nullable=True),
    Column("end_reason", String(40), nullable=True),
    Column("state", String(10), nullable=False),
    Column("reviewed_by", String(100), nullable=True),
    Column("reviewed_on", Date, nullable=True),
    Column("review_note_enc", Text, nullable=True),
    Column("decision_number_enc", Text, nullable=True),
)

audit_log = define_table_v1(metadata)
