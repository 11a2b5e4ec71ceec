"""Dead letters: events a consumer can never process, kept with the reason in a stream the consumer owns.

The original payload and headers are copied to ``dlq.<consumer>.<original subject>`` in stream
``DLQ_<CONSUMER>`` (confirmed by a PubAck) before the original is terminated, so nothing is lost and an
operator can inspect and replay it after a fix.

One original gets one copy. A consumer that reads its stream again from the start (reporting's rebuild, or
its restart in the middle of one) meets the same poison events again; within JetStream's duplicate window
the copy's ``Nats-Msg-Id`` keeps it single, and past it the consumer's memory of the originals the stream
already holds does (read once, headers only, at the first dead letter of the process or by ``load_held``).
So a replay adds no second copy and the dead-letter counts stay as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import nats.errors
from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from lienthong.bus import StreamSpec, jetstream

REASON_MAX = 500
Original = tuple[str, str, str]  # the original's stream, its sequence there, and its ce-id ("" if none)
log = logging.getLogger(__name__)


def dead_letter_stream(consumer: str) -> StreamSpec:
    return StreamSpec(
        name=f"DLQ_{consumer.upper()}",
        subjects=[f"dlq.{consumer}.>"],
        description=f"Events the {consumer} consumer could not process, with the reason",
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:REASON_MAX]


class DeadLetters:
    def __init__(self, broker: NatsBroker, consumer: str) -> None:
        self._broker = broker
        self._consumer = consumer
        self.stream = dead_letter_stream(consumer)
        # (original stream, sequence, ce-id) of every copy the stream holds; read when first needed.
        self._held: set[Original] | None = None
        self._loading = asyncio.Lock()

    async def load_held(self, *, batch: int = 1000, timeout: float = 60.0) -> int:
        """Read (again) which originals the dead-letter stream holds a copy of; return how many."""
        async with self._loading:
            self._held = await self._read_held(batch, timeout)
            return len(self._held)

    async def _read_held(self, batch: int, timeout: float) -> set[Original]:
        js = jetstream(self._broker)
        try:
            expected = (await js.stream_info(self.stream.name)).state.messages
        except NotFoundError:
            return set()
        held: set[Original] = set()
        if not expected:
            return held
        config = ConsumerConfig(
            headers_only=True,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            inactive_threshold=60.0,
        )
        reader = await js.pull_subscribe(self.stream.subjects[0], stream=self.stream.name, config=config)
        name = (await reader.consumer_info()).name
        try:
            seen = 0
            deadline = asyncio.get_running_loop().time() + timeout
            while seen < expected:
                try:
                    messages = await reader.fetch(batch, timeout=1.0)
                except nats.errors.TimeoutError:
                    # A slow answer is not the end: only an empty reader is (the limits removed some).
                    if not (await reader.consumer_info()).num_pending:
                        break
                    if asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError(f"reading {self.stream.name} took over {timeout:.0f}s") from None
                    continue
                seen += len(messages)
                held.update(_held_original(message.headers or {}) for message in messages)
        finally:
            await reader.unsubscribe()
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(self.stream.name, name)
        return held

    async def send(self, msg: Msg, reason: str) -> None:
        """Copy ``msg`` to the dead-letter stream with ``reason``, unless the stream already holds a copy of it;
        raises if JetStream did not store it."""
        meta = msg.metadata
        original = (meta.stream, str(meta.sequence.stream), (msg.headers or {}).get("ce-id", ""))
        if self._held is None:
            async with self._loading:
                if self._held is None:
                    self._held = await self._read_held(1000, 60.0)
        if original in self._held:
            log.info("%s #%s is already in %s: not copied again", msg.subject, original[1], self.stream.name)
            return
        original_id = (msg.headers or {}).get("ce-id") or f"{meta.stream}:{meta.sequence.stream}"
        headers = {
            **{k: v for k, v in (msg.headers or {}).items() if k != "Nats-Msg-Id"},
            "Nats-Msg-Id": f"dlq:{self._consumer}:{original_id}",
            "lt-dlq-reason": _one_line(reason) or "unknown",
            "lt-dlq-consumer": self._consumer,
            "lt-dlq-original-subject": msg.subject,
            "lt-dlq-original-stream": meta.stream,
            "lt-dlq-original-sequence": str(meta.sequence.stream),
            "lt-dlq-deliveries": str(meta.num_delivered),
            "lt-dlq-time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        ack = await self._broker.publish(
            msg.data, f"dlq.{self._consumer}.{msg.subject}", headers=headers, stream=self.stream.name
        )
        if ack is None or ack.stream != self.stream.name:
            raise RuntimeError(f"dead-letter stream {self.stream.name} did not acknowledge the copy")
        self._held.add(original)


def _held_original(headers: dict[str, str]) -> Original:
    return (
        headers.get("lt-dlq-original-stream", ""),
        headers.get("lt-dlq-original-sequence", ""),
        headers.get("ce-id", ""),
    )
