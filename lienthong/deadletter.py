"""Dead letters: events a consumer can never process, kept with the reason in a stream the consumer owns.

The original payload and headers are copied to ``dlq.<consumer>.<original subject>`` in stream
``DLQ_<CONSUMER>`` (confirmed by a PubAck) before the original is terminated, so nothing is lost and an
operator can inspect and replay it after a fix.
"""

from __future__ import annotations

from datetime import UTC, datetime

from faststream.nats import NatsBroker
from nats.aio.msg import Msg

from lienthong.bus import StreamSpec

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

    async def send(self, msg: Msg, reason: str) -> None:
        """Copy ``msg`` to the dead-letter stream with ``reason``; raises if JetStream did not store it."""
        meta = msg.metadata
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
