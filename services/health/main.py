"""Composition root of the health process: `python -m services.health`."""

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
from lienthong.pseudonym import Pseudonymiser
from lienthong.runtime import Infrastructure, ServicePlan, configure_logging, serve
from services.health import consumer
from services.health.event_mapping import STREAM, SUBJECTS
from services.health.grpc_api import SERVICE_NAME, HealthServicer
from services.health.handlers import Health
from services.health.settings import HealthSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def build_plan(settings: HealthSettings) -> ServicePlan:
    infra = Infrastructure.create(settings, field_keys=KeyRing(MasterKey(settings.master_key_bytes())))
    laws = Dated(settings.law_versions)
    health = Health(
        sessions=infra.sessions,
        audit=AuditLog(infra.sessions, settings.audit_key_bytes(), department="health"),
        pseudonymiser=Pseudonymiser(settings.pseudonym_key_bytes(), settings.pseudonym_key_version),
        agency=settings.agency,
        laws=laws,
        determination_max_days=settings.determination_max_days,
        rules=settings.methadone_rules(),
    )
    dead_letters = DeadLetters(infra.broker, consumer.CONSUMER_NAME)
    registry_tests = BatchConsumer(
        broker=infra.broker,
        sessions=infra.sessions,
        spec=ConsumerSpec(
            name=consumer.CONSUMER_NAME,
            stream=consumer.SOURCE_STREAM,
            filter_subject=consumer.SUBJECT,
            max_deliver=settings.max_deliver,
            batch_size=settings.batch_size,
            ack_wait_seconds=settings.ack_wait_seconds,
        ),
        decode=consumer.decoder(laws),
        apply=consumer.applier(health),
        metrics=ConsumerMetrics.create(infra.registry),
        dead_letters=dead_letters,
    )
    servicer = HealthServicer(health)
    return ServicePlan(
        infra=infra,
        migrations=MIGRATIONS,
        grpc_servicers=[servicer.add_to],
        grpc_service_names=[SERVICE_NAME],
        # Health declares its own stream and its dead letters; REGISTRY belongs to the registry.
        owned_streams=[
            StreamSpec(name=STREAM, subjects=SUBJECTS, description="Health events"),
            dead_letters.stream,
        ],
        relay_stream=STREAM,
        consumers=[registry_tests],
        on_relay=lambda relay: health.after_commit.append(relay.notify),
    )


def main() -> None:
    settings = HealthSettings()
    configure_logging(settings.log_level)
    asyncio.run(serve(build_plan(settings)))


if __name__ == "__main__":
    main()
