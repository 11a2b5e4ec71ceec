"""Run a service's Alembic migrations on its async engine, at start-up or from the CLI.

Each service keeps its own ``migrations/`` folder; its ``env.py`` only calls :func:`run_env`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def _config(script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return config


async def upgrade(engine: AsyncEngine, script_location: Path, revision: str = "head") -> None:
    config = _config(script_location)

    def _run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_run)


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
