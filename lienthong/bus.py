"""NATS JetStream through FastStream: broker factory and stream ownership.

The department that owns a stream is the only one that declares it. A consumer that declared it too would
silently overwrite the owner's configuration (duplicate window, retention), so consumers only wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faststream.nats import NatsBroker
from faststream.nats.prometheus import NatsPrometheusMiddleware
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError
from prometheus_client import CollectorRegistry

from lienthong.metrics import BusMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: Sequence[str]
    # Publish de-duplication by Nats-Msg-Id covers a relay restart inside this window; consumers are
    # idempotent anyway for anything older.
    duplicate_window_seconds: float = 120.0
    replicas: int = 1
    description: str = ""
    extra: dict = field(default_factory=dict)

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            description=self.description or None,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            duplicate_window=self.duplicate_window_seconds,
            num_replicas=self.replicas,
            **self.extra,
        )


# Delivery settings of a durable consumer: a consumer that creates its own durable takes them from its
# settings; the durables a stream owner creates for others under NATS accounts get these defaults.
MAX_DELIVER = 5
ACK_WAIT_SECONDS = 30.0
MAX_ACK_PENDING = 20_000


def durable_config(
    name: str,
    filter_subject: str,
    *,
    max_deliver: int = MAX_DELIVER,
    ack_wait_seconds: float = ACK_WAIT_SECONDS,
) -> ConsumerConfig:
    """A durable pull consumer that reads the whole stream through ``filter_subject``, acking each event."""
    return ConsumerConfig(
        name=name,
        durable_name=name,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        max_deliver=max_deliver,
        ack_wait=ack_wait_seconds,
        filter_subject=filter_subject,
        max_ack_pending=MAX_ACK_PENDING,
    )


def make_broker(
    servers: str,
    *,
    client_name: str,
    registry: CollectorRegistry,
    metrics: BusMetrics | None = None,
    nkey_seed_file: Path | None = None,
) -> NatsBroker:
    """A broker that reconnects for ever and reports its connection state on ``/metrics``.

    With ``nkey_seed_file`` it authenticates as the user of that nkey (NATS accounts, ``lienthong.natsauth``).
    """
    metrics = metrics or BusMetrics.create(registry)

    async def disconnected() -> None:
        metrics.connected.set(0)
        if getattr(broker, "lienthong_closing", False):
            return  # our own shutdown, not an outage
        metrics.disconnects.inc()
        log.warning("lost connection to NATS; reconnecting")

    async def reconnected() -> None:
        metrics.connected.set(1)
        log.info("reconnected to NATS")

    async def error(exc: Exception) -> None:
        if "permissions violation" in str(exc).lower():
            # Under NATS accounts: this service tried something its account does not allow (a bug, or a
            # policy and code that disagree). Never the message itself, only the subject the server names.
            log.warning("NATS refused: %s", exc)
            return
        log.debug("NATS client error: %s", exc)

    broker = NatsBroker(
        servers=[s.strip() for s in servers.split(",")],
        name=client_name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
        middlewares=[NatsPrometheusMiddleware(registry=registry, app_name=client_name)],
        # FastStream's per-message INFO lines cost about a third of throughput; warnings still show.
        log_level=logging.DEBUG,
        graceful_timeout=10.0,
        **({"nkeys_seed": str(nkey_seed_file)} if nkey_seed_file else {}),
    )
    broker.lienthong_bus_metrics = metrics  # type: ignore[attr-defined]
    return broker


async def connect(broker: NatsBroker) -> JetStreamContext:
    await broker.connect()
    broker.lienthong_bus_metrics.connected.set(1)  # type: ignore[attr-defined]
    return jetstream(broker)


def mark_closing(broker: NatsBroker) -> None:
    """Say that the coming disconnect is a shutdown, so it is not logged or counted as an outage."""
    broker.lienthong_closing = True  # type: ignore[attr-defined]


def jetstream(broker: NatsBroker, *, prefix: str | None = None) -> JetStreamContext:
    """The broker's JetStream context, or one whose API requests go to ``prefix`` (an imported API)."""
    if prefix is None:
        return broker.config.connection_state.stream
    return broker.config.connection_state.connection.jetstream(prefix=prefix)


async def declare_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    """Create or update the stream this service owns."""
    try:
        await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(config=spec.config())
        log.info("created stream %s", spec.name)
        return
    await js.update_stream(config=spec.config())


async def wait_for_stream(
    js: JetStreamContext, name: str, *, timeout: float | None = 60.0, interval: float = 0.5
) -> None:
    """Wait until the owner has declared ``name`` (for ever with ``timeout=None``); never declare it."""
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
    warned = False
    while True:
        try:
            await js.stream_info(name)
            return
        except NotFoundError:
            if deadline is not None and asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"stream {name} does not exist after {timeout:.0f}s: is its owner running?"
                ) from None
            if not warned:
                log.warning("waiting for stream %s: its owner declares it and has not started yet", name)
                warned = True
            await asyncio.sleep(interval)


async def declare_durable(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create or update a durable consumer on a stream this service owns (for another department)."""
    await js.add_consumer(stream, config=config)
    log.info("durable %s on %s reads %s", config.durable_name, stream, config.filter_subject)


async def delete_durable(js: JetStreamContext, stream: str, name: str) -> None:
    """Remove a durable the policy no longer grants; nothing to do when it is not there."""
    try:
        await js.delete_consumer(stream, name)
    except NotFoundError:
        return
    log.warning("deleted durable %s on %s: the data-sharing policy no longer grants it", name, stream)


async def wait_for_durable(
    js: JetStreamContext, stream: str, name: str, *, interval: float = 0.5, max_interval: float = 2.0
):
    """Wait until the stream's owner has created the durable ``name`` for us; return its info."""
    warned = False
    delay = interval
    while True:
        try:
            return await js.consumer_info(stream, name)
        except (NotFoundError, NatsError, TimeoutError) as exc:
            if not warned:
                log.warning(
                    "waiting for durable %s on %s (%s): its stream's owner creates it", name, stream, exc
                )
                warned = True
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_interval)
