"""Dead letters: events a consumer can never process, kept with the reason in a stream the consumer owns.

The original payload and headers are copied to ``dlq.<consumer>.<original subject>`` in stream
``DLQ_<CONSUMER>`` (confirmed by a PubAck) before the original is terminated, so nothing is lost and an
operator can inspect and replay it after a fix.

A consumer that reads its stream again from the start (a rebuild) meets the same poison events again. Within
JetStream's duplicate window the copy's ``Nats-Msg-Id`` keeps it single; for older ones, ``load_held`` reads
which originals the stream already holds (headers only) and ``send`` then skips those, so a replay adds no
second copy and the dead-letter counts stay as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import nats.errors
from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from lienthong.bus import StreamSpec, jetstream

REASON_MAX = 500


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
        # (original stream, original sequence) of the copies the stream holds, once load_held has run.
        self._held: set[tuple[str, str]] | None = None

    async def load_held(self, *, batch: int = 1000, timeout: float = 30.0) -> int:
        """Remember which originals the dead-letter stream already holds a copy of; return how many."""
        js = jetstream(self._broker)
        try:
            expected = (await js.stream_info(self.stream.name)).state.messages
        except NotFoundError:
            expected = 0
        held: set[tuple[str, str]] = set()
        if expected:
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
                while seen < expected and asyncio.get_running_loop().time() < deadline:
                    try:
                        messages = await reader.fetch(batch, timeout=1.0)
                    except nats.errors.TimeoutError:
                        break  # nothing more (messages removed meanwhile by the stream's limits)
                    for message in messages:
                        seen += 1
                        held.add(_original(message.headers or {}))
            finally:
                await reader.unsubscribe()
                with contextlib.suppress(NotFoundError):
                    await js.delete_consumer(self.stream.name, name)
        self._held = held
        return len(held)

    def forget_held(self) -> None:
        self._held = None

    async def send(self, msg: Msg, reason: str) -> None:
        """Copy ``msg`` to the dead-letter stream with ``reason``; raises if JetStream did not store it.

        After ``load_held``, an original the stream already holds is not copied again."""
        meta = msg.metadata
        original = (meta.stream, str(meta.sequence.stream))
        if self._held is not None and original in self._held:
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
        if self._held is not None:
            self._held.add(original)


def _original(headers: dict[str, str]) -> tuple[str, str]:
    return headers.get("lt-dlq-original-stream", ""), headers.get("lt-dlq-original-sequence", "")
