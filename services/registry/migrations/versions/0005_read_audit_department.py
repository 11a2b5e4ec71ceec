"""Record which department read a person's record when another department asked.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("read_audit") as batch:
        batch.add_column(sa.Column("caller_department", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("read_audit") as batch:
        batch.drop_column("caller_department")
