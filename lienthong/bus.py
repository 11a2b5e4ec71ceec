"""NATS JetStream through FastStream: broker factory and stream ownership.

The department that owns a stream is the only one that declares it. A consumer that declared it too would
silently overwrite the owner's configuration (duplicate window, retention), so consumers only wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from faststream.nats import NatsBroker
from faststream.nats.prometheus import NatsPrometheusMiddleware
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
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


def make_broker(
    servers: str, *, client_name: str, registry: CollectorRegistry, metrics: BusMetrics | None = None
) -> NatsBroker:
    """A broker that reconnects for ever and reports its connection state on ``/metrics``."""
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


def jetstream(broker: NatsBroker) -> JetStreamContext:
    return broker.config.connection_state.stream


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
