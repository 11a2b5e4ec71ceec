"""Run a service's Alembic migrations on its async engine, at start-up or from the CLI.

Each service keeps its own ``migrations/`` folder; its ``env.py`` only calls :func:`run_env`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def _config(script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return config


async def upgrade(
    engine: AsyncEngine,
    script_location: Path,
    revision: str = "head",
    *,
    attributes: Mapping[str, Any] | None = None,
) -> None:
    """Migrate to ``revision`` in one transaction, all or nothing (on SQLite too). ``attributes`` reach the
    migrations through Alembic's ``config.attributes`` (a service hands over its master key, so a data step
    can encrypt rows written before encryption at rest).

    On SQLite, foreign keys are off while migrating, as SQLite's own procedure for rebuilding a table asks
    (batch mode drops and recreates a table, which a referencing row would otherwise refuse), and the
    migration fails if ``PRAGMA foreign_key_check`` finds a broken reference before it commits."""
    config = _config(script_location)
    config.attributes.update(attributes or {})

    def _run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # a no-op inside a transaction: set before it begins
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.commit()
        try:
            async with connection.begin():
                if sqlite:
                    # Python's sqlite3 opens a transaction only before INSERT/UPDATE/DELETE, so without this
                    # the DDL would commit statement by statement and a failed migration stay half done.
                    await connection.exec_driver_sql("BEGIN")
                await connection.run_sync(_run)
                if sqlite:
                    broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"migration left rows with broken references: {broken[:5]}")
        finally:
            if sqlite:
                await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                await connection.commit()


def run_env() -> None:
    """Body of every service's ``migrations/env.py``: migrate on the connection handed over by upgrade()."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through `lienthong.migrate.upgrade` (the service does it at start)"
        )
    # Batch mode lets ALTER TABLE work on SQLite as well as PostgreSQL.
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


# Frozen schema steps of the plumbing tables, called from the services' migrations. A later change of the
# outbox or inbox gets a new ``..._v2`` step here and a new revision in every service; these never change.
def create_outbox_v1(op) -> None:
    """The outbox and the relay lease at their v1 shape (``lienthong.outbox.define_tables_v1``)."""
    import sqlalchemy as sa

    op.create_table(
        "outbox",
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stream_sequence", sa.Integer, nullable=True),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_table(
        "relay_lease",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def create_inbox_v1(op) -> None:
    """The inbox at its v1 shape (``lienthong.inbox.define_table_v1``)."""
    import sqlalchemy as sa

    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )
