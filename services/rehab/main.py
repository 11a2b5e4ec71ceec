"""Composition root of the rehab process: `python -m services.rehab`."""

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
from services.rehab import consumer
from services.rehab.event_mapping import STREAM, SUBJECTS
from services.rehab.grpc_api import SERVICE_NAME, RehabServicer
from services.rehab.handlers import Rehab
from services.rehab.settings import RehabSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def build_plan(settings: RehabSettings) -> ServicePlan:
    infra = Infrastructure.create(settings, field_keys=KeyRing(MasterKey(settings.master_key_bytes())))
    laws = Dated(settings.law_versions)
    operators = Dated(settings.operators)
    rehab = Rehab(
        sessions=infra.sessions,
        audit=AuditLog(infra.sessions, settings.audit_key_bytes(), department="rehab"),
        pseudonymiser=Pseudonymiser(settings.pseudonym_key_bytes(), settings.pseudonym_key_version),
        operators=operators,
        laws=laws,
        rules=settings.rules(),
    )
    dead_letters = DeadLetters(infra.broker, consumer.CONSUMER_NAME)
    court_decisions = BatchConsumer(
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
        decode=consumer.decoder(laws, operators),
        apply=consumer.applier(rehab),
        metrics=ConsumerMetrics.create(infra.registry),
        dead_letters=dead_letters,
    )
    servicer = RehabServicer(rehab)
    return ServicePlan(
        infra=infra,
        migrations=MIGRATIONS,
        grpc_servicers=[servicer.add_to],
        grpc_service_names=[SERVICE_NAME],
        # Rehab declares its own stream and its dead letters; REGISTRY belongs to the registry.
        owned_streams=[
            StreamSpec(name=STREAM, subjects=SUBJECTS, description="Rehab events"),
            dead_letters.stream,
        ],
        relay_stream=STREAM,
        consumers=[court_decisions],
        on_relay=lambda relay: rehab.after_commit.append(relay.notify),
    )


def main() -> None:
    settings = RehabSettings()
    configure_logging(settings.log_level)
    asyncio.run(serve(build_plan(settings)))


if __name__ == "__main__":
    main()
