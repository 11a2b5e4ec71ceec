"""Health's events reach the registry (domain.md §4): the test plays the health department as stream owner."""

from __future__ import annotations

import grpc
import nats
import pytest
from sqlalchemy import select

from lienthong import bus
from lienthong.envelope import Envelope
from lienthong_contracts.aftercare.v1 import events_pb2 as aftercare_events
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.health.v1 import events_pb2 as health_events
from lienthong_contracts.registry.v1 import registry_pb2, registry_pb2_grpc
from services.registry.main import build_plan
from services.registry.settings import RegistrySettings
from services.registry.storage import flags, managements
from tests.conftest import RunningService, eventually

pytestmark = pytest.mark.integration


def health_event(subject: str, message, pseudonym: str) -> Envelope:
    return Envelope.new(
        subject=subject,
        source="lienthong/health",
        person=pseudonym,
        aggregate_id="episode-1",
        aggregate_version=1,
        agency="health",
        payload=message.SerializeToString(),
    )


def ref(pseudonym: str) -> common_pb2.PersonRef:
    return common_pb2.PersonRef(
        pseudonym=pseudonym,
        sex=common_pb2.SEX_MALE,
        age_band=common_pb2.AGE_BAND_18_TO_30,
        commune_code="00070",
        province_code="01",
    )


async def test_health_events_end_management_and_raise_flags(nats_server, database_url):
    settings = RegistrySettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0
    )
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await bus.declare_stream(js, bus.StreamSpec("HEALTH", ["health.>"]))
    await bus.declare_stream(js, bus.StreamSpec("AFTERCARE", ["aftercare.>"]))
    async with RunningService(build_plan(settings)) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            person = await stub.RegisterPerson(
                registry_pb2.RegisterPersonRequest(
                    citizen_id="001099012345",
                    full_name="Phạm Văn Cường",
                    date_of_birth="1999-05-05",
                    sex=common_pb2.SEX_MALE,
                    commune_code="00070",
                )
            )
            await stub.RecordPositiveDrugTest(
                registry_pb2.RecordPositiveDrugTestRequest(
                    person_id=person.person_id, tested_on="2025-01-05", substance="heroin"
                )
            )
            decision = await stub.IssueManagementDecision(
                registry_pb2.IssueManagementDecisionRequest(
                    person_id=person.person_id, decision_number="7/QĐ-UBND", decided_on="2025-01-10"
                )
            )

        addicted = health_event(
            "health.determination.concluded.v1",
            health_events.DeterminationConcluded(
                person=ref(person.pseudonym),
                determination_id="d1",
                concluded_on="2025-04-02",
                result=health_events.DETERMINATION_RESULT_ADDICTED,
            ),
            person.pseudonym,
        )
        headers = addicted.headers()
        await js.publish(addicted.subject, addicted.payload, headers=headers, stream="HEALTH")
        await js.publish(
            addicted.subject, addicted.payload, headers={**headers, "Nats-Msg-Id": "again"}, stream="HEALTH"
        )
        enrolled = health_event(
            "health.methadone.enrolled.v1",
            health_events.MethadoneEnrolled(
                person=ref(person.pseudonym), episode_id="e1", enrolled_on="2025-05-01"
            ),
            person.pseudonym,
        )
        await js.publish(enrolled.subject, enrolled.payload, headers=enrolled.headers(), stream="HEALTH")
        other = "1:" + "b" * 32  # someone the registry never registered
        stopped = health_event(
            "health.methadone.ended.v1",
            health_events.MethadoneEnded(
                person=ref(other), episode_id="e2", ended_on="2025-06-01", reason="voluntary_stop"
            ),
            other,
        )
        await js.publish(stopped.subject, stopped.payload, headers=stopped.headers(), stream="HEALTH")
        # An earlier episode's termination arrives after it: the ground holds from the earlier date.
        terminated = health_event(
            "health.methadone.ended.v1",
            health_events.MethadoneEnded(
                person=ref(other), episode_id="e0", ended_on="2025-02-01", reason="terminated_violation"
            ),
            other,
        )
        await js.publish(
            terminated.subject, terminated.payload, headers=terminated.headers(), stream="HEALTH"
        )
        await js.publish("health.methadone.ended.v1", b"\x00garbage", stream="HEALTH")
        adult, minor = "1:" + "c" * 32, "1:" + "d" * 32
        for pseudonym, is_adult in ((adult, True), (minor, False)):
            relapse = Envelope.new(
                subject="aftercare.relapse.confirmed.v1",
                source="lienthong/aftercare",
                person=pseudonym,
                aggregate_id="case-1",
                aggregate_version=3,
                agency="police",
                payload=aftercare_events.RelapseConfirmed(
                    person=ref(pseudonym), case_id="case-1", determined_on="2025-07-01", adult=is_adult
                ).SerializeToString(),
            )
            await js.publish(relapse.subject, relapse.payload, headers=relapse.headers(), stream="AFTERCARE")

        async def state():
            async with service.plan.infra.sessions() as session:
                ended = (
                    await session.execute(select(managements.c.ended_on, managements.c.end_reason))
                ).all()
                raised = (await session.execute(select(flags.c.pseudonym, flags.c.kind, flags.c.since))).all()
            return ended, sorted(raised)

        async def settled():
            ended, raised = await state()
            methadone = [r for r in raised if r.kind == "compulsory_ground_methadone"]
            return (
                ended[0].end_reason == "addicted"
                and len(raised) == 3
                and str(methadone[0].since) == "2025-02-01"
            )

        await eventually(settled, timeout=30, message="management ended and three flags raised")

        async def published_end():
            info = await js.stream_info("REGISTRY", subjects_filter="registry.management.ended.v1")
            return info.state.subjects and info.state.subjects.get("registry.management.ended.v1") == 1

        await eventually(published_end, timeout=20, message="one registry.management.ended.v1")

        async def dead_letter():
            try:
                return (await js.stream_info("DLQ_REGISTRY")).state.messages == 1
            except nats.js.errors.NotFoundError:
                return False

        await eventually(dead_letter, message="the garbage event dead-lettered")
        ended, raised = await state()
    await nc.close()
    assert [(str(e.ended_on), e.end_reason) for e in ended] == [("2025-04-02", "addicted")]
    assert sorted((r.pseudonym, r.kind, str(r.since)) for r in raised) == sorted(
        [
            (person.pseudonym, "rehab_registration", "2025-04-02"),
            (other, "compulsory_ground_methadone", "2025-02-01"),
            (adult, "compulsory_ground_relapse", "2025-07-01"),  # a minor's relapse is no ground
        ]
    )
    assert decision.management_id
