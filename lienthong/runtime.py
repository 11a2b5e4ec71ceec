"""Composition of one service process: database, migrations, bus, relay, consumers, gRPC and /metrics.

Each service's ``main`` builds a :class:`ServicePlan` and hands it to :func:`serve`, which starts things in
dependency order, prints one ``ready`` line (JSON, with the ports actually bound) and shuts down cleanly
on SIGINT/SIGTERM: gRPC stops taking calls, the relay and consumers finish their batch, the broker drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import grpc
from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lienthong import bus, fieldkeys, grpcserver, migrate, natsauth, policy
from lienthong.bus import StreamSpec
from lienthong.consumer import BatchConsumer
from lienthong.db import create_engine, session_factory
from lienthong.fieldkeys import KeyRing
from lienthong.metrics import MetricsServer, OutboxMetrics, new_registry
from lienthong.outbox import OutboxRelay
from lienthong.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class Infrastructure:
    """What a service's handlers are built from; created before the plan so handlers can share it."""

    settings: ServiceSettings
    registry: CollectorRegistry
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: NatsBroker
    # The keys of the personal fields a department encrypts at rest (None for reporting, which holds none).
    field_keys: KeyRing | None = None

    @classmethod
    def create(cls, settings: ServiceSettings, *, field_keys: KeyRing | None = None) -> Infrastructure:
        registry = new_registry()
        engine = create_engine(settings.database_url)
        return cls(
            settings=settings,
            registry=registry,
            engine=engine,
            sessions=session_factory(engine, info=field_keys.session_info() if field_keys else None),
            field_keys=field_keys,
            broker=bus.make_broker(
                settings.nats_url,
                client_name=f"lienthong-{settings.service_name}",
                registry=registry,
                nkey_seed_file=settings.nats_nkey_seed_file,
            ),
        )


@dataclass
class ServicePlan:
    infra: Infrastructure
    migrations: Path
    grpc_servicers: Iterable[Callable[[grpc.aio.Server], None]]
    grpc_service_names: Iterable[str]
    owned_streams: list[StreamSpec] = field(default_factory=list)
    relay_stream: str | None = None
    consumers: list[BatchConsumer] = field(default_factory=list)
    # The relay is created by serve(); the command side gets a way to wake it after each commit.
    on_relay: Callable[[OutboxRelay], None] | None = None
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faststream").setLevel(logging.WARNING)


async def _connect_with_retry(broker: NatsBroker, url: str) -> None:
    delay = 0.5
    while True:
        try:
            await bus.connect(broker)
            return
        except Exception as exc:
            log.warning("NATS at %s not reachable (%s); retrying in %.1fs", url, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _every(seconds: float, action: Callable[[], Awaitable[None]]) -> None:
    while True:
        try:
            await action()
        except Exception as exc:
            log.debug("periodic task failed: %s", exc)
        await asyncio.sleep(seconds)


async def serve(
    plan: ServicePlan,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict], None] | None = None,
) -> None:
    """Run the service until SIGINT/SIGTERM, or until ``stop`` is set when one is given (tests).

    gRPC starts first and answers health checks with NOT_SERVING until the bus is connected and the
    service's own streams are declared. Consumers attach in the background as soon as the other
    department's stream exists: one department's API never waits for another department to be up.
    ``on_ready`` receives the same dictionary as the printed ``ready`` line. Whatever was started is
    stopped again, in reverse order, also when start-up fails or the task is cancelled.
    """
    infra, settings = plan.infra, plan.infra.settings
    names = list(plan.grpc_service_names)
    async with contextlib.AsyncExitStack() as started:
        if stop is None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
                started.callback(loop.remove_signal_handler, sig)
        started.push_async_callback(infra.engine.dispose)

        keys = infra.field_keys
        await migrate.upgrade(
            infra.engine,
            plan.migrations,
            attributes={fieldkeys.MIGRATION_ATTRIBUTE: keys.master} if keys else None,
        )
        if keys:
            await keys.open(infra.sessions)
        metrics_server = MetricsServer(infra.registry, settings.metrics_host, settings.metrics_port)
        started.callback(metrics_server.close)
        server, grpc_port, health = await grpcserver.start_server(
            host=settings.grpc_host,
            port=settings.grpc_port,
            registry=infra.registry,
            add_servicers=plan.grpc_servicers,
            service_names=names,
            initially_serving=False,
        )

        async def stop_grpc() -> None:
            await health.enter_graceful_shutdown()
            await server.stop(grace=5)

        started.push_async_callback(stop_grpc)

        await _connect_with_retry(infra.broker, settings.nats_url)
        started.push_async_callback(_stop_broker, infra.broker)
        js = bus.jetstream(infra.broker)
        for spec in plan.owned_streams:
            await bus.declare_stream(js, spec)
        if settings.nats_accounts:
            await declare_granted_durables(js, settings.service_name)
        await infra.broker.start()

        tasks: list[asyncio.Task] = []
        started.push_async_callback(_cancel_all, tasks)
        for consumer in plan.consumers:
            started.push_async_callback(consumer.close)
            # Under NATS accounts the durable is created by the stream's owner (above, in its process) with
            # the policy's filter; this service may only bind to it.
            attach = consumer.attach(granted=settings.nats_accounts)
            tasks.append(asyncio.create_task(attach, name=f"attach-{consumer.spec.name}"))
        if plan.relay_stream:
            relay = OutboxRelay(
                sessions=infra.sessions,
                broker=infra.broker,
                stream=plan.relay_stream,
                holder=f"{socket.gethostname()}:{os.getpid()}",
                metrics=OutboxMetrics.create(infra.registry),
            )
            if plan.on_relay:
                plan.on_relay(relay)
            for consumer in plan.consumers:
                consumer.after_commit.append(relay.notify)
            relay_task = asyncio.create_task(relay.run(), name="outbox-relay")

            async def stop_relay() -> None:
                # The relay finishes the batch it is publishing, so its marks are not lost.
                relay.stop()
                await asyncio.gather(relay_task, return_exceptions=True)

            started.push_async_callback(stop_relay)
        for consumer in plan.consumers:
            tasks.append(
                asyncio.create_task(_every(2.0, consumer.refresh_lag), name=f"lag-{consumer.spec.name}")
            )
        tasks.extend(asyncio.create_task(job()) for job in plan.background)

        await grpcserver.set_serving(health, names, serving=True)
        ready = {
            "event": "ready",
            "service": settings.service_name,
            "grpc": f"{settings.grpc_host}:{grpc_port}",
            "metrics": f"http://{metrics_server.host}:{metrics_server.port}/metrics",
            "pid": os.getpid(),
        }
        if on_ready:
            on_ready(ready)
        else:
            print(json.dumps(ready), flush=True)
        await stop.wait()
        log.info("shutting down %s", settings.service_name)


async def declare_granted_durables(js: JetStreamContext, owner: str, day: date | None = None) -> None:
    """As the owner of a stream, create the durables the data-sharing policy grants others on it, with the
    policy's filter, and delete those it no longer grants (NATS accounts: readers cannot create them)."""
    granted, revoked = natsauth.grants_owned_by(policy.load(), owner, day or date.today())
    for grant in granted:
        await bus.declare_durable(js, grant.stream, bus.durable_config(grant.durable, grant.filter_subject))
    for durable in revoked:
        await bus.delete_durable(js, natsauth.stream_of(owner), durable)


async def _stop_broker(broker: NatsBroker) -> None:
    bus.mark_closing(broker)
    await broker.stop()


async def _cancel_all(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
