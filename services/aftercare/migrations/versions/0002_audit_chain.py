"""Reads of personal data go to the hash-chained, append-only audit_log (lienthong.audit).

The unchained read_audit table is dropped: no deployment predates this revision, so only a development
database loses the reads it recorded before.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from lienthong.audit import create_audit_log_v1

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log_v1(op)
    op.drop_table("read_audit")
