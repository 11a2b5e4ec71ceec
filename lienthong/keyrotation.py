"""Rotation of a department database's field keys while its service runs, and what each key still holds.

``rotate`` adds a field key version (the running service writes with it within a second, see
``lienthong.fieldkeys``), then re-encrypts, in short batches, every value still written under an older
version, and goes over the tables again until none is left and that second has passed: a value the
service wrote with the old key while a pass was under way is caught by the next one. Each row is updated
only if its values are still the ones read (compare and set), so a concurrent change by the service is
never overwritten.

The encrypted columns are found in the database itself (every column whose name ends in ``_enc``, in a
table with a one-column primary key, the row id of the associated data), so this module knows no service.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import sqlalchemy as sa
from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from lienthong.fieldcrypto import FieldCipher, MasterKey, Undecryptable
from lienthong.fieldkeys import DATA_KEYS, SETTLE_SECONDS, add_field_version, cipher_of, load

SUFFIX = "_enc"


@dataclass(frozen=True)
class EncryptedTable:
    name: str
    key: str  # the one-column primary key: the row id bound into each value
    columns: tuple[str, ...]

    def table(self) -> sa.TableClause:
        return sa.table(self.name, sa.column(self.key), *(sa.column(c) for c in self.columns))


def encrypted_tables(connection: Connection) -> list[EncryptedTable]:
    inspector = sa.inspect(connection)
    found = []
    for name in sorted(inspector.get_table_names()):
        columns = tuple(c["name"] for c in inspector.get_columns(name) if c["name"].endswith(SUFFIX))
        if not columns:
            continue
        key = inspector.get_pk_constraint(name)["constrained_columns"]
        if len(key) != 1:
            raise RuntimeError(f"{name} has encrypted columns but no one-column primary key")
        found.append(EncryptedTable(name, key[0], columns))
    return found


def _on_versions(t: sa.TableClause, columns: tuple[str, ...], versions: list[int]):
    """Rows with at least one value written under one of ``versions``."""
    if not versions:
        return sa.false()
    return or_(*(t.c[c].startswith(f"{v}:") for c in columns for v in versions))


@dataclass(frozen=True)
class Progress:
    table: str
    done: int  # rows re-encrypted in this table so far
    total: int  # rows on older keys when this pass over the table began (or done, if more)
    sweep: int  # 1 for the first pass over the tables, 2 for the next…


@dataclass
class Rotation:
    version: int  # the key version every value is on afterwards
    rows: dict[str, int] = field(default_factory=dict)  # rows re-encrypted, by table
    sweeps: int = 0
    remaining: int = 0  # rows still on an older key (0 unless values do not decrypt)
    undecryptable: list[str] = field(default_factory=list)  # "table.column row id": moved or changed values

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _batch(
    connection: Connection,
    spec: EncryptedTable,
    cipher: FieldCipher,
    old: list[int],
    after: object,
    size: int,
    skip: set,
    bad: list[str],
) -> tuple[int, object]:
    """Re-encrypt up to ``size`` rows after ``after`` (keyset order); the rows changed and the last key."""
    t = spec.table()
    key = t.c[spec.key]
    query = select(t).where(_on_versions(t, spec.columns, old)).order_by(key).limit(size)
    if after is not None:
        query = query.where(key > after)
    rows = connection.execute(query).all()
    changed = 0
    for row in rows:
        row_id = getattr(row, spec.key)
        if row_id in skip:
            continue
        values, expected = {}, []
        for column in spec.columns:
            token = getattr(row, column)
            if token is None or not token.startswith(tuple(f"{v}:" for v in old)):
                continue
            try:
                plain = cipher.decrypt(spec.name, column, row_id, token)
            except Undecryptable:
                skip.add(row_id)
                bad.append(f"{spec.name}.{column} {row_id}")
                break
            values[column] = cipher.encrypt(spec.name, column, row_id, plain)
            expected.append(t.c[column] == token)
        if row_id in skip:
            continue
        if values:
            result = connection.execute(sa.update(t).where(key == row_id, *expected).values(**values))
            changed += result.rowcount
    return changed, (getattr(rows[-1], spec.key) if rows else None)


async def rotate(
    engine: AsyncEngine,
    master: MasterKey,
    *,
    batch_size: int = 200,
    max_sweeps: int = 10,
    settle_seconds: float = SETTLE_SECONDS,
    on_progress: Callable[[Progress], object] | None = None,
) -> Rotation:
    """Add a field key version and move every value on an older one to it (see the module notes).

    It concludes only once ``settle_seconds`` have passed since the new key was committed: a running service
    looks for a newer key once a second, so until then it may still write with the old one.
    ``on_progress`` is called after each committed batch (it may be a coroutine function). The master key
    must unwrap every stored key, or nothing is changed (``KeyRingError``). Values that do not decrypt
    where they are (moved or changed) are left as they are and listed in ``undecryptable``."""
    async with engine.begin() as connection:
        # Every stored key must unwrap under this master key (and there must be keys) before any change.
        cipher_of(*await connection.run_sync(lambda c: load(c, master)))
        version = await connection.run_sync(lambda c: add_field_version(c, master))
        fields, index = await connection.run_sync(lambda c: load(c, master))
        tables = await connection.run_sync(encrypted_tables)
    committed = time.monotonic()
    cipher = cipher_of(fields, index, version)
    old = sorted(v for v in fields if v < version)
    report = Rotation(version=version, rows={spec.name: 0 for spec in tables})
    skip: dict[str, set] = {spec.name: set() for spec in tables}  # row ids of undecryptable values
    for sweep in range(1, max_sweeps + 1):
        report.sweeps = sweep
        for spec in tables:
            total = await _count(engine, spec, old, skip[spec.name])
            if total == 0:
                continue
            done, after = 0, None
            while True:
                work = partial(
                    _batch,
                    spec=spec,
                    cipher=cipher,
                    old=old,
                    after=after,
                    size=batch_size,
                    skip=skip[spec.name],
                    bad=report.undecryptable,
                )
                async with engine.begin() as connection:
                    changed, after = await connection.run_sync(work)
                if after is None:
                    break
                done += changed
                total = max(total, done)  # the service may still write with the old key for a second
                report.rows[spec.name] += changed
                if on_progress:
                    reported = on_progress(Progress(spec.name, done, total, sweep))
                    if inspect.isawaitable(reported):
                        await reported
        report.remaining = sum([await _count(engine, spec, old, skip[spec.name]) for spec in tables])
        if report.remaining == 0:
            wait = settle_seconds - (time.monotonic() - committed)
            if wait <= 0:
                break
            await asyncio.sleep(wait)  # then one more sweep catches what was written with the old key
    report.remaining += sum(len(ids) for ids in skip.values())
    return report


async def _count(engine: AsyncEngine, spec: EncryptedTable, versions: list[int], skip: set) -> int:
    t = spec.table()
    condition = _on_versions(t, spec.columns, versions)
    if skip:
        condition = and_(condition, t.c[spec.key].not_in(list(skip)))
    async with engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(t).where(condition)) or 0


@dataclass(frozen=True)
class KeyInfo:
    purpose: str
    version: int
    created_at: datetime
    master_key_id: str


@dataclass
class KeyStatus:
    keys: list[KeyInfo]
    # "table.column" -> {key version: values}; version None counts values under no known key
    values: dict[str, dict[int | None, int]]


async def status(engine: AsyncEngine) -> KeyStatus:
    """The keys stored and how many values each field key version still encrypts (nothing is decrypted)."""
    async with engine.connect() as connection:
        keys = [
            KeyInfo(r.purpose, r.version, r.created_at, r.master_key_id)
            for r in await connection.execute(
                select(DATA_KEYS).order_by(DATA_KEYS.c.purpose, DATA_KEYS.c.version)
            )
        ]
        tables = await connection.run_sync(encrypted_tables)
        versions = [k.version for k in keys if k.purpose == "field"]
        values: dict[str, dict[int | None, int]] = {}
        for spec in tables:
            t = spec.table()
            for column in spec.columns:
                c = t.c[column]
                counts = [func.count().filter(c.startswith(f"{v}:")).label(f"v{v}") for v in versions]
                row = (
                    await connection.execute(select(func.count(c).label("all"), *counts).select_from(t))
                ).one()
                by_version: dict[int | None, int] = {v: row[i + 1] for i, v in enumerate(versions)}
                unknown = row[0] - sum(by_version.values())
                if unknown:
                    by_version[None] = unknown
                values[f"{spec.name}.{column}"] = by_version
    return KeyStatus(keys, values)
