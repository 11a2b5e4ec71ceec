"""Composition root of the reporting process: ``python -m services.reporting``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from lienthong import bus
from lienthong.consumer import BatchConsumer, ConsumerSpec
from lienthong.deadletter import DeadLetters
from lienthong.metrics import ConsumerMetrics
from lienthong.runtime import Infrastructure, ServicePlan, configure_logging, serve
from services.reporting import consumer, handlers
from services.reporting.alerts import rulebook
from services.reporting.grpc_api import SERVICE_NAME, ReportingServicer
from services.reporting.rebuild import Rebuilder
from services.reporting.settings import ReportingSettings
from services.reporting.sources import DEAD_LETTER_NAME, SOURCES, Source

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def build_plan(settings: ReportingSettings) -> ServicePlan:
    rulebook.current()  # a bad alerts/rules.toml stops the start, naming the place
    infra = Infrastructure.create(settings)
    dead_letters = DeadLetters(infra.broker, DEAD_LETTER_NAME)
    metrics = ConsumerMetrics.create(infra.registry)

    def source_consumer(source: Source) -> BatchConsumer:
        return BatchConsumer(
            broker=infra.broker,
            sessions=infra.sessions,
            spec=ConsumerSpec(
                name=source.consumer,
                stream=source.stream,
                filter_subject=source.filter_subject,
                max_deliver=settings.max_deliver,
                batch_size=settings.batch_size,
                ack_wait_seconds=settings.ack_wait_seconds,
            ),
            decode=consumer.decode,
            apply=consumer.applier(source.consumer),
            metrics=metrics,
            dead_letters=dead_letters,
        )

    async def broker_view(source: Source) -> handlers.BrokerView:
        """What JetStream says of one source: messages not yet acked, and dead letters from it."""
        js = bus.jetstream(infra.broker)
        try:
            # Through the consumer: under NATS accounts its durable's API is imported from the owner.
            info = await consumers[source.consumer].info()
            pending = (info.num_pending or 0) + (info.num_ack_pending or 0)
        except (NotFoundError, NatsError, TimeoutError):
            pending = -1
        try:
            dlq = await js.stream_info(
                dead_letters.stream.name, subjects_filter=f"dlq.{DEAD_LETTER_NAME}.{source.department}.>"
            )
            dead = sum((dlq.state.subjects or {}).values())
        except NotFoundError:
            dead = 0
        return handlers.BrokerView(pending=pending, dead_lettered=dead)

    consumers = {source.consumer: source_consumer(source) for source in SOURCES}
    servicer = ReportingServicer(
        sessions=infra.sessions,
        sources=SOURCES,
        broker_view=broker_view,
        catalogue=settings.indicators(),
        plans=settings.plans(),
    )
    servicer.rebuilder = Rebuilder(
        sessions=infra.sessions,
        broker=infra.broker,
        consumers=list(consumers.values()),
        dead_letters=dead_letters,
    )
    return ServicePlan(
        infra=infra,
        migrations=MIGRATIONS,
        grpc_servicers=[servicer.add_to],
        grpc_service_names=[SERVICE_NAME],
        # Reporting owns only its dead letters; the department streams belong to their departments and are
        # never declared here.
        owned_streams=[dead_letters.stream],
        consumers=list(consumers.values()),
        background=[servicer.rebuilder.guard],
    )


def main() -> None:
    settings = ReportingSettings()
    configure_logging(settings.log_level)
    asyncio.run(serve(build_plan(settings)))
