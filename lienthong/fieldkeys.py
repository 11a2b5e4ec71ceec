"""The data keys of one department database: stored wrapped in ``data_keys``, unwrapped with the master key.

Two kinds of key live there, each with a version: ``field`` keys (AES-256-GCM) encrypt personal fields,
the highest version being the one new values are written with, and the ``blind_index`` key (HMAC-SHA256)
computes lookup indexes. A service creates version 1 of both when it first starts; ``lienthong keys rotate``
adds a field key version and re-encrypts older values while the service runs.

The service's :class:`KeyRing` rides on its session factory (``session.info``), so storage code encrypts
at the edge with ``cipher = await fieldkeys.cipher(session)`` and decrypts rows it has read with
``await fieldkeys.decrypting(session, lambda cipher: …)``; domain code never sees a key. The ring looks for
a newer key at most once a second, so the steady state costs no query.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong.db import insert_ignoring_duplicates
from lienthong.fieldcrypto import DATA_KEY_BYTES, FieldCipher, KeyRingError, MasterKey, UnknownKeyVersion

FIELD = "field"
BLIND_INDEX = "blind_index"
SESSION_INFO_KEY = "lienthong.field_keys"
# How a service hands its master key to its migrations (Alembic's config.attributes): only a data step that
# finds plaintext rows to encrypt needs it.
MIGRATION_ATTRIBUTE = "lienthong.master_key"
# How stale a running service's idea of the newest field key may get; a rotation waits longer than this
# before it concludes, so no write with the old key can follow it.
REFRESH_SECONDS = 1.0
SETTLE_SECONDS = REFRESH_SECONDS + 1.0

T = TypeVar("T")


def define_table_v1(metadata: MetaData) -> Table:
    return Table(
        "data_keys",
        metadata,
        Column("purpose", String(20), primary_key=True),
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("wrapped_key", Text, nullable=False),
        Column("master_key_id", String(16), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


DATA_KEYS = define_table_v1(MetaData())


def create_data_keys_v1(op) -> None:
    """The data_keys table at schema version 1 (frozen: migrations call it)."""
    op.create_table(
        "data_keys",
        Column("purpose", String(20), primary_key=True),
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("wrapped_key", Text, nullable=False),
        Column("master_key_id", String(16), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


# --- synchronous core: migrations (Alembic is synchronous), and run_sync from the async side ---------------


def add_key(connection: Connection, master: MasterKey, purpose: str, version: int) -> bool:
    """Store a new random key of that purpose and version; False when that version exists already."""
    wrapped = master.wrap(purpose, version, os.urandom(DATA_KEY_BYTES))
    statement = insert_ignoring_duplicates(DATA_KEYS, connection.dialect.name).values(
        purpose=purpose,
        version=version,
        wrapped_key=wrapped,
        master_key_id=master.key_id,
        created_at=datetime.now(UTC),
    )
    return connection.execute(statement).rowcount == 1


def load(connection: Connection, master: MasterKey) -> tuple[dict[int, bytes], bytes | None]:
    """Every field key by version, and the blind-index key (None before the first start)."""
    fields: dict[int, bytes] = {}
    index: bytes | None = None
    for row in connection.execute(select(DATA_KEYS).order_by(DATA_KEYS.c.purpose, DATA_KEYS.c.version)):
        key = master.unwrap(row.purpose, row.version, row.wrapped_key, row.master_key_id)
        if row.purpose == FIELD:
            fields[row.version] = key
        elif row.purpose == BLIND_INDEX and row.version == 1:
            index = key
    return fields, index


def cipher_of(fields: Mapping[int, bytes], index: bytes | None, active: int | None = None) -> FieldCipher:
    if not fields or index is None:
        raise KeyRingError("this database has no data keys yet: the service creates them when it starts")
    return FieldCipher(fields, max(fields) if active is None else active, index)


def ensure_keys(connection: Connection, master: MasterKey) -> FieldCipher:
    """Create version 1 of the field and blind-index keys in a database that has none of that kind (never
    again once an old version was deleted after a rotation); the cipher of what is stored."""
    held = set(connection.execute(select(DATA_KEYS.c.purpose).distinct()).scalars())
    for purpose in (FIELD, BLIND_INDEX):
        if purpose not in held:
            add_key(connection, master, purpose, 1)
    return cipher_of(*load(connection, master))


def add_field_version(connection: Connection, master: MasterKey) -> int:
    """A new field key, one version above the newest (the version new values are then written with)."""
    while True:
        newest = connection.scalar(select(func.max(DATA_KEYS.c.version)).where(DATA_KEYS.c.purpose == FIELD))
        version = (newest or 0) + 1
        if add_key(connection, master, FIELD, version):
            return version


# --- the service side -----------------------------------------------------------------------------------


class KeyRing:
    """A service's keys, unwrapped in memory. Every ``refresh_seconds`` it asks the database for the newest
    field key (new writes take a rotated key within that time); a value naming a version it has not loaded
    yet makes it load the keys at once (see :func:`decrypting`)."""

    def __init__(
        self,
        master: MasterKey,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.master = master
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._cipher: FieldCipher | None = None
        self._checked_at = -math.inf

    def session_info(self) -> dict:
        """For ``async_sessionmaker(info=…)``: every session of the service carries the ring."""
        return {SESSION_INFO_KEY: self}

    async def open(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """At start, after migrations: create the first keys if needed (committed before any use), load all.

        A master key that does not unwrap them stops the service here, naming the key ids."""
        async with sessions.begin() as session:
            await session.run_sync(lambda s: ensure_keys(s.connection(), self.master))
        async with sessions() as session:
            await self._reload(session)

    async def _reload(self, session: AsyncSession) -> None:
        self._cipher = cipher_of(*await session.run_sync(lambda s: load(s.connection(), self.master)))
        self._checked_at = self._clock()

    async def cipher(self, session: AsyncSession, *, reload: bool = False) -> FieldCipher:
        if reload or self._cipher is None:
            await self._reload(session)
        elif self._clock() - self._checked_at >= self.refresh_seconds:
            newest = await session.scalar(
                select(func.max(DATA_KEYS.c.version)).where(DATA_KEYS.c.purpose == FIELD)
            )
            if newest != self._cipher.active_version:  # keys are only added: a rotation committed one
                await self._reload(session)
            self._checked_at = self._clock()
        assert self._cipher is not None
        return self._cipher


def _ring(session: AsyncSession) -> KeyRing:
    ring = session.info.get(SESSION_INFO_KEY)
    if ring is None:
        raise RuntimeError(
            "these sessions carry no key ring: build the service with "
            "Infrastructure.create(settings, field_keys=KeyRing(master_key))"
        )
    return ring


async def cipher(session: AsyncSession) -> FieldCipher:
    """The cipher of this session's service, to encrypt (and compute blind indexes) at the storage edge."""
    return await _ring(session).cipher(session)


async def decrypting(session: AsyncSession, convert: Callable[[FieldCipher], T]) -> T:
    """``convert(cipher)`` for rows already read; if one names a key version this process has not loaded
    yet (a rotation has just committed it), the keys are loaded and ``convert`` runs again."""
    ring = _ring(session)
    try:
        return convert(await ring.cipher(session))
    except UnknownKeyVersion:
        return convert(await ring.cipher(session, reload=True))


# --- the data step of the migrations that introduced encryption (frozen) ----------------------------------


def encrypt_plaintext_v1(
    op,
    table: str,
    key: str,
    columns: Mapping[str, str],
    blind_indexes: Mapping[str, str] | None = None,
) -> int:
    """Copy each plaintext column into its encrypted twin (and blind index), for the rows that have any.

    The master key comes from the service that runs the migration (``MIGRATION_ATTRIBUTE``); without it a
    database holding plaintext rows is refused rather than left half-migrated. Returns the rows encrypted.
    """
    blind_indexes = blind_indexes or {}
    bind = op.get_bind()
    plain = list(columns)
    t = sa.table(
        table,
        sa.column(key),
        *(sa.column(c) for c in plain),
        *(sa.column(c) for c in columns.values()),
        *(sa.column(c) for c in blind_indexes.values()),
    )
    rows = bind.execute(
        select(t.c[key], *(t.c[c] for c in plain)).where(sa.or_(*(t.c[c].is_not(None) for c in plain)))
    ).all()
    if not rows:
        return 0
    config = op.get_context().config
    master = config.attributes.get(MIGRATION_ATTRIBUTE) if config is not None else None
    if master is None:
        raise KeyRingError(
            f"{table} holds personal data in plaintext from before encryption at rest; start the service "
            "(it migrates with its LIENTHONG_MASTER_KEY) so these rows are encrypted"
        )
    field_cipher = ensure_keys(bind, master)
    for row in rows:
        row_id = getattr(row, key)
        values = {
            encrypted: field_cipher.encrypt(table, encrypted, row_id, getattr(row, source))
            for source, encrypted in columns.items()
            if getattr(row, source) is not None
        }
        values.update(
            {
                index: field_cipher.blind_index(getattr(row, source))
                for source, index in blind_indexes.items()
                if getattr(row, source) is not None
            }
        )
        bind.execute(sa.update(t).where(t.c[key] == row_id).values(**values))
    return len(rows)
