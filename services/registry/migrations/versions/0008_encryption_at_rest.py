"""Personal fields encrypted at rest (lienthong.fieldcrypto), the citizen ID kept unique through a keyed
blind index; the data keys in data_keys.

Rows written before this revision are encrypted here, with the master key the service hands to its
migrations, and the plaintext columns are dropped in the same transaction; a database holding such rows
migrated without the key (not through the service) is refused instead. On SQLite the freed pages are
zeroed (secure_delete); on PostgreSQL run VACUUM FULL on these tables afterwards to rewrite the old rows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lienthong.fieldkeys import create_data_keys_v1, encrypt_plaintext_v1

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# table, row id, [(plaintext column, nullable)]: each becomes <column>_enc
ENCRYPTED = [
    ("persons", "person_id", [("citizen_id", False), ("full_name", False)]),
    ("drug_tests", "test_id", [("place", False)]),
    ("managements", "management_id", [("decision_number", False)]),
    (
        "list_proposals",
        "proposal_id",
        [("legal_basis", False), ("review_note", True), ("decision_number", True)],
    ),
]


def upgrade() -> None:
    create_data_keys_v1(op)
    for table, _, columns in ENCRYPTED:
        with op.batch_alter_table(table) as batch:
            for plain, _ in columns:
                batch.add_column(sa.Column(f"{plain}_enc", sa.Text, nullable=True))
            if table == "persons":
                batch.add_column(sa.Column("citizen_id_index", sa.String(64), nullable=True))
    for table, key, columns in ENCRYPTED:
        indexes = {"citizen_id": "citizen_id_index"} if table == "persons" else None
        encrypt_plaintext_v1(op, table, key, {plain: f"{plain}_enc" for plain, _ in columns}, indexes)
    for table, _, columns in ENCRYPTED:
        with op.batch_alter_table(table) as batch:
            for plain, nullable in columns:
                batch.drop_column(plain)
                if not nullable:
                    batch.alter_column(f"{plain}_enc", existing_type=sa.Text, nullable=False)
            if table == "persons":
                batch.alter_column("citizen_id_index", existing_type=sa.String(64), nullable=False)
                batch.create_unique_constraint("uq_persons_citizen_id_index", ["citizen_id_index"])
