"""Record on each management decision the law version it was judged by.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Decisions recorded before this revision were all taken under Law 73/2021 (none predates 2022).
    with op.batch_alter_table("managements") as batch:
        batch.add_column(
            sa.Column("law_version", sa.String(20), nullable=False, server_default="law_73_2021")
        )


def downgrade() -> None:
    with op.batch_alter_table("managements") as batch:
        batch.drop_column("law_version")
