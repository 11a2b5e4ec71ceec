"""Composition root of the registry process: `python -m services.registry`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lienthong.audit import AuditLog
from lienthong.bus import StreamSpec
from lienthong.consumer import BatchConsumer, ConsumerSpec
from lienthong.deadletter import DeadLetters
from lienthong.fieldcrypto import MasterKey
from lienthong.fieldkeys import KeyRing
from lienthong.metrics import ConsumerMetrics
from lienthong.pseudonym import Pseudonymiser
from lienthong.runtime import Infrastructure, ServicePlan, configure_logging, serve
from lienthong_contracts.registry.v1 import registry_pb2_grpc
from services.registry import consumer
from services.registry.event_mapping import STREAM, SUBJECTS
from services.registry.grpc_api import SERVICE_NAME, RegistryServicer
from services.registry.handlers import Registry
from services.registry.settings import RegistrySettings

MIGRATIONS = Path(__file__).parent / "migrations"


def build_plan(settings: RegistrySettings) -> ServicePlan:
    infra = Infrastructure.create(settings, field_keys=KeyRing(MasterKey(settings.master_key_bytes())))
    registry = Registry(
        sessions=infra.sessions,
        audit=AuditLog(infra.sessions, settings.audit_key_bytes(), department="registry"),
        pseudonymiser=Pseudonymiser(settings.pseudonym_key_bytes(), settings.pseudonym_key_version),
        agency=settings.agency,
    )
    servicer = RegistryServicer(registry)
    dead_letters = DeadLetters(infra.broker, consumer.CONSUMER_NAME)
    metrics = ConsumerMetrics.create(infra.registry)  # one family per registry, shared by both consumers
    events = consumer.DepartmentEvents(agency=settings.agency)
    other_departments = [
        BatchConsumer(
            broker=infra.broker,
            sessions=infra.sessions,
            spec=ConsumerSpec(name=name, stream=stream, filter_subject=subject),
            decode=consumer.decode,
            apply=events.apply,
            metrics=metrics,
            dead_letters=dead_letters,
        )
        for name, stream, subject in (
            (consumer.CONSUMER_NAME, consumer.SOURCE_STREAM, consumer.FILTER),
            (consumer.AFTERCARE_CONSUMER, consumer.AFTERCARE_STREAM, consumer.AFTERCARE_FILTER),
        )
    ]
    return ServicePlan(
        infra=infra,
        migrations=MIGRATIONS,
        grpc_servicers=[
            lambda server: registry_pb2_grpc.add_RegistryServiceServicer_to_server(servicer, server)
        ],
        grpc_service_names=[SERVICE_NAME],
        owned_streams=[
            StreamSpec(name=STREAM, subjects=SUBJECTS, description="Registry (police) events"),
            dead_letters.stream,
        ],
        consumers=other_departments,
        relay_stream=STREAM,
        on_relay=lambda relay: registry.after_commit.append(relay.notify),
    )


def main() -> None:
    settings = RegistrySettings()
    configure_logging(settings.log_level)
    asyncio.run(serve(build_plan(settings)))


if __name__ == "__main__":
    main()
