"""The audit log of personal-data reads: append-only and hash-chained, one chain per department database.

Every read of personal data appends one record (when, which department holds the data, which department
asked, the officer, the purpose, whose data, which record, which fields, the request id) before the data
is returned; if the append fails, the read fails. Each record carries the hash of the one before it, so
``verify`` finds an edited, removed or reordered record and names the first one that does not fit.
Database triggers refuse UPDATE and DELETE; the chain catches whoever removes the triggers. The hashes are
HMAC-SHA256 under an audit key kept out of the database, so someone who can write the table still cannot
rebuild a consistent chain after changing it.

Appends are serialised per process (one service process owns its database) and, on PostgreSQL, by a
transaction-scoped advisory lock as well; the sequence number is the primary key, so a fork is impossible.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, and_, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong.errors import Unavailable
from lienthong.grpcserver import REQUEST_ID
from lienthong.ids import uuid7

GENESIS = "0" * 64
# pg_advisory_xact_lock key: "lt-audit" in ASCII, so it does not collide with the relay's lease.
_PG_LOCK_KEY = 0x6C742D6175646974


def define_table_v1(metadata: MetaData) -> Table:
    return Table(
        "audit_log",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
        Column("department", String(20), nullable=False),
        Column("caller_department", String(40), nullable=False),
        Column("officer_id", String(100), nullable=False, index=True),
        Column("purpose", String(200), nullable=False),
        Column("subject", String(80), nullable=False, index=True),  # the person's pseudonym
        Column("record_id", String(64), nullable=False),
        Column("fields", String(500), nullable=False),
        Column("request_id", String(64), nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
    )


AUDIT_LOG = define_table_v1(MetaData())

_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
        "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    ],
}


def create_audit_log_v1(op) -> None:
    """The audit table at schema version 1, with its append-only triggers (frozen: migrations call it)."""
    op.create_table(
        "audit_log",
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
        Column("department", String(20), nullable=False),
        Column("caller_department", String(40), nullable=False),
        Column("officer_id", String(100), nullable=False),
        Column("purpose", String(200), nullable=False),
        Column("subject", String(80), nullable=False),
        Column("record_id", String(64), nullable=False),
        Column("fields", String(500), nullable=False),
        Column("request_id", String(64), nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
    )
    op.create_index("ix_audit_log_officer_id", "audit_log", ["officer_id"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])
    for statement in _TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)


@dataclass(frozen=True)
class Read:
    """One read of personal data, as the service knows it when it is about to answer."""

    department: str  # the department holding the data (this service)
    caller_department: str  # who asked: the same department for its own staff
    officer_id: str
    purpose: str
    subject: str  # the person's pseudonym
    record_id: str
    fields: str  # the fields returned, comma-separated
    request_id: str


@dataclass(frozen=True)
class Record:
    seq: int
    recorded_at: datetime
    read: Read
    prev_hash: str
    hash: str


def _moment(value: datetime) -> str:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def chain_hash(key: bytes, seq: int, recorded_at: datetime, read: Read, prev_hash: str) -> str:
    body = [
        seq,
        _moment(recorded_at),
        read.department,
        read.caller_department,
        read.officer_id,
        read.purpose,
        read.subject,
        read.record_id,
        read.fields,
        read.request_id,
        prev_hash,
    ]
    message = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class AuditLog:
    """One department database's chain; one instance per service process.

    A read of personal data runs in ``transaction()`` and calls ``record()`` before it returns: the record
    commits with the read or the read fails. The lock keeps appends in order within the process."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], key: bytes, department: str) -> None:
        self._sessions = sessions
        self._key = key
        self.department = department
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._lock, self._sessions.begin() as session:
            yield session

    async def record(
        self,
        session: AsyncSession,
        *,
        officer_id: str,
        purpose: str,
        subject: str,
        record_id: str,
        fields: str,
        caller_department: str = "",
        now: datetime | None = None,
    ) -> Record:
        """Append the read; raises ``Unavailable`` when it cannot be written, so the caller answers with an
        error instead of the data."""
        read = Read(
            department=self.department,
            caller_department=caller_department or self.department,
            officer_id=officer_id,
            purpose=purpose,
            subject=subject,
            record_id=record_id,
            fields=fields,
            request_id=REQUEST_ID.get() or uuid7(),
        )
        try:
            return await append(session, self._key, read, now=now)
        except SQLAlchemyError as exc:
            raise Unavailable(
                "audit.unavailable",
                "Không ghi được nhật ký truy cập nên không trả dữ liệu cá nhân; thử lại sau.",
                "The access could not be recorded in the audit log, so no personal data is returned; "
                "try again later.",
            ) from exc


async def append(session: AsyncSession, key: bytes, read: Read, *, now: datetime | None = None) -> Record:
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    head = (
        await session.execute(
            select(AUDIT_LOG.c.seq, AUDIT_LOG.c.hash).order_by(AUDIT_LOG.c.seq.desc()).limit(1)
        )
    ).first()
    seq, prev_hash = (head.seq + 1, head.hash) if head else (1, GENESIS)
    recorded_at = now or datetime.now(UTC)
    digest = chain_hash(key, seq, recorded_at, read, prev_hash)
    await session.execute(
        AUDIT_LOG.insert().values(
            seq=seq,
            recorded_at=recorded_at,
            department=read.department,
            caller_department=read.caller_department,
            officer_id=read.officer_id,
            purpose=read.purpose,
            subject=read.subject,
            record_id=read.record_id,
            fields=read.fields,
            request_id=read.request_id,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    return Record(seq, recorded_at, read, prev_hash, digest)


def _record(row) -> Record:
    read = Read(
        department=row.department,
        caller_department=row.caller_department,
        officer_id=row.officer_id,
        purpose=row.purpose,
        subject=row.subject,
        record_id=row.record_id,
        fields=row.fields,
        request_id=row.request_id,
    )
    return Record(row.seq, row.recorded_at, read, row.prev_hash, row.hash)


async def all_records(session: AsyncSession) -> list[Record]:
    """Every record in storage order (the physical order a tamperer would change), not sorted by seq."""
    result = await session.execute(select(AUDIT_LOG))
    return [_record(row) for row in result]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    records: int
    head: str  # the hash of the last good record
    first_bad: int | None = None  # its position (1-based) in the chain as stored
    reason: str = ""


def verify(records: Sequence[Record], key: bytes) -> Verdict:
    """Walk the chain in sequence order; the first record that breaks it is named with the reason."""
    prev_hash, expected_seq = GENESIS, 1
    for record in sorted(records, key=lambda r: r.seq):
        if record.seq != expected_seq:
            return Verdict(False, len(records), prev_hash, record.seq, f"record {expected_seq} is missing")
        if record.prev_hash != prev_hash:
            return Verdict(
                False, len(records), prev_hash, record.seq, "it does not follow the record before it (moved)"
            )
        if not hmac.compare_digest(
            chain_hash(key, record.seq, record.recorded_at, record.read, record.prev_hash), record.hash
        ):
            return Verdict(False, len(records), prev_hash, record.seq, "its content was changed")
        prev_hash, expected_seq = record.hash, expected_seq + 1
    return Verdict(True, len(records), prev_hash)


async def query(
    session: AsyncSession,
    *,
    subject: str | None = None,
    officer_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Record]:
    """Who saw this person's data, or what this officer saw, between two moments (both optional)."""
    c = AUDIT_LOG.c
    filters = []
    if subject:
        filters.append(c.subject == subject)
    if officer_id:
        filters.append(c.officer_id == officer_id)
    if since:
        filters.append(c.recorded_at >= since)
    if until:
        filters.append(c.recorded_at < until)
    result = await session.execute(select(AUDIT_LOG).where(and_(True, *filters)).order_by(c.seq))
    return [_record(row) for row in result]


async def count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(AUDIT_LOG)) or 0
