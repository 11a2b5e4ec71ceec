"""Composition root of the aftercare process: `python -m services.aftercare`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lienthong.audit import AuditLog
from lienthong.bus import StreamSpec
from lienthong.consumer import BatchConsumer, ConsumerSpec
from lienthong.dated import Dated
from lienthong.deadletter import DeadLetters
from lienthong.fieldcrypto import MasterKey
from lienthong.fieldkeys import KeyRing
from lienthong.metrics import ConsumerMetrics
from lienthong.runtime import Infrastructure, ServicePlan, configure_logging, serve
from services.aftercare import consumer
from services.aftercare.event_mapping import STREAM, SUBJECTS
from services.aftercare.grpc_api import SERVICE_NAME, AftercareServicer
from services.aftercare.handlers import Aftercare
from services.aftercare.registry_client import RegistryDirectory
from services.aftercare.settings import AftercareSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def build_plan(settings: AftercareSettings) -> ServicePlan:
    infra = Infrastructure.create(settings, field_keys=KeyRing(MasterKey(settings.master_key_bytes())))
    laws, operators = Dated(settings.law_versions), Dated(settings.operators)
    aftercare = Aftercare(
        sessions=infra.sessions,
        audit=AuditLog(infra.sessions, settings.audit_key_bytes(), department="aftercare"),
        operators=operators,
        laws=laws,
        terms=settings.terms(),
        placement_alert_days=settings.placement_alert_days,
    )
    # One dead-letter stream for both consumers (DLQ_AFTERCARE), and one set of consumer metrics: the
    # metric names may be registered only once per registry; the consumer name is a label.
    dead_letters = DeadLetters(infra.broker, consumer.DEAD_LETTER_NAME)
    metrics = ConsumerMetrics.create(infra.registry)
    apply = consumer.applier(aftercare)

    def batch_consumer(name: str, stream: str, subject: str, decode) -> BatchConsumer:
        return BatchConsumer(
            broker=infra.broker,
            sessions=infra.sessions,
            spec=ConsumerSpec(
                name=name,
                stream=stream,
                filter_subject=subject,
                max_deliver=settings.max_deliver,
                batch_size=settings.batch_size,
                ack_wait_seconds=settings.ack_wait_seconds,
            ),
            decode=decode,
            apply=apply,
            metrics=metrics,
            dead_letters=dead_letters,
        )

    consumers = [
        batch_consumer(
            consumer.REHAB_CONSUMER,
            consumer.REHAB_STREAM,
            consumer.REHAB_SUBJECT,
            consumer.rehab_decoder(laws, operators),
        ),
        batch_consumer(
            consumer.HEALTH_CONSUMER,
            consumer.HEALTH_STREAM,
            consumer.HEALTH_SUBJECT,
            consumer.health_decoder(laws, operators),
        ),
    ]
    servicer = AftercareServicer(aftercare, RegistryDirectory(settings.registry_target))
    return ServicePlan(
        infra=infra,
        migrations=MIGRATIONS,
        grpc_servicers=[servicer.add_to],
        grpc_service_names=[SERVICE_NAME],
        # Aftercare declares its own stream and its dead letters; REHAB and HEALTH belong to their owners.
        owned_streams=[
            StreamSpec(name=STREAM, subjects=SUBJECTS, description="Aftercare events"),
            dead_letters.stream,
        ],
        relay_stream=STREAM,
        consumers=consumers,
        on_relay=lambda relay: aftercare.after_commit.append(relay.notify),
    )


def main() -> None:
    settings = AftercareSettings()
    configure_logging(settings.log_level)
    asyncio.run(serve(build_plan(settings)))


if __name__ == "__main__":
    main()
