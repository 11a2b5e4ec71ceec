"""Transactional outbox and its relay.

A command stores its new state and one outbox row per event in the same transaction. The relay publishes
unpublished rows to JetStream with ``Nats-Msg-Id`` = event id, and marks them only after the PubAck. It
selects rows by "not yet published", never by "id greater than the last one": ids are taken before commit,
so a lower id that commits later would be skipped for ever. Only the holder of the relay lease publishes,
so two processes on one database never race.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime

from faststream.nats import NatsBroker
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong.db import insert_ignoring_duplicates
from lienthong.envelope import Envelope
from lienthong.metrics import OutboxMetrics

log = logging.getLogger(__name__)


def define_tables_v1(metadata: MetaData) -> tuple[Table, Table]:
    """The outbox and relay-lease tables at schema version 1 (services create them in their migrations)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("position", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("subject", String(200), nullable=False),
        Column("headers", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True, index=True),
        Column("stream_sequence", Integer, nullable=True),
    )
    lease = Table(
        "relay_lease",
        metadata,
        Column("name", String(50), primary_key=True),
        Column("holder", String(100), nullable=False),
        Column("expires_at", Float, nullable=False),
    )
    return outbox, lease


_metadata = MetaData()
OUTBOX, RELAY_LEASE = define_tables_v1(_metadata)


async def add_to_outbox(session: AsyncSession, envelope: Envelope) -> None:
    """Queue ``envelope`` for publishing; call inside the command's transaction."""
    await session.execute(
        insert(OUTBOX).values(
            event_id=envelope.event_id,
            subject=envelope.subject,
            headers=json.dumps(envelope.headers(), separators=(",", ":")),
            payload=envelope.payload,
            created_at=envelope.time,
        )
    )


class OutboxRelay:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        broker: NatsBroker,
        stream: str,
        holder: str,
        metrics: OutboxMetrics,
        batch_size: int = 500,
        poll_interval: float = 0.25,
        lease_seconds: float = 10.0,
        publish_timeout: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._broker = broker
        self._stream = stream
        self._holder = holder
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._lease_seconds = lease_seconds
        self._publish_timeout = publish_timeout
        self._wake = asyncio.Event()
        self._stopping = False

    def notify(self) -> None:
        """Called after a command commits, so the relay publishes at once instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        backoff = self._poll_interval
        while not self._stopping:
            try:
                if await self.acquire_lease():
                    published = await self.publish_pending()
                    await self.refresh_lag()
                    backoff = self._poll_interval
                    if published == self._batch_size:
                        continue
                else:
                    self._metrics.relay_active.set(0)
            except Exception as exc:
                # NATS or the database is away: keep the rows, retry with a growing pause.
                log.warning("outbox relay paused: %s", exc)
                backoff = min(backoff * 2, 5.0)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except TimeoutError:
                pass

    async def acquire_lease(self) -> bool:
        now = time.time()
        async with self._sessions.begin() as session:
            dialect = session.bind.dialect.name
            await session.execute(
                insert_ignoring_duplicates(RELAY_LEASE, dialect).values(
                    name=self._stream, holder=self._holder, expires_at=now + self._lease_seconds
                )
            )
            result = await session.execute(
                update(RELAY_LEASE)
                .where(RELAY_LEASE.c.name == self._stream)
                .where((RELAY_LEASE.c.holder == self._holder) | (RELAY_LEASE.c.expires_at < now))
                .values(holder=self._holder, expires_at=now + self._lease_seconds)
            )
        held = result.rowcount == 1
        self._metrics.relay_active.set(1 if held else 0)
        return held

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows in commit order; return how many were acknowledged."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(OUTBOX.c.position, OUTBOX.c.subject, OUTBOX.c.headers, OUTBOX.c.payload)
                    .where(OUTBOX.c.published_at.is_(None))
                    .order_by(OUTBOX.c.position)
                    .limit(self._batch_size)
                )
            ).all()
        if not rows:
            return 0
        # Publishes are written to the connection in order, so the stream keeps the outbox order.
        results = await asyncio.gather(
            *(
                self._broker.publish(
                    row.payload,
                    row.subject,
                    headers=json.loads(row.headers),
                    stream=self._stream,
                    timeout=self._publish_timeout,
                )
                for row in rows
            ),
            return_exceptions=True,
        )
        acked: list[tuple[int, int]] = []
        first_error: BaseException | None = None
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                self._metrics.publish_errors.labels(self._stream).inc()
                first_error = first_error or result
                continue
            if result is None or result.stream != self._stream:
                self._metrics.publish_errors.labels(self._stream).inc()
                first_error = first_error or RuntimeError(
                    f"no PubAck from stream {self._stream} for {row.subject}"
                )
                continue
            if result.duplicate:
                self._metrics.duplicates.labels(self._stream).inc()
            self._metrics.published.labels(self._stream, row.subject).inc()
            acked.append((row.position, result.seq))
        if acked:
            await self._mark_published(acked)
        if first_error is not None:
            raise first_error
        return len(acked)

    async def _mark_published(self, acked: list[tuple[int, int]]) -> None:
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            await session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.position == bindparam("p"))
                .values(published_at=now, stream_sequence=bindparam("s")),
                [{"p": position, "s": seq} for position, seq in acked],
            )

    async def refresh_lag(self) -> None:
        async with self._sessions() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(OUTBOX.c.created_at)).where(OUTBOX.c.published_at.is_(None))
                )
            ).one()
        self._metrics.pending.set(count)
        if oldest is None:
            self._metrics.oldest_pending_age.set(0)
        else:
            if oldest.tzinfo is None:  # SQLite returns naive datetimes
                oldest = oldest.replace(tzinfo=UTC)
            self._metrics.oldest_pending_age.set(max(0.0, (datetime.now(UTC) - oldest).total_seconds()))
