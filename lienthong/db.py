"""Async SQLAlchemy engines for SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode with ``synchronous=FULL``: outbox, inbox and audit rows must survive a power cut,
and NORMAL may roll back the last commits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from lienthong.settings import normalise_database_url


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Freed space is zeroed: an updated or deleted value (an old ciphertext after a key rotation, plaintext
    # from before encryption at rest) does not linger in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def session_factory(engine: AsyncEngine, *, info: dict | None = None) -> async_sessionmaker[AsyncSession]:
    """``info`` is copied into every session's ``session.info`` (a service's key ring rides there)."""
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def insert_ignoring_duplicates(table: Table, dialect_name: str):
    """``INSERT … ON CONFLICT DO NOTHING`` for the dialect in use (savepoints are unreliable on aiosqlite)."""
    return dialect_insert(table, dialect_name).on_conflict_do_nothing()


def dialect_insert(table: Table, dialect_name: str):
    """The dialect's ``INSERT`` that knows ``ON CONFLICT`` (PostgreSQL or SQLite)."""
    return (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)
