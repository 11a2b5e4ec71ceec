"""Composition root of the reporting process: ``python -m services.reporting``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nats.js.errors import NotFoundError

from lienthong import bus
from lienthong.consumer import BatchConsumer, ConsumerSpec
from lienthong.deadletter import DeadLetters
from lienthong.metrics import ConsumerMetrics
from lienthong.runtime import Infrastructure, ServicePlan, configure_logging, serve
from services.reporting import consumer
from services.reporting.grpc_api import SERVICE_NAME, ReportingServicer
from services.reporting.settings import ReportingSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SOURCE_STREAM = "REGISTRY"


def build_plan(settings: ReportingSettings) -> ServicePlan:
    infra = Infrastructure.create(settings)
    dead_letters = DeadLetters(infra.broker, consumer.CONSUMER_NAME)
    registry_events = BatchConsumer(
        broker=infra.broker,
        sessions=infra.sessions,
        spec=ConsumerSpec(
            name=consumer.CONSUMER_NAME,
            stream=SOURCE_STREAM,
            filter_subject="registry.>",
            max_deliver=settings.max_deliver,
            batch_size=settings.batch_size,
            ack_wait_seconds=settings.ack_wait_seconds,
        ),
        decode=consumer.decode,
        apply=consumer.apply,
        metrics=ConsumerMetrics.create(infra.registry),
        dead_letters=dead_letters,
    )

    async def dead_lettered() -> int:
        try:
            info = await bus.jetstream(infra.broker).stream_info(dead_letters.stream.name)
        except NotFoundError:
            return 0
        return info.state.messages

    servicer = ReportingServicer(
        sessions=infra.sessions, consumer=consumer.CONSUMER_NAME, dead_lettered=dead_lettered
    )
    return ServicePlan(
        infra=infra,
        migrations=MIGRATIONS,
        grpc_servicers=[servicer.add_to],
        grpc_service_names=[SERVICE_NAME],
        # Reporting owns only its dead letters; REGISTRY belongs to the registry and is never declared here.
        owned_streams=[dead_letters.stream],
        consumers=[registry_events],
    )


def main() -> None:
    settings = ReportingSettings()
    configure_logging(settings.log_level)
    asyncio.run(serve(build_plan(settings)))
