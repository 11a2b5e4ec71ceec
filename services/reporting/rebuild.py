"""Rebuild: empty reporting's read model and replay the department streams into it, with progress.

The steps, in this order, so that a crash at any point leaves a state the next start handles by itself:

1. note each source stream's message count and last sequence (what "caught up" means for this rebuild);
2. pause the four consumers (they finish the batch in hand and stop fetching);
3. delete each durable consumer and create it again delivering the whole stream;
4. empty the read model in one transaction: every table but alembic's (and ``KEPT_TABLES``), and the
   inbox rows of reporting's consumers;
5. resume the consumers; they apply the streams from the first message, and events arriving meanwhile too;
6. report progress until every source's acknowledged floor reaches the sequence noted in 1.

A crash between 3 and 4 leaves the old read model with durables at the start: on restart they deliver
everything again and the inbox acks it all as duplicates, so the model is as before (not rebuilt: run
Rebuild again). A crash after 4 leaves an empty model and durables at the start (or a durable created at
start-up from the start, when the crash came between deleting and creating it): on restart the consumers
replay the streams and the rebuild finishes on its own, only without progress messages. A crash during 5
or 6 is an ordinary restart: the inbox and the durables agree, batch by batch.

Dead letters are not read again: events in DLQ_REPORTING stay there. Poison events in the department
streams are met again and terminated again without a second copy (``lienthong.deadletter``), so the
dead-letter counts do not change. One rebuild at a time in a process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace

from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import MetaData, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong import inbox
from lienthong.bus import jetstream
from lienthong.consumer import BatchConsumer
from lienthong.deadletter import DeadLetters
from lienthong.errors import InvalidInput, PreconditionFailed

log = logging.getLogger(__name__)

# Tables that are not built from the streams and must survive a rebuild. A new reporting table is emptied
# by a rebuild unless it is named here (e.g. a record that is not derived from events).
# Not built from the streams: sign-off snapshots are approvals, kept whatever the read model becomes.
KEPT_TABLES = frozenset({"alembic_version", "signoffs"})
PROGRESS_INTERVAL_SECONDS = 0.5


@dataclass(frozen=True)
class StreamProgress:
    stream: str
    applied: int  # messages of the stream, up to where it stood at the start, handled again
    total: int  # messages in the stream when the rebuild started
    caught_up: bool = False


@dataclass(frozen=True)
class _Start:
    consumer: BatchConsumer
    exists: bool
    messages: int
    first_seq: int
    last_seq: int


async def empty_read_model(sessions: async_sessionmaker[AsyncSession], consumers: Sequence[str]) -> list[str]:
    """Delete every row of every reporting table but ``KEPT_TABLES`` and the other consumers' inbox rows,
    in one transaction; return the tables emptied."""
    metadata = MetaData()
    async with sessions.begin() as session:
        connection = await session.connection()
        await connection.run_sync(lambda sync: metadata.reflect(sync))
        emptied = []
        for table in reversed(metadata.sorted_tables):
            if table.name in KEPT_TABLES:
                continue
            if table.name == inbox.INBOX.name:
                await session.execute(delete(table).where(table.c.consumer.in_(list(consumers))))
            else:
                await session.execute(delete(table))
            emptied.append(table.name)
    return emptied


@dataclass(frozen=True)
class _Parts:
    sessions: async_sessionmaker[AsyncSession]
    broker: NatsBroker
    consumers: tuple[BatchConsumer, ...]
    dead_letters: DeadLetters
    interval: float


class Rebuilder:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        broker: NatsBroker,
        consumers: Sequence[BatchConsumer],
        dead_letters: DeadLetters,
        interval: float = PROGRESS_INTERVAL_SECONDS,
    ) -> None:
        self._parts = _Parts(sessions, broker, tuple(consumers), dead_letters, interval)
        self._current: RebuildRun | None = None

    def start(self, *, confirm: bool) -> RebuildRun:
        """Start a rebuild in the background (it goes on when nobody follows it); refuse without ``confirm``
        or while another one runs."""
        if not confirm:
            raise InvalidInput(
                "confirm.required",
                "Dựng lại sẽ xoá toàn bộ dữ liệu báo cáo rồi đọc lại các luồng sự kiện: gửi confirm=true để xác nhận.",
                "A rebuild deletes the whole read model, then replays the event streams: send confirm=true to go ahead.",
            )
        if self._current is not None and not self._current.finished:
            raise PreconditionFailed(
                "rebuild.running",
                "Đang dựng lại dữ liệu báo cáo; chờ lần này xong rồi thử lại.",
                "A rebuild is already running; wait until it has finished.",
            )
        if any(consumer.granted for consumer in self._parts.consumers):
            # Under per-department NATS accounts the durables belong to the streams' owners, who create
            # them with the policy's filter; reporting may only read through them, not start them over.
            raise PreconditionFailed(
                "rebuild.needs_owner_rights",
                "Với tài khoản NATS riêng cho từng cơ quan, reporting không được tạo lại consumer trên luồng của "
                "cơ quan khác; chạy dựng lại khi reporting kết nối không dùng tài khoản riêng "
                "(LIENTHONG_NATS_NKEY_SEED_FILE trống) hoặc nhờ chủ luồng tạo lại consumer.",
                "Under per-department NATS accounts reporting may not recreate the consumers on other "
                "departments' streams; run the rebuild with reporting connected without accounts "
                "(LIENTHONG_NATS_NKEY_SEED_FILE unset), or have the stream owners recreate the consumers.",
            )
        self._current = RebuildRun(self._parts)
        return self._current

    async def guard(self) -> None:
        """A background job of the service: at shutdown it cancels a running rebuild before the broker
        stops (the next start completes it, see the module notes)."""
        try:
            await asyncio.Event().wait()
        finally:
            if self._current is not None and not self._current.finished:
                self._current.task.cancel()
                await asyncio.gather(self._current.task, return_exceptions=True)


class RebuildRun:
    """One rebuild, running in its own task; ``follow`` streams its progress."""

    def __init__(self, parts: _Parts) -> None:
        self._parts = parts
        self.progress: tuple[StreamProgress, ...] = ()
        self._noted = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name="reporting-rebuild")
        self.task.add_done_callback(_log_failure)

    @property
    def finished(self) -> bool:
        return self.task.done()

    async def follow(self) -> AsyncIterator[tuple[tuple[StreamProgress, ...], bool]]:
        """Yield (progress per stream, finished) now and every interval; the last one has finished=True.
        Raises what made the rebuild fail. Leaving the loop early does not stop the rebuild."""
        noted = asyncio.create_task(self._noted.wait())
        try:
            await asyncio.wait({self.task, noted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            noted.cancel()
        while not self.task.done():
            yield self.progress, False
            await asyncio.wait({self.task}, timeout=self._parts.interval)
        self.task.result()
        yield self.progress, True

    async def _run(self) -> None:
        parts, js = self._parts, jetstream(self._parts.broker)
        consumers = parts.consumers
        began = time.perf_counter()
        starts = [await self._note(js, consumer) for consumer in consumers]
        self.progress = tuple(
            StreamProgress(s.consumer.spec.stream, 0, s.messages, caught_up=not s.messages) for s in starts
        )
        self._noted.set()
        log.info("rebuild: %s", ", ".join(f"{p.stream} {p.total} messages" for p in self.progress))
        try:
            await asyncio.gather(*(consumer.pause() for consumer in consumers))
            await parts.dead_letters.load_held()
            for start in starts:
                if start.exists:
                    await start.consumer.recreate_from_start()
            emptied = await empty_read_model(parts.sessions, [c.spec.name for c in consumers])
            log.info("rebuild: read model emptied (%s); replaying", ", ".join(emptied))
        except asyncio.CancelledError:
            raise  # shutting down: the consumers stop with the broker; the next start recovers
        except Exception:
            await asyncio.gather(*(consumer.resume() for consumer in consumers), return_exceptions=True)
            raise
        await asyncio.gather(*(consumer.resume() for consumer in consumers))
        while True:
            self.progress = tuple(
                [await _measure(js, start, seen) for start, seen in zip(starts, self.progress, strict=True)]
            )
            if all(p.caught_up for p in self.progress):
                break
            await asyncio.sleep(parts.interval)
        log.info(
            "rebuild finished in %.1fs: %s",
            time.perf_counter() - began,
            ", ".join(f"{p.stream} {p.applied}/{p.total}" for p in self.progress),
        )

    @staticmethod
    async def _note(js: JetStreamContext, consumer: BatchConsumer) -> _Start:
        try:
            state = (await js.stream_info(consumer.spec.stream)).state
        except NotFoundError:  # its owner has not started yet: nothing to replay
            return _Start(consumer, exists=False, messages=0, first_seq=0, last_seq=0)
        return _Start(consumer, True, state.messages, state.first_seq, state.last_seq)


async def _measure(js: JetStreamContext, start: _Start, seen: StreamProgress) -> StreamProgress:
    """How far the new durable has got through the messages that were there at the start.

    The acknowledged floor (every message up to it handled: applied, duplicate or dead-lettered) gives
    it; the count is exact at the end and never goes backwards."""
    if seen.caught_up:
        return seen
    spec = start.consumer.spec
    try:
        info = await js.consumer_info(spec.stream, spec.name)
    except NotFoundError:
        return seen  # created again when the consumer resumes
    floor = info.ack_floor.stream_seq if info.ack_floor else 0
    idle = not info.num_pending and not info.num_ack_pending
    if floor >= start.last_seq or idle:
        return replace(seen, applied=seen.total, caught_up=True)
    applied = min(seen.total, max(0, floor - start.first_seq + 1))
    return replace(seen, applied=max(applied, seen.applied))


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("rebuild failed", exc_info=task.exception())
