"""The aftercare service in-process through its real ``serve()``: real gRPC, real nats-server, real
database. The test plays rehab and health for the completion → aftercare flow: it owns and declares REHAB
and HEALTH."""

from __future__ import annotations

import grpc
import nats
import nats.js.errors
import pytest

from lienthong import bus
from lienthong.envelope import Envelope
from lienthong.natsserver import NatsServer
from lienthong_contracts.aftercare.v1 import aftercare_pb2, aftercare_pb2_grpc, events_pb2
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.health.v1 import events_pb2 as health_events
from lienthong_contracts.rehab.v1 import events_pb2 as rehab_events
from services.aftercare import storage
from services.aftercare.main import build_plan
from services.aftercare.settings import AftercareSettings
from tests.conftest import RunningService, ServiceProbe, eventually, plaintext_in, stored_bytes

pytestmark = pytest.mark.integration

HOAN_KIEM, BA_DINH = "00070", "00004"
ADULT = "1:" + "a" * 32
MINOR = "1:" + "b" * 32
CARETAKER = "Trần Văn Bình"
DECISION = "15/QĐ-UBND"
REHAB = bus.StreamSpec("REHAB", ["rehab.>"])
HEALTH = bus.StreamSpec("HEALTH", ["health.>"])


class Running(ServiceProbe):
    async def messages(self, expected: int, stream: str = "AFTERCARE") -> list:
        return await self.stream_messages(stream, expected)

    async def consumed(self, stream: str, durable: str, delivered: int) -> None:
        async def check():
            try:
                info = await self.js.consumer_info(stream, durable)
            except nats.js.errors.NotFoundError:  # created by the subscriber shortly after start
                return False
            return (
                info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq == delivered
            )

        await eventually(check, message=f"{durable} consumed {delivered} events of {stream}")


@pytest.fixture
async def aftercare(nats_server: NatsServer, database_url: str):
    connection = await nats.connect(nats_server.url)
    js = connection.jetstream()
    await bus.declare_stream(js, REHAB)
    await bus.declare_stream(js, HEALTH)
    settings = AftercareSettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0, ack_wait_seconds=5
    )
    try:
        async with RunningService(build_plan(settings)) as service:
            assert service.ready["service"] == "aftercare"
            async with grpc.aio.insecure_channel(service.grpc_target) as channel:
                yield Running(aftercare_pb2_grpc.AftercareServiceStub(channel), service, js)
    finally:
        await connection.close()


def ref(pseudonym: str, band=common_pb2.AGE_BAND_30_AND_OVER, commune=HOAN_KIEM) -> common_pb2.PersonRef:
    return common_pb2.PersonRef(
        pseudonym=pseudonym, sex=common_pb2.SEX_MALE, age_band=band, commune_code=commune, province_code="01"
    )


def envelope(subject: str, pseudonym: str, payload: bytes, agency: str) -> Envelope:
    return Envelope.new(
        subject=subject,
        source=f"lienthong/{subject.split('.')[0]}",
        person=pseudonym,
        aggregate_id="owner-person-1",
        aggregate_version=3,
        agency=agency,
        payload=payload,
    )


def discharged(admission_id: str, *, on: str, kind="compulsory", completed=True, person=None, payload=None):
    person = person or ref(ADULT)
    message = rehab_events.Discharged(
        person=person,
        admission_id=admission_id,
        kind=kind,
        facility_code="cs-so1",
        discharged_on=on,
        reason="completed" if completed else "absconded",
        completed=completed,
    )
    body = message.SerializeToString() if payload is None else payload
    return envelope("rehab.admission.discharged.v1", person.pseudonym, body, "police")


def methadone_ended(episode_id: str, *, on: str, reason="completed", person=None):
    person = person or ref(MINOR, band=common_pb2.AGE_BAND_16_TO_18)
    message = health_events.MethadoneEnded(person=person, episode_id=episode_id, ended_on=on, reason=reason)
    return envelope("health.methadone.ended.v1", person.pseudonym, message.SerializeToString(), "health")


async def publish(js, event: Envelope, stream: str, msg_id: str | None = None) -> None:
    headers = event.headers()
    if msg_id:
        headers["Nats-Msg-Id"] = msg_id
    ack = await js.publish(event.subject, event.payload, headers=headers, stream=stream)
    assert ack.stream == stream and not ack.duplicate


def assert_pseudonymous(msg, agency: str) -> None:
    assert msg.headers["lt-agency"] == agency and msg.headers["Nats-Msg-Id"] == msg.headers["ce-id"]
    for secret in (CARETAKER, "Trần", DECISION, "QĐ-UBND"):
        assert secret.encode() not in msg.data and secret not in str(msg.headers), secret


async def opened_cases(running: Running) -> dict:
    """Completers: a compulsory adult from rehab (2024 → Labour) and a minor from methadone (2025-06 →
    Police), each event sent twice with another Nats-Msg-Id and once more replayed with a new ce-id."""
    rehab_done = discharged("adm-1", on="2024-05-10")
    await publish(running.js, rehab_done, "REHAB")
    await publish(running.js, rehab_done, "REHAB", msg_id="another-message-id")
    await publish(running.js, discharged("adm-1", on="2024-05-10"), "REHAB")  # replay: keyed by admission
    await publish(running.js, discharged("adm-2", on="2024-06-01", completed=False), "REHAB")
    mmt_done = methadone_ended("ep-1", on="2025-06-10")
    await publish(running.js, mmt_done, "HEALTH")
    await publish(running.js, mmt_done, "HEALTH", msg_id="another-message-id")
    await publish(running.js, methadone_ended("ep-2", on="2025-06-11", reason="voluntary_stop"), "HEALTH")
    await running.consumed("REHAB", "aftercare-rehab", 4)
    await running.consumed("HEALTH", "aftercare-health", 3)
    messages = await running.messages(2)
    by_person = {}
    for msg in messages:
        assert msg.subject == "aftercare.case.opened.v1"
        event = events_pb2.CaseOpened.FromString(msg.data)
        by_person[event.person.pseudonym] = (event, msg)
    return by_person


async def test_completions_open_exactly_one_pending_case_each(aftercare):
    by_person = await opened_cases(aftercare)
    adult, adult_msg = by_person[ADULT]
    assert (adult.source, adult.source_kind, adult.completed_on, adult.term_months) == (
        "rehab",
        "compulsory",
        "2024-05-10",
        24,
    )
    assert adult.person.commune_code == HOAN_KIEM and adult_msg.headers["ce-subject"] == ADULT
    assert_pseudonymous(adult_msg, "labour")
    minor, minor_msg = by_person[MINOR]
    assert (minor.source, minor.source_kind, minor.term_months) == ("methadone", "methadone", 12)
    assert_pseudonymous(minor_msg, "police")
    rows = await aftercare.table(storage.cases)
    assert sorted((r.source_id, r.status) for r in rows) == [
        ("methadone:ep-1", "pending_placement"),
        ("rehab:adm-1", "pending_placement"),
    ]
    pending = await aftercare.stub.ListPendingPlacements(
        aftercare_pb2.ListPendingPlacementsRequest(as_of="2025-06-20", commune_code=HOAN_KIEM)
    )
    waiting = {c.pseudonym: (c.days_waiting, c.alert) for c in pending.cases}
    assert waiting == {ADULT: (406, True), MINOR: (10, False)}
    assert await aftercare.outbox_count() == 2


async def test_placement_support_relapse_certificate_and_transfer(aftercare):
    by_person = await opened_cases(aftercare)
    stub = aftercare.stub
    adult_case, minor_case = by_person[ADULT][0].case_id, by_person[MINOR][0].case_id
    placed = await stub.PlaceCase(
        aftercare_pb2.PlaceCaseRequest(
            case_id=adult_case,
            decided_on="2024-05-20",
            decision_number=DECISION,
            caretaker_kind="person",
            caretaker_name=CARETAKER,
        )
    )
    assert (placed.term_months, placed.ends_on, placed.law_version) == (24, "2026-05-10", "law_73_2021")
    await stub.RecordSupport(
        aftercare_pb2.RecordSupportRequest(
            case_id=adult_case, given_on="2024-07-01", kind="vocational_training"
        )
    )
    await stub.SuspectRelapse(
        aftercare_pb2.SuspectRelapseRequest(case_id=adult_case, suspected_on="2025-04-01")
    )
    confirmed = await stub.ConfirmRelapse(
        aftercare_pb2.ConfirmRelapseRequest(case_id=adult_case, determined_on="2025-04-03")
    )
    assert confirmed.adult
    moved = await stub.Transfer(
        aftercare_pb2.TransferRequest(case_id=minor_case, moved_on="2025-07-01", new_commune_code=BA_DINH)
    )
    messages = (await aftercare.messages(7))[2:]
    assert [m.subject for m in messages] == [
        "aftercare.case.placed.v1",
        "aftercare.support.given.v1",
        "aftercare.relapse.confirmed.v1",
        "aftercare.case.closed.v1",
        "aftercare.case.opened.v1",
    ]
    assert [m.headers["lt-agency"] for m in messages] == ["labour", "labour", "police", "police", "police"]
    for msg in messages:
        assert_pseudonymous(msg, msg.headers["lt-agency"])
    event = events_pb2.CasePlaced.FromString(messages[0].data)
    assert (event.term_months, event.ends_on, event.caretaker_kind) == (24, "2026-05-10", "person")
    relapse = events_pb2.RelapseConfirmed.FromString(messages[2].data)
    assert relapse.adult and relapse.determined_on == "2025-04-03"
    closed = events_pb2.CaseClosed.FromString(messages[3].data)
    assert (closed.case_id, closed.reason) == (minor_case, "transferred_out")
    reopened = events_pb2.CaseOpened.FromString(messages[4].data)
    assert (reopened.case_id, reopened.person.commune_code) == (moved.new_case_id, BA_DINH)
    assert (reopened.transferred_from_case_id, reopened.term_months) == (minor_case, 12)
    due = await stub.ListDueCertificates(aftercare_pb2.ListDueCertificatesRequest(as_of="2026-05-10"))
    assert [c.case_id for c in due.cases] == [adult_case]
    query = aftercare_pb2.GetCaseRequest(case_id=adult_case)
    await refused(stub.GetCase, query, grpc.StatusCode.PERMISSION_DENIED, "read.unidentified")
    record = await stub.GetCase(query, metadata=(("x-officer-id", "CA-HK-3"), ("x-purpose", "aftercare")))
    assert (record.caretaker_name, record.decision_number, record.status) == (CARETAKER, DECISION, "placed")
    # Encrypted at rest: neither is in the database file (or PostgreSQL rows).
    stored = await stored_bytes(aftercare.service.plan.infra.settings.database_url)
    assert adult_case.encode() in stored and plaintext_in(stored, [CARETAKER, DECISION, "15/Q"]) == []
    assert [(r.suspected_on, r.determined_on) for r in record.relapses] == [("2025-04-01", "2025-04-03")]
    rows = await aftercare.table(storage.tables.audit_log)
    assert [(r.officer_id, r.purpose, r.record_id) for r in rows] == [("CA-HK-3", "aftercare", adult_case)]
    await stub.IssueCertificate(
        aftercare_pb2.IssueCertificateRequest(case_id=adult_case, issued_on="2026-05-10")
    )
    (last,) = (await aftercare.messages(8))[7:]
    assert events_pb2.CaseClosed.FromString(last.data).reason == "completed_certificate"


async def refused(call, request, status, code):
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request)
    assert error.value.code() == status, error.value.details()
    trailing = dict(error.value.trailing_metadata())
    assert trailing["error-code"] == code
    assert trailing["message-en"] and trailing["message-vi-bin"]


async def test_refusals_write_nothing_and_publish_nothing(aftercare):
    by_person = await opened_cases(aftercare)
    stub = aftercare.stub
    adult_case, minor_case = by_person[ADULT][0].case_id, by_person[MINOR][0].case_id
    await publish(
        aftercare.js, discharged("adm-3", on="2026-01-15", kind="voluntary_facility", person=ref("1:" + "c" * 32)),
        "REHAB",
    )  # fmt: skip
    (opened,) = (await aftercare.messages(3))[2:]
    voluntary_case = events_pb2.CaseOpened.FromString(opened.data).case_id
    await stub.PlaceCase(
        aftercare_pb2.PlaceCaseRequest(
            case_id=voluntary_case, decided_on="2026-01-20", decision_number="1", caretaker_kind="organisation",
            caretaker_name="Hội Phụ nữ phường",
        )
    )  # fmt: skip
    before = await aftercare.outbox_count()
    rows_before = await aftercare.table(storage.cases)
    invalid, failed = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
    place = aftercare_pb2.PlaceCaseRequest
    cases = [
        (stub.PlaceCase, place(case_id="nope", decided_on="2024-05-20"), invalid, "case_id.format"),
        (
            stub.PlaceCase,
            place(
                case_id=adult_case,
                decided_on="2024-05-01",
                decision_number="1",
                caretaker_kind="person",
                caretaker_name="A",
            ),
            invalid,
            "decided_on.too_early",
        ),
        (
            stub.PlaceCase,
            place(
                case_id=adult_case,
                decided_on="2024-05-20",
                decision_number="1",
                caretaker_kind="family",
                caretaker_name="A",
            ),
            invalid,
            "caretaker_kind.unknown",
        ),
        (
            stub.PlaceCase,
            place(case_id=adult_case, decided_on="2024-05-20", decision_number="1", caretaker_kind="person"),
            invalid,
            "caretaker_name.required",
        ),
        (
            stub.PlaceCase,
            place(
                case_id=adult_case,
                decided_on="2999-01-01",
                decision_number="1",
                caretaker_kind="person",
                caretaker_name="A",
            ),
            invalid,
            "decided_on.in_future",
        ),
        (
            stub.PlaceCase,
            place(
                case_id="01234567-89ab-7def-8123-456789abcdef",
                decided_on="2024-05-20",
                decision_number="1",
                caretaker_kind="person",
                caretaker_name="A",
            ),
            grpc.StatusCode.NOT_FOUND,
            "case.not_found",
        ),
        (
            stub.RecordSupport,
            aftercare_pb2.RecordSupportRequest(case_id=adult_case, given_on="2024-07-01", kind="schooling"),
            failed,
            "support.schooling_age",
        ),
        (
            stub.RecordSupport,
            aftercare_pb2.RecordSupportRequest(case_id=adult_case, given_on="2024-07-01", kind="cash"),
            invalid,
            "kind.unknown",
        ),
        (
            stub.IssueCertificate,
            aftercare_pb2.IssueCertificateRequest(case_id=voluntary_case, issued_on="2026-11-01"),
            failed,
            "certificate.before_expiry",
        ),
        (
            stub.IssueCertificate,
            aftercare_pb2.IssueCertificateRequest(case_id=minor_case, issued_on="2026-07-01"),
            failed,
            "case.not_placed",
        ),
        (
            stub.Transfer,
            aftercare_pb2.TransferRequest(
                case_id=adult_case, moved_on="2025-01-01", new_commune_code=HOAN_KIEM
            ),
            failed,
            "transfer.same_commune",
        ),
        (
            stub.Transfer,
            aftercare_pb2.TransferRequest(
                case_id=adult_case, moved_on="2025-01-01", new_commune_code="99999"
            ),
            invalid,
            "new_commune_code.unknown",
        ),
        (
            stub.CloseCase,
            aftercare_pb2.CloseCaseRequest(
                case_id=adult_case, closed_on="2025-01-01", reason="transferred_out"
            ),
            invalid,
            "reason.unknown",
        ),
        (
            stub.RecordModel,
            aftercare_pb2.RecordModelRequest(commune_code=HOAN_KIEM, on="2025-01-01", status="stopped"),
            failed,
            "model.not_running",
        ),
        (
            stub.RecordModel,
            aftercare_pb2.RecordModelRequest(commune_code=HOAN_KIEM, on="2021-01-01", status="started"),
            invalid,
            "on.before_law",
        ),
    ]
    for call, request, status, code in cases:
        await refused(call, request, status, code)
    assert await aftercare.outbox_count() == before
    assert await aftercare.table(storage.cases) == rows_before
    assert await aftercare.table(storage.supports) == []


async def test_commune_model_changes_are_published_without_a_person(aftercare):
    stub = aftercare.stub
    await stub.RecordModel(
        aftercare_pb2.RecordModelRequest(commune_code=HOAN_KIEM, on="2024-03-01", status="started")
    )
    await stub.RecordModel(
        aftercare_pb2.RecordModelRequest(commune_code=HOAN_KIEM, on="2025-03-01", status="maintained")
    )
    messages = await aftercare.messages(2)
    assert [m.headers["lt-agency"] for m in messages] == ["labour", "police"]
    assert [m.headers["ce-subject"] for m in messages] == [f"commune:{HOAN_KIEM}"] * 2
    event = events_pb2.ModelChanged.FromString(messages[1].data)
    assert (event.commune_code, event.province_code, event.status) == (HOAN_KIEM, "01", "maintained")


async def test_undecodable_events_of_both_sources_go_to_aftercare_dead_letters(aftercare):
    garbage = discharged("adm-9", on="2024-05-10", payload=b"\xff\x00garbage")
    await publish(aftercare.js, garbage, "REHAB")
    await publish(aftercare.js, discharged("adm-10", on="2024-05-10", kind="holiday"), "REHAB")
    await publish(aftercare.js, discharged("adm-11", on="2024-05-10"), "REHAB")
    bad_person = ref("not-a-pseudonym")
    await publish(aftercare.js, methadone_ended("ep-9", on="2025-06-10", person=bad_person), "HEALTH")
    await publish(aftercare.js, methadone_ended("ep-10", on="2021-06-10"), "HEALTH")  # before any law
    dead = await aftercare.messages(4, stream="DLQ_AFTERCARE")
    reasons = {m.headers["lt-dlq-original-stream"] + ":" + m.headers["lt-dlq-reason"] for m in dead}
    assert any(r.startswith("REHAB:payload is not a lienthong.rehab.v1.Discharged") for r in reasons)
    assert any(r.startswith("REHAB:kind 'holiday'") for r in reasons)
    assert any(r.startswith("HEALTH:person.pseudonym") for r in reasons)
    assert any(r.startswith("HEALTH:ended_on: nothing in force") for r in reasons)
    assert all(m.subject.startswith("dlq.aftercare.") for m in dead)
    await aftercare.consumed("REHAB", "aftercare-rehab", 3)
    await aftercare.consumed("HEALTH", "aftercare-health", 2)
    assert [r.source_id for r in await aftercare.table(storage.cases)] == ["rehab:adm-11"]
