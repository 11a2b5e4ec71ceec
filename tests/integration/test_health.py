"""The health service in-process through its real ``serve()``: real gRPC, real nats-server, real database.
The test plays the registry for the registry → health flow: it owns and declares REGISTRY."""

from __future__ import annotations

import grpc
import nats
import nats.js.errors
import pytest

from lienthong import bus
from lienthong.envelope import Envelope
from lienthong.natsserver import NatsServer
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.health.v1 import events_pb2, health_pb2, health_pb2_grpc
from lienthong_contracts.registry.v1 import events_pb2 as registry_events
from services.health import storage
from services.health.main import build_plan
from services.health.settings import HealthSettings
from tests.conftest import RunningService, ServiceProbe, eventually, plaintext_in, stored_bytes

pytestmark = pytest.mark.integration

HOAN_KIEM = "00070"
CITIZEN_ID = "001099012345"  # Hà Nội, male, born 1999
NAME = "Nguyễn Văn An"
REGISTRY = bus.StreamSpec("REGISTRY", ["registry.>"])
TESTED = "registry.drug_test.positive_recorded.v1"


class Running(ServiceProbe):
    async def health_messages(self, expected: int) -> list:
        return await self.stream_messages("HEALTH", expected)


@pytest.fixture
async def health(nats_server: NatsServer, database_url: str):
    connection = await nats.connect(nats_server.url)
    js = connection.jetstream()
    await bus.declare_stream(js, REGISTRY)
    settings = HealthSettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0, ack_wait_seconds=5
    )
    try:
        async with RunningService(build_plan(settings)) as service:
            assert service.ready["service"] == "health"
            async with grpc.aio.insecure_channel(service.grpc_target) as channel:
                yield Running(health_pb2_grpc.HealthServiceStub(channel), service, js)
    finally:
        await connection.close()


def details(**overrides) -> health_pb2.PersonDetails:
    fields = dict(
        citizen_id=CITIZEN_ID,
        full_name=NAME,
        date_of_birth="1999-04-02",
        sex=common_pb2.SEX_MALE,
        commune_code=HOAN_KIEM,
    )
    return health_pb2.PersonDetails(**{**fields, **overrides})


def assert_pseudonymous(msg, pseudonym: str) -> None:
    assert msg.headers["ce-subject"] == pseudonym and msg.headers["lt-agency"] == "health"
    assert msg.headers["Nats-Msg-Id"] == msg.headers["ce-id"]
    secrets = [CITIZEN_ID.encode(), NAME.encode(), "Nguyễn".encode(), b"1999-04-02"]
    secrets += [c.encode() for c in ("craving", "tolerance", "withdrawal", "loss_of_control", "bv-tamthan")]
    for secret in secrets:
        assert secret not in msg.data and secret not in str(msg.headers).encode(), secret


async def refused(call, request, status, code):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request)
    assert error.value.code() == status, error.value.details()
    trailing = dict(error.value.trailing_metadata())
    assert trailing["error-code"] == code
    assert trailing["message-en"] and trailing["message-vi-bin"]


async def test_determination_commands_publish_one_pseudonymous_event_each(health):
    stub = health.stub
    await stub.RegisterFacility(
        health_pb2.RegisterFacilityRequest(facility_id="bv-tamthan", name="BV Tâm thần", licensed=True)
    )
    requested = await stub.RequestDetermination(
        health_pb2.RequestDeterminationRequest(
            person=details(), requested_on="2026-03-01", legal_case="voluntary"
        )
    )
    assert requested.pseudonym.startswith("1:") and requested.law_version == "law_73_2021"
    assert requested.due_on == "2026-03-06"
    pending = await stub.ListPendingDeterminations(
        health_pb2.ListPendingDeterminationsRequest(commune_code=HOAN_KIEM)
    )
    assert [d.determination_id for d in pending.determinations] == [requested.determination_id]
    recorded = await stub.RecordCriteria(
        health_pb2.RecordCriteriaRequest(
            determination_id=requested.determination_id,
            facility_id="bv-tamthan",
            observed_on="2026-03-02",
            criteria_met=["craving", "tolerance", "withdrawal"],
        )
    )
    assert recorded.result == events_pb2.DETERMINATION_RESULT_ADDICTED
    concluded = await stub.ConcludeDetermination(
        health_pb2.ConcludeDeterminationRequest(
            determination_id=requested.determination_id, facility_id="bv-tamthan", concluded_on="2026-03-09"
        )
    )
    assert concluded.late and concluded.result == events_pb2.DETERMINATION_RESULT_ADDICTED
    messages = await health.health_messages(2)
    assert [m.subject for m in messages] == [
        "health.determination.requested.v1",
        "health.determination.concluded.v1",
    ]
    for msg in messages:
        assert_pseudonymous(msg, requested.pseudonym)
    event = events_pb2.DeterminationConcluded.FromString(messages[1].data)
    assert (event.result, event.concluded_on) == (events_pb2.DETERMINATION_RESULT_ADDICTED, "2026-03-09")
    assert event.person.commune_code == HOAN_KIEM and event.person.age_band == common_pb2.AGE_BAND_18_TO_30
    assert not (
        await stub.ListPendingDeterminations(
            health_pb2.ListPendingDeterminationsRequest(commune_code=HOAN_KIEM)
        )
    ).determinations


async def test_methadone_commands_publish_only_enrolment_and_end(health):
    stub = health.stub
    enrolled = await stub.EnrolMethadone(
        health_pb2.EnrolMethadoneRequest(person=details(), enrolled_on="2025-01-02")
    )
    assert enrolled.law_version == "law_73_2021"
    eid = enrolled.episode_id
    for phase, on in (("titration", "2025-01-10"), ("maintenance", "2025-02-01")):
        await stub.AdvancePhase(health_pb2.AdvancePhaseRequest(episode_id=eid, to_phase=phase, on=on))
    dose = await stub.RecordDose(
        health_pb2.RecordDoseRequest(episode_id=eid, taken_on="2025-02-02", days_covered=3)
    )
    assert dose.covered_until == "2025-02-05"
    await stub.RecordOpioidTest(
        health_pb2.RecordOpioidTestRequest(episode_id=eid, tested_on="2025-03-01", positive=True)
    )
    await stub.RecordBreach(
        health_pb2.RecordBreachRequest(episode_id=eid, occurred_on="2025-03-02", kind="diversion")
    )
    end = health_pb2.EndMethadoneRequest(episode_id=eid, ended_on="2025-03-05", reason="terminated_violation")
    await refused(
        stub.EndMethadone, end, grpc.StatusCode.FAILED_PRECONDITION, "methadone.termination_not_allowed"
    )
    await stub.RecordOpioidTest(
        health_pb2.RecordOpioidTestRequest(episode_id=eid, tested_on="2025-03-04", positive=True)
    )
    await stub.EndMethadone(end)
    messages = await health.health_messages(2)
    assert [m.subject for m in messages] == ["health.methadone.enrolled.v1", "health.methadone.ended.v1"]
    for msg in messages:
        assert_pseudonymous(msg, enrolled.pseudonym)
        assert b"diversion" not in msg.data
    ended = events_pb2.MethadoneEnded.FromString(messages[1].data)
    assert (ended.reason, ended.ended_on, ended.episode_id) == ("terminated_violation", "2025-03-05", eid)
    assert await health.outbox_count() == 2


async def test_detect_dropouts_ends_only_lapsed_episodes(health):
    stub = health.stub
    lapsed = await stub.EnrolMethadone(
        health_pb2.EnrolMethadoneRequest(person=details(), enrolled_on="2025-01-02")
    )
    await stub.RecordDose(
        health_pb2.RecordDoseRequest(episode_id=lapsed.episode_id, taken_on="2025-01-02", days_covered=7)
    )
    other = details(citizen_id="001199012345", sex=common_pb2.SEX_FEMALE, full_name="Trần Thị Hoà")
    active = await stub.EnrolMethadone(
        health_pb2.EnrolMethadoneRequest(person=other, enrolled_on="2025-01-02")
    )
    await stub.RecordDose(health_pb2.RecordDoseRequest(episode_id=active.episode_id, taken_on="2025-02-01"))
    # lapsed: covered until 2025-01-09, dropped out on 2025-02-08; active: covered until 2025-02-02
    none = await stub.DetectDropouts(health_pb2.DetectDropoutsRequest(as_of="2025-02-07"))
    assert list(none.episode_ids) == []
    found = await stub.DetectDropouts(health_pb2.DetectDropoutsRequest(as_of="2025-02-08"))
    assert list(found.episode_ids) == [lapsed.episode_id]
    again = await stub.DetectDropouts(health_pb2.DetectDropoutsRequest(as_of="2025-02-20"))
    assert list(again.episode_ids) == []
    messages = await health.health_messages(3)
    ended = events_pb2.MethadoneEnded.FromString(messages[2].data)
    assert (ended.reason, ended.ended_on) == ("dropped_out", "2025-02-08")


async def test_refusals_write_nothing_and_publish_nothing(health):
    stub = health.stub
    await stub.RegisterFacility(
        health_pb2.RegisterFacilityRequest(facility_id="pk-tu", name="Phòng khám", licensed=False)
    )
    requested = await stub.RequestDetermination(
        health_pb2.RequestDeterminationRequest(
            person=details(), requested_on="2026-03-01", legal_case="police_b"
        )
    )
    enrolled = await stub.EnrolMethadone(
        health_pb2.EnrolMethadoneRequest(person=details(), enrolled_on="2025-01-02")
    )
    before = await health.outbox_count()
    rows_before = await health.table(storage.determinations), await health.table(storage.persons)
    invalid, failed = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
    ask = health_pb2.RequestDeterminationRequest
    cases = [
        (
            stub.RequestDetermination,
            ask(person=details(), requested_on="2026-03-01", legal_case="police_z"),
            invalid,
            "legal_case.unknown",
        ),
        (
            stub.RequestDetermination,
            ask(person=details(citizen_id="00109901234"), requested_on="2026-03-01", legal_case="voluntary"),
            invalid,
            "citizen_id.format",
        ),
        (
            stub.RequestDetermination,
            ask(person=details(citizen_id="001199012345"), requested_on="2026-03-01", legal_case="voluntary"),
            invalid,
            "citizen_id.sex_mismatch",
        ),
        (
            stub.RequestDetermination,
            ask(person=details(commune_code="99999"), requested_on="2026-03-01", legal_case="voluntary"),
            invalid,
            "commune_code.unknown",
        ),
        (
            stub.RequestDetermination,
            ask(requested_on="2026-03-01", legal_case="voluntary"),
            invalid,
            "person.required",
        ),
        (
            stub.RequestDetermination,
            ask(person=details(), requested_on="2999-01-01", legal_case="voluntary"),
            invalid,
            "requested_on.in_future",
        ),
        (
            stub.RequestDetermination,
            ask(person=details(), requested_on="2021-06-01", legal_case="voluntary"),
            invalid,
            "requested_on.before_law",
        ),
        (
            stub.RecordCriteria,
            health_pb2.RecordCriteriaRequest(
                determination_id=requested.determination_id, facility_id="pk-tu", observed_on="2026-03-02"
            ),
            failed,
            "facility.not_licensed",
        ),
        (
            stub.RecordCriteria,
            health_pb2.RecordCriteriaRequest(
                determination_id=requested.determination_id, facility_id="nowhere", observed_on="2026-03-02"
            ),
            grpc.StatusCode.NOT_FOUND,
            "facility.not_found",
        ),
        (
            stub.RecordCriteria,
            health_pb2.RecordCriteriaRequest(
                determination_id=requested.determination_id,
                facility_id="pk-tu",
                observed_on="2026-03-02",
                criteria_met=["fever"],
            ),
            invalid,
            "criteria_met.unknown",
        ),
        (
            stub.ConcludeDetermination,
            health_pb2.ConcludeDeterminationRequest(
                determination_id=requested.determination_id, facility_id="pk-tu", concluded_on="2026-03-02"
            ),
            failed,
            "facility.not_licensed",
        ),
        (
            stub.EnrolMethadone,
            health_pb2.EnrolMethadoneRequest(person=details(), enrolled_on="2025-06-01"),
            failed,
            "methadone.already_open",
        ),
        (
            stub.AdvancePhase,
            health_pb2.AdvancePhaseRequest(
                episode_id=enrolled.episode_id, to_phase="maintenance", on="2025-02-01"
            ),
            failed,
            "methadone.phase_order",
        ),
        (
            stub.EndMethadone,
            health_pb2.EndMethadoneRequest(
                episode_id=enrolled.episode_id, ended_on="2025-02-01", reason="completed"
            ),
            failed,
            "methadone.not_tapering",
        ),
        (
            stub.EndMethadone,
            health_pb2.EndMethadoneRequest(
                episode_id=enrolled.episode_id, ended_on="2025-02-01", reason="dropped_out"
            ),
            invalid,
            "reason.unknown",
        ),
        (
            stub.EndMethadone,
            health_pb2.EndMethadoneRequest(episode_id="not-a-uuid", ended_on="2025-02-01", reason="died"),
            invalid,
            "episode_id.format",
        ),
        (
            stub.RecordDose,
            health_pb2.RecordDoseRequest(episode_id=enrolled.episode_id, taken_on="2024-12-01"),
            invalid,
            "taken_on.too_early",
        ),
        (
            stub.RecordBreach,
            health_pb2.RecordBreachRequest(
                episode_id=enrolled.episode_id, occurred_on="2025-02-01", kind="rude"
            ),
            invalid,
            "kind.unknown",
        ),
        (
            stub.DetectDropouts,
            health_pb2.DetectDropoutsRequest(as_of="2999-01-01"),
            invalid,
            "as_of.in_future",
        ),
    ]
    for call, request, status, code in cases:
        await refused(call, request, status, code)
    assert await health.outbox_count() == before
    assert (await health.table(storage.determinations), await health.table(storage.persons)) == rows_before
    assert await health.table(storage.doses) == []
    assert await health.table(storage.breaches) == []


async def test_reading_a_person_needs_officer_and_purpose_and_is_recorded(health):
    stub = health.stub
    requested = await stub.RequestDetermination(
        health_pb2.RequestDeterminationRequest(
            person=details(), requested_on="2026-03-01", legal_case="voluntary"
        )
    )
    query = health_pb2.GetPersonHealthRequest(pseudonym=requested.pseudonym)
    await refused(stub.GetPersonHealth, query, grpc.StatusCode.PERMISSION_DENIED, "read.unidentified")
    record = await stub.GetPersonHealth(
        query, metadata=(("x-officer-id", "YT-HK-7"), ("x-purpose", "treatment"))
    )
    assert (record.citizen_id, record.full_name) == (CITIZEN_ID, NAME)
    assert [d.legal_case for d in record.determinations] == ["voluntary"]
    # Encrypted at rest: neither is in the database file (or PostgreSQL rows).
    stored = await stored_bytes(health.service.plan.infra.settings.database_url)
    assert requested.pseudonym.encode() in stored and plaintext_in(stored, [CITIZEN_ID, NAME]) == []
    rows = await health.table(storage.tables.audit_log)
    assert [(r.officer_id, r.purpose, r.subject) for r in rows] == [
        ("YT-HK-7", "treatment", requested.pseudonym)
    ]


# --- registry → health ---------------------------------------------------------------------------


def registry_event(
    test_id: str, during: bool, pseudonym: str = "1:" + "b" * 32, payload: bytes | None = None
) -> Envelope:
    message = registry_events.PositiveDrugTestRecorded(
        person=common_pb2.PersonRef(
            pseudonym=pseudonym,
            sex=common_pb2.SEX_FEMALE,
            age_band=common_pb2.AGE_BAND_30_AND_OVER,
            commune_code=HOAN_KIEM,
            province_code="01",
        ),
        test_id=test_id,
        tested_on="2025-05-10",
        substance="heroin",
        during_management=during,
    )
    return Envelope.new(
        subject=TESTED,
        source="lienthong/registry",
        person=pseudonym,
        aggregate_id="registry-person-1",
        aggregate_version=2,
        agency="police",
        payload=message.SerializeToString() if payload is None else payload,
    )


async def publish(js, envelope: Envelope, msg_id: str | None = None) -> None:
    headers = envelope.headers()
    if msg_id:
        headers["Nats-Msg-Id"] = msg_id
    ack = await js.publish(envelope.subject, envelope.payload, headers=headers, stream="REGISTRY")
    assert ack.stream == "REGISTRY" and not ack.duplicate


async def consumer_done(js, delivered: int):
    async def check():
        try:
            info = await js.consumer_info("REGISTRY", "health")
        except nats.js.errors.NotFoundError:  # created by the subscriber shortly after start
            return False
        return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq == delivered

    await eventually(check, message=f"health consumed {delivered} registry events")


async def test_positive_test_during_management_opens_one_request_even_when_sent_twice(health):
    first = registry_event("t-1", during=True)
    await publish(health.js, first)
    await publish(health.js, first, msg_id="another-message-id")  # same ce-id, past the dedup window
    replay = registry_event("t-1", during=True)  # a replay with a new ce-id: keyed by the test id
    await publish(health.js, replay)
    await publish(health.js, registry_event("t-2", during=False))
    await consumer_done(health.js, 4)
    (message,) = await health.health_messages(1)
    assert message.subject == "health.determination.requested.v1"
    event = events_pb2.DeterminationRequested.FromString(message.data)
    assert (event.legal_case, event.requested_on) == ("police_a", "2025-05-10")
    assert event.person.pseudonym == "1:" + "b" * 32 and event.person.sex == common_pb2.SEX_FEMALE
    rows = await health.table(storage.determinations)
    assert [(r.source_test_id, r.legal_case, r.concluded_on, r.facility_id) for r in rows] == [
        ("t-1", "police_a", None, None)
    ]
    (person,) = await health.table(storage.persons)
    assert person.citizen_id_enc is None and person.age_band == "30_and_over"
    pending = await health.stub.ListPendingDeterminations(
        health_pb2.ListPendingDeterminationsRequest(commune_code=HOAN_KIEM)
    )
    assert [d.pseudonym for d in pending.determinations] == [person.pseudonym]


async def test_positive_test_outside_management_asks_nothing(health):
    await publish(health.js, registry_event("t-3", during=False))
    await consumer_done(health.js, 1)
    assert await health.table(storage.determinations) == []
    assert await health.outbox_count() == 0


async def test_undecodable_registry_events_go_to_the_dead_letter_stream(health):
    garbage = registry_event("t-4", during=True, payload=b"\xff\x00garbage")
    await publish(health.js, garbage)
    await publish(health.js, registry_event("t-5", during=True, pseudonym="not-a-pseudonym"))
    await publish(health.js, registry_event("t-6", during=True))

    async def dead():
        try:
            return (await health.js.stream_info("DLQ_HEALTH")).state.messages == 2
        except Exception:
            return False

    await eventually(dead, message="2 dead letters in DLQ_HEALTH")
    first = await health.js.get_msg("DLQ_HEALTH", 1)
    assert first.headers["ce-id"] == garbage.event_id
    assert "payload is not a lienthong.registry.v1.PositiveDrugTestRecorded" in first.headers["lt-dlq-reason"]
    second = await health.js.get_msg("DLQ_HEALTH", 2)
    assert "person.pseudonym" in second.headers["lt-dlq-reason"]
    await consumer_done(health.js, 3)
    assert [r.source_test_id for r in await health.table(storage.determinations)] == ["t-6"]
