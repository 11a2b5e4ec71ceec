"""The registry service end to end in-process: real gRPC, real nats-server, real database."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import func, select

from lienthong.natsserver import NatsServer
from lienthong.outbox import OUTBOX
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import events_pb2, registry_pb2, registry_pb2_grpc
from services.registry.main import build_plan
from services.registry.settings import RegistrySettings
from services.registry.storage.tables import audit_log
from tests.conftest import RunningService, eventually

pytestmark = pytest.mark.integration

HOAN_KIEM = "00070"
CITIZEN_ID = "001099012345"  # Hà Nội, male, born 1999


@pytest.fixture
async def registry(nats_server: NatsServer, database_url: str):
    settings = RegistrySettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0
    )
    plan = build_plan(settings)
    async with RunningService(plan) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            yield registry_pb2_grpc.RegistryServiceStub(channel), service, nats_server


def register_request(**overrides) -> registry_pb2.RegisterPersonRequest:
    fields = dict(
        citizen_id=CITIZEN_ID,
        full_name="Nguyễn Văn An",
        date_of_birth="1999-04-02",
        sex=common_pb2.SEX_MALE,
        commune_code=HOAN_KIEM,
    )
    fields.update(overrides)
    return registry_pb2.RegisterPersonRequest(**fields)


async def stream_count(server: NatsServer) -> int:
    import nats

    nc = await nats.connect(server.url)
    try:
        return (await nc.jetstream().stream_info("REGISTRY")).state.messages
    finally:
        await nc.close()


async def outbox_count(service: RunningService) -> int:
    async with service.plan.infra.sessions() as session:
        return await session.scalar(select(func.count()).select_from(OUTBOX))


async def test_commands_publish_one_event_each_with_only_pseudonymous_data(registry):
    stub, _, server = registry
    person = await stub.RegisterPerson(register_request())
    assert person.pseudonym.startswith("1:")
    test = await stub.RecordPositiveDrugTest(
        registry_pb2.RecordPositiveDrugTestRequest(
            person_id=person.person_id,
            tested_on="2025-01-10",
            substance="heroin",
            place="Công an phường Hoàn Kiếm",
        )
    )
    assert not test.during_management
    decision = await stub.IssueManagementDecision(
        registry_pb2.IssueManagementDecisionRequest(
            person_id=person.person_id, decision_number="12/QĐ-UBND", decided_on="2025-01-15"
        )
    )
    assert decision.expires_on == "2026-01-15"
    await stub.EndManagement(
        registry_pb2.EndManagementRequest(
            management_id=decision.management_id, ended_on="2025-06-01", reason="addicted"
        )
    )
    await eventually(lambda: _is(stream_count(server), 4), message="4 events in REGISTRY")

    import nats

    nc = await nats.connect(server.url)
    js = nc.jetstream()
    subjects, versions = [], []
    for seq in range(1, 5):
        msg = await js.get_msg("REGISTRY", seq)
        subjects.append(msg.subject)
        versions.append(int(msg.headers["lt-aggregate-version"]))
        assert msg.headers["ce-subject"] == person.pseudonym
        assert msg.headers["lt-agency"] == "police"
        assert msg.headers["Nats-Msg-Id"] == msg.headers["ce-id"]
        for secret in (CITIZEN_ID.encode(), "Nguyễn".encode(), b"Ho\xc3\xa0n Ki\xe1\xba\xbfm", b"12/Q"):
            assert secret not in msg.data and secret not in str(msg.headers).encode()
    await nc.close()
    assert subjects == [
        "registry.person.registered.v1",
        "registry.drug_test.positive_recorded.v1",
        "registry.management.decided.v1",
        "registry.management.ended.v1",
    ]
    assert versions == [1, 2, 3, 4]
    decided = events_pb2.ManagementDecided()
    decided.ParseFromString((await _get(server, 3)).data)
    assert decided.person.commune_code == HOAN_KIEM and decided.person.province_code == "01"
    assert decided.person.age_band == common_pb2.AGE_BAND_18_TO_30
    assert decided.expires_on == "2026-01-15"
    assert decided.law_version == "law_73_2021"


async def _is(awaitable, expected):
    return (await awaitable) == expected


async def _get(server, seq):
    import nats

    nc = await nats.connect(server.url)
    try:
        return await nc.jetstream().get_msg("REGISTRY", seq)
    finally:
        await nc.close()


BAD_REGISTRATIONS = [
    (dict(citizen_id="00109901234"), "citizen_id.format"),
    (dict(citizen_id="００１０９９０１２３４５"), "citizen_id.non_ascii_digits"),
    (dict(citizen_id="001199012345"), "citizen_id.sex_mismatch"),
    (dict(citizen_id="001098012345"), "citizen_id.birth_year_mismatch"),
    (dict(citizen_id="001299012345"), "citizen_id.birth_year_mismatch"),
    (dict(commune_code="99999"), "commune_code.unknown"),
    (dict(commune_code="70"), "commune_code.format"),
    (dict(date_of_birth="1999-02-30"), "date_of_birth.invalid"),
    (dict(sex=common_pb2.SEX_UNSPECIFIED), "sex.required"),
    (dict(full_name="  "), "full_name.required"),
]


@pytest.mark.parametrize(("overrides", "code"), BAD_REGISTRATIONS, ids=[c for _, c in BAD_REGISTRATIONS])
async def test_bad_registration_is_refused_and_nothing_is_written(registry, overrides, code):
    stub, service, _ = registry
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.RegisterPerson(register_request(**overrides))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    trailing = dict(refused.value.trailing_metadata())
    assert trailing["error-code"] == code
    assert refused.value.details() == trailing["message-vi-bin"].decode()
    assert trailing["message-en"] and trailing["message-en"] != refused.value.details()
    assert await outbox_count(service) == 0


async def test_errors_come_in_english_on_request(registry):
    stub, _, _ = registry
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.RegisterPerson(register_request(citizen_id="12"), metadata=(("accept-language", "en-GB"),))
    assert refused.value.details().startswith("The citizen ID must be exactly 12 digits")


async def test_rules_refuse_with_failed_precondition_and_publish_nothing(registry):
    stub, service, _ = registry
    person = await stub.RegisterPerson(register_request())
    before = await outbox_count(service)

    async def refused(call, request, status, code):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call(request)
        assert error.value.code() == status, error.value.details()
        assert dict(error.value.trailing_metadata())["error-code"] == code

    decide = registry_pb2.IssueManagementDecisionRequest
    await refused(
        stub.IssueManagementDecision,
        decide(person_id=person.person_id, decision_number="1/QĐ", decided_on="2025-01-15"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "management.no_positive_test",
    )
    await stub.RecordPositiveDrugTest(
        registry_pb2.RecordPositiveDrugTestRequest(
            person_id=person.person_id, tested_on="2025-01-10", substance="methamphetamine"
        )
    )
    await refused(
        stub.IssueManagementDecision,
        decide(person_id=person.person_id, decision_number="1/QĐ", decided_on="2999-01-01"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "decided_on.in_future",
    )
    first = await stub.IssueManagementDecision(
        decide(person_id=person.person_id, decision_number="1/QĐ", decided_on="2025-01-15")
    )
    await refused(
        stub.IssueManagementDecision,
        decide(person_id=person.person_id, decision_number="2/QĐ", decided_on="2025-03-01"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "management.already_open",
    )
    end = registry_pb2.EndManagementRequest
    await refused(
        stub.EndManagement,
        end(management_id=first.management_id, ended_on="2026-02-01", reason="died"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "management.not_active",
    )
    await refused(
        stub.EndManagement,
        end(management_id=first.management_id, ended_on="2025-02-01", reason="expired"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reason.unknown",
    )
    await refused(
        stub.EndManagement,
        end(management_id="0197a3c4-0000-7000-8000-000000000000", ended_on="2025-02-01", reason="died"),
        grpc.StatusCode.NOT_FOUND,
        "management.not_found",
    )
    await refused(
        stub.RecordPositiveDrugTest,
        registry_pb2.RecordPositiveDrugTestRequest(
            person_id="not-a-uuid", tested_on="2025-01-10", substance="heroin"
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person_id.format",
    )
    await refused(
        stub.RegisterPerson, register_request(), grpc.StatusCode.ALREADY_EXISTS, "person.already_registered"
    )
    # Only the two accepted commands (test, decision) added events.
    assert await outbox_count(service) == before + 2


async def test_reading_a_person_needs_officer_and_purpose_and_is_recorded(registry):
    stub, service, _ = registry
    person = await stub.RegisterPerson(
        register_request(full_name="Trần Thị Hoà", citizen_id="001199012345", sex=common_pb2.SEX_FEMALE)
    )
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.GetPerson(registry_pb2.GetPersonRequest(person_id=person.person_id))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    record = await stub.GetPerson(
        registry_pb2.GetPersonRequest(person_id=person.person_id),
        metadata=(("x-officer-id", "CA-HK-0042"), ("x-purpose", "verify identity for aftercare")),
    )
    assert record.citizen_id == "001199012345" and record.full_name == "Trần Thị Hoà"
    async with service.plan.infra.sessions() as session:
        rows = (await session.execute(select(audit_log))).all()
    assert [
        (r.officer_id, r.purpose, r.record_id, r.subject, r.department, r.caller_department) for r in rows
    ] == [
        (
            "CA-HK-0042",
            "verify identity for aftercare",
            person.person_id,
            person.pseudonym,
            "registry",
            "registry",
        )
    ]
    assert rows[0].fields.startswith("citizen_id,full_name") and rows[0].request_id


async def test_nfd_names_are_stored_as_nfc(registry):
    import unicodedata

    stub, _, _ = registry
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Thuý Đào")
    person = await stub.RegisterPerson(
        register_request(full_name=nfd, citizen_id="001199012346", sex=common_pb2.SEX_FEMALE)
    )
    record = await stub.GetPerson(
        registry_pb2.GetPersonRequest(person_id=person.person_id),
        metadata=(("x-officer-id", "a"), ("x-purpose", "b")),
    )
    assert record.full_name == unicodedata.normalize("NFC", nfd)


async def test_undecodable_request_is_invalid_argument(registry):
    _, service, _ = registry
    async with grpc.aio.insecure_channel(service.grpc_target) as channel:
        raw = channel.unary_unary("/lienthong.registry.v1.RegistryService/RegisterPerson")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await raw(b"\xff\xff\xff\x0f garbage")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_metrics_show_publish_counters_and_outbox_lag(registry):
    import urllib.request

    stub, service, _ = registry
    await stub.RegisterPerson(register_request())

    async def published():
        text = await asyncio.to_thread(
            lambda: urllib.request.urlopen(service.metrics_url, timeout=2).read().decode()
        )
        return (
            'lienthong_outbox_published_total{stream="REGISTRY",subject="registry.person.registered.v1"} 1.0'
            in text
            and text
        )

    text = await eventually(published, message="publish counter on /metrics")
    assert "lienthong_outbox_pending_events" in text
    assert "lienthong_outbox_lag_seconds" in text
    assert (
        'lienthong_grpc_requests_total{code="OK",method="/lienthong.registry.v1.RegistryService/RegisterPerson"} 1.0'
        in text
    )
    assert "lienthong_nats_connected 1.0" in text


async def test_registry_declares_its_stream_with_a_duplicate_window(registry):
    _, _, server = registry
    import nats

    nc = await nats.connect(server.url)
    try:
        info = await nc.jetstream().stream_info("REGISTRY")
    finally:
        await nc.close()
    assert info.config.subjects == ["registry.>"]
    assert info.config.duplicate_window == 120
