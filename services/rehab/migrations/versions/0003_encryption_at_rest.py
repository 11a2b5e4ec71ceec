"""Citizen ID and name encrypted at rest (lienthong.fieldcrypto); the data keys in data_keys.

Rows written before this revision are encrypted here, with the master key the service hands to its
migrations, and the plaintext columns are dropped in the same transaction; a database holding such rows
migrated without the key (not through the service) is refused instead. On SQLite the freed pages are
zeroed (secure_delete); on PostgreSQL run VACUUM FULL persons afterwards to rewrite the old rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lienthong.fieldkeys import create_data_keys_v1, encrypt_plaintext_v1

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_data_keys_v1(op)
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("citizen_id_enc", sa.Text, nullable=True))
        batch.add_column(sa.Column("full_name_enc", sa.Text, nullable=True))
    encrypt_plaintext_v1(
        op, "persons", "person_id", {"citizen_id": "citizen_id_enc", "full_name": "full_name_enc"}
    )
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("citizen_id")
        batch.drop_column("full_name")
