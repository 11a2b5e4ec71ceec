"""The rehab service in-process through its real ``serve()``: real gRPC, real nats-server, real database.
The test plays the registry for the registry → rehab flow: it owns and declares REGISTRY."""

from __future__ import annotations

import grpc
import nats
import nats.js.errors
import pytest

from lienthong import bus
from lienthong.envelope import Envelope
from lienthong.natsserver import NatsServer
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import events_pb2 as registry_events
from lienthong_contracts.rehab.v1 import events_pb2, rehab_pb2, rehab_pb2_grpc
from services.rehab import storage
from services.rehab.main import build_plan
from services.rehab.settings import RehabSettings
from tests.conftest import RunningService, ServiceProbe, eventually, plaintext_in, stored_bytes

pytestmark = pytest.mark.integration

HOAN_KIEM = "00070"
CITIZEN_ID = "001099012345"  # Hà Nội, male, born 1999
NAME = "Nguyễn Văn An"
REGISTRY = bus.StreamSpec("REGISTRY", ["registry.>"])
DECIDED = "registry.compulsory_dossier.decided.v1"
PSEUDONYM = "1:" + "c" * 32


class Running(ServiceProbe):
    async def rehab_messages(self, expected: int) -> list:
        return await self.stream_messages("REHAB", expected)


@pytest.fixture
async def rehab(nats_server: NatsServer, database_url: str):
    connection = await nats.connect(nats_server.url)
    js = connection.jetstream()
    await bus.declare_stream(js, REGISTRY)
    settings = RehabSettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0, ack_wait_seconds=5
    )
    try:
        async with RunningService(build_plan(settings)) as service:
            assert service.ready["service"] == "rehab"
            async with grpc.aio.insecure_channel(service.grpc_target) as channel:
                yield Running(rehab_pb2_grpc.RehabServiceStub(channel), service, js)
    finally:
        await connection.close()


def details(**overrides) -> rehab_pb2.PersonDetails:
    fields = dict(
        citizen_id=CITIZEN_ID,
        full_name=NAME,
        date_of_birth="1999-04-02",
        sex=common_pb2.SEX_MALE,
        commune_code=HOAN_KIEM,
    )
    return rehab_pb2.PersonDetails(**{**fields, **overrides})


def facility(code: str, public: bool = True, capacity: int = 10, type: str = "multi_function"):
    return rehab_pb2.RegisterFacilityRequest(
        facility_code=code,
        name=f"Cơ sở {code}",
        public=public,
        operator="Sở LĐ-TB&XH Hà Nội" if public else "Công ty Bình An",
        capacity=capacity,
        type=type,
        commune_code=HOAN_KIEM,
    )


def assert_pseudonymous(msg, pseudonym: str, agency: str) -> None:
    assert msg.headers["ce-subject"] == pseudonym and msg.headers["lt-agency"] == agency
    assert msg.headers["Nats-Msg-Id"] == msg.headers["ce-id"]
    for secret in (CITIZEN_ID.encode(), NAME.encode(), "Nguyễn".encode(), b"1999-04-02"):
        assert secret not in msg.data and secret not in str(msg.headers).encode(), secret


async def refused(call, request, status, code):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request)
    assert error.value.code() == status, error.value.details()
    trailing = dict(error.value.trailing_metadata())
    assert trailing["error-code"] == code
    assert trailing["message-en"] and trailing["message-vi-bin"]


async def test_commands_publish_one_event_each_with_the_operator_of_the_act_date(rehab):
    stub = rehab.stub
    await stub.RegisterFacility(facility("ccn-so-1"))
    voluntary = await stub.Admit(
        rehab_pb2.AdmitRequest(
            person=details(),
            kind="voluntary_facility",
            facility_code="ccn-so-1",
            admitted_on="2024-05-02",
            term_months=6,
        )
    )
    assert (voluntary.law_version, voluntary.agency, voluntary.planned_end) == (
        "law_73_2021",
        "labour",
        "2024-11-02",
    )
    listed = await stub.ListFacilities(rehab_pb2.ListFacilitiesRequest(province_code="01"))
    assert [(f.facility_code, f.occupancy) for f in listed.facilities] == [("ccn-so-1", 1)]
    aid = voluntary.admission_id
    await stub.RecordTraining(
        rehab_pb2.RecordTrainingRequest(admission_id=aid, given_on="2024-06-01", trade="may")
    )
    for stage, on in (("detox_treatment", "2024-05-10"), ("education_counselling", "2024-07-01")):
        await stub.AdvanceStage(rehab_pb2.AdvanceStageRequest(admission_id=aid, to_stage=stage, on=on))
    done = await stub.Discharge(
        rehab_pb2.DischargeRequest(admission_id=aid, discharged_on="2024-11-02", reason="completed")
    )
    assert done.completed
    other = details(citizen_id="001199012345", sex=common_pb2.SEX_FEMALE, full_name="Trần Thị Hoà")
    family = await stub.Admit(
        rehab_pb2.AdmitRequest(
            person=other, kind="voluntary_family", admitted_on="2025-06-02", term_months=12
        )
    )
    assert family.agency == "police"
    messages = await rehab.rehab_messages(4)
    assert [m.subject for m in messages] == [
        "rehab.admission.admitted.v1",
        "rehab.training.given.v1",
        "rehab.admission.discharged.v1",
        "rehab.admission.admitted.v1",
    ]
    for msg in messages[:3]:
        assert_pseudonymous(msg, voluntary.pseudonym, "labour")
    assert_pseudonymous(messages[3], family.pseudonym, "police")
    admitted = events_pb2.Admitted.FromString(messages[0].data)
    assert (admitted.kind, admitted.facility_code, admitted.term_months) == (
        "voluntary_facility",
        "ccn-so-1",
        6,
    )
    assert admitted.person.age_band == common_pb2.AGE_BAND_18_TO_30
    discharged = events_pb2.Discharged.FromString(messages[2].data)
    assert (discharged.reason, discharged.completed, discharged.discharged_on) == (
        "completed",
        True,
        "2024-11-02",
    )
    assert events_pb2.TrainingGiven.FromString(messages[1].data).trade == "may"
    assert events_pb2.Admitted.FromString(messages[3].data).facility_code == ""


async def test_refusals_write_nothing_and_publish_nothing(rehab):
    stub = rehab.stub
    await stub.RegisterFacility(facility("ccn-tu", public=False, type="voluntary_only"))
    await stub.RegisterFacility(facility("ccn-nho", capacity=1))
    first = await stub.Admit(
        rehab_pb2.AdmitRequest(
            person=details(),
            kind="compulsory",
            facility_code="ccn-nho",
            admitted_on="2025-04-01",
            term_months=18,
        )
    )
    before = await rehab.outbox_count()
    rows_before = await rehab.table(storage.admissions), await rehab.table(storage.persons)
    other = details(citizen_id="001199012345", sex=common_pb2.SEX_FEMALE, full_name="Trần Thị Hoà")
    invalid, failed = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
    admit = rehab_pb2.AdmitRequest
    aid = first.admission_id
    cases = [
        (
            stub.Admit,
            admit(
                person=other,
                kind="compulsory",
                facility_code="ccn-tu",
                admitted_on="2025-04-01",
                term_months=12,
            ),
            failed,
            "facility.not_public",
        ),
        (
            stub.Admit,
            admit(
                person=other,
                kind="compulsory",
                facility_code="ccn-nho",
                admitted_on="2025-04-01",
                term_months=12,
            ),
            failed,
            "facility.full",
        ),
        (
            stub.Admit,
            admit(person=details(), kind="voluntary_family", admitted_on="2025-04-02", term_months=6),
            failed,
            "admission.already_open",
        ),
        (
            stub.Admit,
            admit(
                person=other,
                kind="compulsory",
                facility_code="ccn-nho",
                admitted_on="2025-04-01",
                term_months=30,
            ),
            invalid,
            "term_months.out_of_range",
        ),
        (
            stub.Admit,
            admit(person=other, kind="rehab", admitted_on="2025-04-01", term_months=6),
            invalid,
            "kind.unknown",
        ),
        (
            stub.Admit,
            admit(person=other, kind="voluntary_family", admitted_on="2021-04-01", term_months=6),
            invalid,
            "admitted_on.before_law",
        ),
        (
            stub.Admit,
            admit(person=other, kind="voluntary_family", admitted_on="2999-04-01", term_months=6),
            invalid,
            "admitted_on.in_future",
        ),
        (
            stub.Admit,
            admit(
                person=details(citizen_id="00109901234"),
                kind="voluntary_family",
                admitted_on="2025-04-01",
                term_months=6,
            ),
            invalid,
            "citizen_id.format",
        ),
        (
            stub.Admit,
            admit(kind="voluntary_family", admitted_on="2025-04-01", term_months=6),
            invalid,
            "person.required",
        ),
        (
            stub.AdvanceStage,
            rehab_pb2.AdvanceStageRequest(
                admission_id=aid, to_stage="education_counselling", on="2025-05-01"
            ),
            failed,
            "stage.order",
        ),
        (
            stub.ReduceTerm,
            rehab_pb2.ReduceTermRequest(admission_id=aid, months=3, decided_on="2025-06-01"),
            failed,
            "reduction.before_half",
        ),
        (
            stub.Discharge,
            rehab_pb2.DischargeRequest(admission_id=aid, discharged_on="2025-06-01", reason="completed"),
            failed,
            "discharge.stages_incomplete",
        ),
        (
            stub.Discharge,
            rehab_pb2.DischargeRequest(
                admission_id=aid, discharged_on="2025-06-01", reason="self_terminated"
            ),
            failed,
            "reason.self_terminated_compulsory",
        ),
        (
            stub.Discharge,
            rehab_pb2.DischargeRequest(admission_id="not-a-uuid", discharged_on="2025-06-01", reason="died"),
            invalid,
            "admission_id.format",
        ),
        (
            stub.RecordTraining,
            rehab_pb2.RecordTrainingRequest(admission_id=aid, given_on="2025-05-01", trade="Thợ may"),
            invalid,
            "trade.format",
        ),
        (stub.RegisterFacility, facility("ccn-x", public=False), invalid, "type.private_voluntary_only"),
    ]
    for call, request, status, code in cases:
        await refused(call, request, status, code)
    assert await rehab.outbox_count() == before
    assert (await rehab.table(storage.admissions), await rehab.table(storage.persons)) == rows_before
    assert await rehab.table(storage.trainings) == []


async def test_reading_an_admission_needs_officer_and_purpose_and_is_recorded(rehab):
    stub = rehab.stub
    admitted = await stub.Admit(
        rehab_pb2.AdmitRequest(
            person=details(), kind="voluntary_community", admitted_on="2025-04-01", term_months=6
        )
    )
    query = rehab_pb2.GetAdmissionRequest(admission_id=admitted.admission_id)
    await refused(stub.GetAdmission, query, grpc.StatusCode.PERMISSION_DENIED, "read.unidentified")
    record = await stub.GetAdmission(
        query, metadata=(("x-officer-id", "CA-HK-7"), ("x-purpose", "aftercare"))
    )
    assert (record.citizen_id, record.full_name, record.kind) == (CITIZEN_ID, NAME, "voluntary_community")
    # Encrypted at rest: neither is in the database file (or PostgreSQL rows).
    stored = await stored_bytes(rehab.service.plan.infra.settings.database_url)
    assert admitted.admission_id.encode() in stored and plaintext_in(stored, [CITIZEN_ID, NAME]) == []
    rows = await rehab.table(storage.tables.audit_log)
    assert [(r.officer_id, r.purpose, r.record_id) for r in rows] == [
        ("CA-HK-7", "aftercare", admitted.admission_id)
    ]


# --- registry → rehab ------------------------------------------------------------------------------


def decision(
    dossier_id: str, status: str = "granted", facility_code: str = "ccn-so-2", payload: bytes | None = None
) -> Envelope:
    message = registry_events.CompulsoryDossierChanged(
        person=common_pb2.PersonRef(
            pseudonym=PSEUDONYM,
            sex=common_pb2.SEX_MALE,
            age_band=common_pb2.AGE_BAND_30_AND_OVER,
            commune_code=HOAN_KIEM,
            province_code="01",
        ),
        dossier_id=dossier_id,
        ground="no_voluntary_rehab",
        status=status,
        opened_on="2025-03-10",
        submitted_on="2025-03-20",
        decided_on="2025-04-10",
        term_months=18 if status == "granted" else 0,
        facility_code=facility_code if status == "granted" else "",
        law_version="law_73_2021",
    )
    return Envelope.new(
        subject=DECIDED,
        source="lienthong/registry",
        person=PSEUDONYM,
        aggregate_id="registry-person-1",
        aggregate_version=5,
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
            info = await js.consumer_info("REGISTRY", "rehab")
        except nats.js.errors.NotFoundError:
            return False
        return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq == delivered

    await eventually(check, message=f"rehab consumed {delivered} registry events")


async def test_a_granted_decision_expects_the_person_once_and_admission_completes(rehab):
    stub = rehab.stub
    await stub.RegisterFacility(facility("ccn-so-2"))
    granted = decision("dossier-1")
    await publish(rehab.js, granted)
    await publish(rehab.js, granted, msg_id="another-message-id")  # same ce-id past the dedup window
    await publish(rehab.js, decision("dossier-2", status="rejected"))
    await consumer_done(rehab.js, 3)
    work = await stub.ListExpectedAdmissions(
        rehab_pb2.ListExpectedAdmissionsRequest(facility_code="ccn-so-2")
    )
    (expected,) = work.admissions
    assert (expected.pseudonym, expected.term_months, expected.facility_known) == (PSEUDONYM, 18, True)
    (message,) = await rehab.rehab_messages(1)
    assert message.subject == "rehab.admission.expected.v1" and message.headers["lt-agency"] == "police"
    event = events_pb2.AdmissionExpected.FromString(message.data)
    assert (event.dossier_id, event.court_decided_on, event.facility_code) == (
        "dossier-1",
        "2025-04-10",
        "ccn-so-2",
    )
    aid = expected.admission_id
    stay = await stub.RecordTemporaryStay(
        rehab_pb2.RecordTemporaryStayRequest(admission_id=aid, start_on="2025-03-25", end_on="2025-04-15")
    )
    assert stay.temporary_stay_days == 21
    admitted = await stub.AdmitExpected(
        rehab_pb2.AdmitExpectedRequest(admission_id=aid, admitted_on="2025-04-15")
    )
    assert admitted.planned_end == "2026-09-24"  # 2025-04-15 + 18 months - 21 days
    for stage in (
        "detox_treatment",
        "education_counselling",
        "labour_vocational",
        "reintegration_preparation",
    ):
        await stub.AdvanceStage(
            rehab_pb2.AdvanceStageRequest(admission_id=aid, to_stage=stage, on="2025-05-01")
        )
    reduced = await stub.ReduceTerm(
        rehab_pb2.ReduceTermRequest(admission_id=aid, months=3, decided_on="2026-01-01")
    )
    assert reduced.planned_end == "2026-06-24"
    done = await stub.Discharge(
        rehab_pb2.DischargeRequest(admission_id=aid, discharged_on="2026-06-24", reason="term_reduced")
    )
    assert done.completed
    messages = await rehab.rehab_messages(3)
    assert [m.subject for m in messages[1:]] == [
        "rehab.admission.admitted.v1",
        "rehab.admission.discharged.v1",
    ]
    admitted_event = events_pb2.Admitted.FromString(messages[1].data)
    assert (admitted_event.kind, admitted_event.temporary_stay_days, admitted_event.term_months) == (
        "compulsory",
        21,
        18,
    )
    ended = events_pb2.Discharged.FromString(messages[2].data)
    assert (ended.reason, ended.completed) == ("term_reduced", True)
    assert not (await stub.ListExpectedAdmissions(rehab_pb2.ListExpectedAdmissionsRequest())).admissions


async def test_a_decision_naming_an_unknown_facility_is_kept_and_flagged(rehab):
    await publish(rehab.js, decision("dossier-3", facility_code="ccn-unknown"))
    await consumer_done(rehab.js, 1)
    (expected,) = (
        await rehab.stub.ListExpectedAdmissions(rehab_pb2.ListExpectedAdmissionsRequest())
    ).admissions
    assert (expected.facility_code, expected.facility_known) == ("ccn-unknown", False)
    await refused(
        rehab.stub.AdmitExpected,
        rehab_pb2.AdmitExpectedRequest(admission_id=expected.admission_id, admitted_on="2025-04-15"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "facility.unknown",
    )


async def test_undecodable_registry_events_go_to_the_dead_letter_stream(rehab):
    garbage = decision("dossier-4", payload=b"\xff\x00garbage")
    await publish(rehab.js, garbage)
    await publish(rehab.js, decision("dossier-5", facility_code="bad code!"))
    await publish(rehab.js, decision("dossier-6"))

    async def dead():
        try:
            return (await rehab.js.stream_info("DLQ_REHAB")).state.messages == 2
        except Exception:
            return False

    await eventually(dead, message="2 dead letters in DLQ_REHAB")
    first = await rehab.js.get_msg("DLQ_REHAB", 1)
    assert first.headers["ce-id"] == garbage.event_id
    assert "payload is not a lienthong.registry.v1.CompulsoryDossierChanged" in first.headers["lt-dlq-reason"]
    second = await rehab.js.get_msg("DLQ_REHAB", 2)
    assert "facility_code" in second.headers["lt-dlq-reason"]
    await consumer_done(rehab.js, 3)
    assert [r.dossier_id for r in await rehab.table(storage.admissions)] == ["dossier-6"]
