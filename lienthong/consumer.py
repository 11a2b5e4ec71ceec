"""Durable, idempotent batch consumer of a JetStream stream.

Per fetched batch: parse each message's envelope and decode its payload (pure); a message that can never
be processed goes to the dead-letter stream and is terminated. The rest are applied in one transaction
together with their inbox rows, then acknowledged. Failure handling, by cause:

* the database is unreachable: keep the batch, tell the server work is in progress, retry until it
  returns (a long outage must not burn through ``max_deliver`` and strand good events);
* an event breaks an invariant (``BadEvent`` raised while applying): dead-letter that one, apply the rest;
* anything else (a bug): apply one by one to isolate the culprit; it is redelivered with a back-off and
  dead-lettered with the error once it has been delivered ``max_deliver`` times.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Generic, TypeVar

import nats.errors
from faststream import AckPolicy, Context
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.aio.msg import Msg
from nats.js.api import ConsumerInfo
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong import bus, natsauth
from lienthong.bus import jetstream
from lienthong.deadletter import DeadLetters
from lienthong.envelope import BadEvent, Envelope
from lienthong.inbox import claim_new
from lienthong.metrics import ConsumerMetrics

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Delivered(Generic[T]):
    envelope: Envelope
    event: T
    raw: Msg


class InvariantBroken(BadEvent):
    """Raised by an applier for one event that contradicts what the consumer already knows."""

    def __init__(self, event_id: str, reason: str) -> None:
        super().__init__(reason)
        self.event_id = event_id


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    stream: str
    filter_subject: str
    max_deliver: int = 5
    ack_wait_seconds: float = 30.0
    batch_size: int = 500
    fetch_timeout_seconds: float = 1.0
    # Back-off between redeliveries of an event whose handler failed (a plain nak ignores the consumer's
    # own backoff setting, so the delay is sent with each nak).
    retry_delays_seconds: Sequence[float] = (1.0, 5.0, 15.0, 30.0)

    def retry_delay(self, num_delivered: int) -> float:
        return self.retry_delays_seconds[min(num_delivered, len(self.retry_delays_seconds)) - 1]


Decode = Callable[[Envelope], Any]
Apply = Callable[[AsyncSession, Sequence[Delivered]], Awaitable[None]]


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | OSError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class BatchConsumer:
    def __init__(
        self,
        *,
        broker: NatsBroker,
        sessions: async_sessionmaker[AsyncSession],
        spec: ConsumerSpec,
        decode: Decode,
        apply: Apply,
        metrics: ConsumerMetrics,
        dead_letters: DeadLetters,
    ) -> None:
        self.spec = spec
        self._broker = broker
        self._sessions = sessions
        self._decode = decode
        self._apply = apply
        self._metrics = metrics
        self._dead_letters = dead_letters
        self._stopping = False
        self._paused = False
        # Starting and stopping the subscriber (attach, pause, resume) one at a time.
        self._switch = asyncio.Lock()
        self.subscriber = None
        self.attached = asyncio.Event()
        self._api_prefix: str | None = None  # the imported JetStream API of a granted durable
        self._pull_task: asyncio.Task | None = None
        # Called after a batch that applied something commits: a consumer that writes outbox rows wakes
        # its service's relay, so those events leave at once instead of at the relay's next poll.
        self.after_commit: list[Callable[[], None]] = []

    @property
    def granted(self) -> bool:
        """Bound to a durable the stream's owner created for us (NATS accounts): we may not recreate it."""
        return self._api_prefix is not None

    async def attach(self, *, granted: bool = False) -> None:
        """Subscribe once the source stream exists (its owner declares it; we only wait for it).

        Done after the broker started, so a department's own API never waits for another department.
        With ``granted`` (NATS accounts), the durable is the one the stream's owner created for us with the
        policy's filter: wait for it and bind to it through the API our account imports from the owner's
        (``lienthong.natsauth``), never create or change it.
        """
        if granted:
            await self._bind_granted()
            return
        await bus.wait_for_stream(jetstream(self._broker), self.spec.stream, timeout=None)
        spec = self.spec
        self.subscriber = self._broker.subscriber(
            spec.filter_subject,
            stream=JStream(spec.stream, declare=False),
            durable=spec.name,
            pull_sub=PullSub(batch_size=spec.batch_size, timeout=spec.fetch_timeout_seconds, batch=True),
            config=self.consumer_config(),
            ack_policy=AckPolicy.MANUAL,
        )
        self.subscriber(self._handle)
        async with self._switch:
            if not self._paused:
                await self.subscriber.start()
        self.attached.set()
        log.info("consumer %s attached to stream %s (%s)", spec.name, spec.stream, spec.filter_subject)

    def consumer_config(self) -> ConsumerConfig:
        return bus.durable_config(
            self.spec.name,
            self.spec.filter_subject,
            max_deliver=self.spec.max_deliver,
            ack_wait_seconds=self.spec.ack_wait_seconds,
        )

    def _api(self) -> JetStreamContext:
        return jetstream(self._broker, prefix=self._api_prefix)

    async def info(self) -> ConsumerInfo:
        """The durable's state on the server (pending, ack pending, redelivered)."""
        return await self._api().consumer_info(self.spec.stream, self.spec.name)

    async def _bind_granted(self) -> None:
        spec = self.spec
        self._api_prefix = natsauth.api_prefix(spec.stream)
        js = self._api()
        info = await bus.wait_for_durable(js, spec.stream, spec.name)
        server = info.config
        if server.filter_subject != spec.filter_subject:
            log.error(
                "durable %s on %s filters %s, this consumer expects %s: the policy and the code disagree",
                spec.name,
                spec.stream,
                server.filter_subject,
                spec.filter_subject,
            )
        if server.max_deliver and server.max_deliver > 0 and server.max_deliver < spec.max_deliver:
            # Dead-letter before the server gives up on an event, or it would be dropped without a copy.
            self.spec = replace(spec, max_deliver=server.max_deliver)
        subscription = await js.pull_subscribe_bind(durable=spec.name, stream=spec.stream)
        self._pull_task = asyncio.create_task(self._pull(subscription), name=f"pull-{spec.name}")
        self.attached.set()
        log.info(
            "consumer %s bound to the durable granted on %s (%s)",
            spec.name,
            spec.stream,
            server.filter_subject,
        )

    async def _pull(self, subscription: JetStreamContext.PullSubscription) -> None:
        """Fetch and handle batches until stopped (what FastStream's pull subscriber does otherwise)."""
        spec = self.spec
        try:
            while not self._stopping:
                try:
                    messages = await subscription.fetch(
                        batch=spec.batch_size, timeout=spec.fetch_timeout_seconds
                    )
                except nats.errors.TimeoutError:
                    continue
                except Exception as exc:  # connection lost, server restarting: the client reconnects
                    if self._stopping:
                        return
                    log.warning("fetching from %s failed (%r); retrying", spec.name, exc)
                    await asyncio.sleep(1.0)
                    continue
                try:
                    await self._process(messages)
                except Exception:
                    # Left unacknowledged: JetStream delivers them again after ack_wait.
                    log.exception("handling a batch of %s failed", spec.name)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def close(self, timeout: float = 15.0) -> None:
        """Stop after the batch in hand (it is committed and acked, or left for redelivery)."""
        self.stop()
        if self._pull_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._pull_task), timeout)
            except (TimeoutError, asyncio.CancelledError):
                self._pull_task.cancel()
                await asyncio.gather(self._pull_task, return_exceptions=True)

    def stop(self) -> None:
        self._stopping = True

    @property
    def paused(self) -> bool:
        return self._paused

    async def pause(self) -> None:
        """Stop fetching. Returns once the batch being applied, if any, has committed and been acknowledged
        (or after the broker's graceful timeout). Messages fetched but not yet handed over are not acked:
        the server delivers them again after ``ack_wait``. A consumer not attached yet stays unstarted."""
        async with self._switch:
            self._paused = True
            if self.subscriber is not None and self.subscriber.running:
                await self.subscriber.stop()

    async def resume(self) -> None:
        """Fetch again (binding to the durable, or creating it from the start of the stream if missing)."""
        async with self._switch:
            self._paused = False
            if self.subscriber is not None and not self.subscriber.running:
                await self.subscriber.start()

    async def recreate_from_start(self) -> None:
        """Delete the durable consumer and create it again with the same configuration, so it delivers the
        whole stream from its first message; only while paused. Raises ``NotFoundError`` when the stream
        does not exist. The inbox still decides what is new: events already applied are acked as duplicates.
        """
        if not self._paused:
            raise RuntimeError(f"consumer {self.spec.name} must be paused before it is recreated")
        js = jetstream(self._broker)
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(self.spec.stream, self.spec.name)
        await js.add_consumer(self.spec.stream, config=self.consumer_config())
        log.info(
            "consumer %s recreated: it delivers stream %s from the start", self.spec.name, self.spec.stream
        )

    async def _handle(self, body: Any, message: Annotated[NatsBatchMessage, Context("message")]) -> None:
        await self._process(message.raw_message)

    async def _process(self, messages: Sequence[Msg]) -> None:
        started = time.perf_counter()
        good: list[Delivered] = []
        for raw in messages:
            try:
                envelope = Envelope.parse(raw.subject, raw.headers, raw.data)
                good.append(Delivered(envelope, self._decode(envelope), raw))
            except BadEvent as exc:
                await self._dead_letter(raw, str(exc))
            except (
                Exception
            ) as exc:  # a decoder must only raise BadEvent; anything else is a poison event too
                await self._dead_letter(raw, f"cannot decode: {exc!r}")
        if good:
            await self._apply_batch(good)
        self._metrics.handler_seconds.labels(self.spec.name).observe(time.perf_counter() - started)

    async def _apply_batch(self, batch: list[Delivered]) -> None:
        delay = 0.5
        while batch:
            try:
                applied = await self._transaction(batch)
            except InvariantBroken as exc:
                bad = [d for d in batch if d.envelope.event_id == exc.event_id]
                batch = [d for d in batch if d.envelope.event_id != exc.event_id]
                for delivered in bad:
                    await self._dead_letter(delivered.raw, str(exc))
                if not bad:
                    raise RuntimeError(f"applier named unknown event {exc.event_id}") from exc
                continue
            except Exception as exc:
                if _is_unavailable(exc) and not self._stopping:
                    log.warning("read model unavailable (%s); holding %d events, retrying", exc, len(batch))
                    await asyncio.gather(*(d.raw.in_progress() for d in batch), return_exceptions=True)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if len(batch) > 1 and not _is_unavailable(exc):
                    for delivered in batch:
                        await self._apply_batch([delivered])
                    return
                await self._retry_later(batch, exc)
                return
            if applied:
                for wake in self.after_commit:
                    wake()
            await self._ack(batch, applied)
            return

    async def _transaction(self, batch: list[Delivered]) -> set[str]:
        async with self._sessions.begin() as session:
            new_ids = await claim_new(session, self.spec.name, (d.envelope.event_id for d in batch))
            fresh = [d for d in batch if d.envelope.event_id in new_ids]
            # Two copies of one event in a batch (a relay retry) must apply once.
            seen: set[str] = set()
            unique = [d for d in fresh if not (d.envelope.event_id in seen or seen.add(d.envelope.event_id))]
            if unique:
                await self._apply(session, unique)
        return new_ids

    async def _ack(self, batch: list[Delivered], applied: set[str]) -> None:
        counted: set[str] = set()
        for delivered in batch:
            event_id = delivered.envelope.event_id
            outcome = "applied" if event_id in applied and event_id not in counted else "duplicate"
            counted.add(event_id)
            self._metrics.consumed.labels(self.spec.name, delivered.raw.subject, outcome).inc()
        await asyncio.gather(*(d.raw.ack() for d in batch))

    async def _retry_later(self, batch: list[Delivered], exc: BaseException) -> None:
        for delivered in batch:
            delivered_count = delivered.raw.metadata.num_delivered
            if delivered_count >= self.spec.max_deliver:
                await self._dead_letter(delivered.raw, f"failed {delivered_count} times: {exc!r}")
            else:
                log.warning(
                    "event %s failed (%r); redelivery %d", delivered.envelope.event_id, exc, delivered_count
                )
                await delivered.raw.nak(delay=self.spec.retry_delay(delivered_count))

    async def _dead_letter(self, raw: Msg, reason: str) -> None:
        log.error("dead-lettering %s #%s: %s", raw.subject, raw.metadata.sequence.stream, reason)
        await self._dead_letters.send(raw, reason)
        await raw.term()
        self._metrics.consumed.labels(self.spec.name, raw.subject, "dead_lettered").inc()

    async def refresh_lag(self) -> None:
        if not self.attached.is_set():
            return
        info = await self.info()
        self._metrics.pending.labels(self.spec.name).set(info.num_pending or 0)
        self._metrics.ack_pending.labels(self.spec.name).set(info.num_ack_pending or 0)
        self._metrics.redelivered.labels(self.spec.name).set(info.num_redelivered or 0)


def _fetch_timeouts_as_nats_errors() -> None:
    """nats-py 2.16 ``PullSubscription.fetch`` sometimes raises a bare ``asyncio.TimeoutError`` where it
    documents ``nats.errors.TimeoutError``; FastStream 0.7.8's pull loop only catches the latter, so the
    bare one kills the consume task and drops the batch it was collecting until ``ack_wait`` expires.
    Translate it once, here, until both libraries agree."""
    PullSubscription = JetStreamContext.PullSubscription
    original = PullSubscription.fetch
    if getattr(original, "lienthong_translates_timeouts", False):
        return

    @functools.wraps(original)
    async def fetch(self, *args, **kwargs):
        try:
            return await original(self, *args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:
            raise nats.errors.TimeoutError from exc

    fetch.lienthong_translates_timeouts = True  # type: ignore[attr-defined]
    PullSubscription.fetch = fetch  # type: ignore[method-assign]


_fetch_timeouts_as_nats_errors()
