"""Each service's Alembic migrations produce exactly the schema its code declares (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lienthong import migrate
from lienthong.db import create_engine

pytestmark = pytest.mark.integration

SERVICES = ["registry", "health", "rehab", "aftercare", "reporting"]


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_match_the_declared_tables(service, database_url):
    storage = importlib.import_module(f"services.{service}.storage")
    main = importlib.import_module(f"services.{service}.main")
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine, main.MIGRATIONS)
        await migrate.upgrade(engine, main.MIGRATIONS)  # idempotent: a restart migrates nothing

        def diff(connection):
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, storage.metadata)

        async with engine.connect() as connection:
            differences = await connection.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == [], f"{service}: migrations and storage tables differ: {differences}"
