"""Reporting against a real nats-server and database, started in-process through its real ``serve()``.

The test plays the registry: it owns and declares the REGISTRY stream and publishes protobuf events with
CloudEvents headers, then asks reporting over a real gRPC channel.
"""

from __future__ import annotations

import asyncio
import random
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta

import grpc
import nats
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from prometheus_client.parser import text_string_to_metric_families

from lienthong import bus, migrate
from lienthong.consumer import Delivered
from lienthong.db import create_engine, session_factory
from lienthong.envelope import BadEvent, Envelope
from lienthong.runtime import ServicePlan
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import events_pb2
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting import consumer, domain, storage
from services.reporting.main import MIGRATIONS, build_plan
from services.reporting.settings import ReportingSettings
from tests.conftest import RunningService, eventually

pytestmark = pytest.mark.integration

REGISTRY = bus.StreamSpec("REGISTRY", ["registry.>"])
BA_DINH, HOAN_KIEM, CUA_NAM, BEN_THANH = "00004", "00070", "00073", "26743"
PROVINCE = {BA_DINH: "01", HOAN_KIEM: "01", CUA_NAM: "01", BEN_THANH: "79"}
DECIDED, ENDED = "registry.management.decided.v1", "registry.management.ended.v1"
REGISTERED, TESTED = "registry.person.registered.v1", "registry.drug_test.positive_recorded.v1"


def pseudonym(n: int) -> str:
    return f"1:{n:032x}"


def ref(n: int, commune: str = BA_DINH) -> common_pb2.PersonRef:
    return common_pb2.PersonRef(
        pseudonym=pseudonym(n),
        sex=common_pb2.SEX_MALE if n % 2 else common_pb2.SEX_FEMALE,
        age_band=common_pb2.AGE_BAND_18_TO_30,
        commune_code=commune,
        province_code=PROVINCE[commune],
    )


def decided(n: int, mid: str, commune: str, on: str, expires: str | None = None) -> tuple[str, object]:
    expires = expires or date.fromisoformat(on).replace(year=int(on[:4]) + 1).isoformat()
    message = events_pb2.ManagementDecided(
        person=ref(n, commune), management_id=mid, decided_on=on, expires_on=expires
    )
    return DECIDED, message


def ended(n: int, mid: str, commune: str, on: str, reason: str) -> tuple[str, object]:
    message = events_pb2.ManagementEnded(
        person=ref(n, commune), management_id=mid, ended_on=on, reason=reason
    )
    return ENDED, message


@dataclass
class Event:
    subject: str
    payload: bytes
    headers: dict[str, str]


class FakeRegistry:
    """Builds events as the registry would (one aggregate per person, versions counting up)."""

    def __init__(self, js) -> None:
        self.js = js
        self.versions: dict[str, int] = {}

    def event(
        self, subject: str, message, *, person: str | None = None, payload: bytes | None = None
    ) -> Event:
        person = person or message.person.pseudonym
        version = self.versions[person] = self.versions.get(person, 0) + 1
        envelope = Envelope.new(
            subject=subject,
            source="lienthong/registry",
            person=person,
            aggregate_id=f"person-{person}",
            aggregate_version=version,
            agency="police",
            payload=message.SerializeToString() if payload is None else payload,
        )
        return Event(subject, envelope.payload, envelope.headers())

    async def publish(self, *events: Event) -> None:
        for e in events:
            ack = await self.js.publish(e.subject, e.payload, headers=e.headers, stream=REGISTRY.name)
            assert ack.stream == REGISTRY.name


@dataclass
class Running:
    registry: FakeRegistry
    js: object
    stub: reporting_pb2_grpc.ReportingServiceStub
    ready: dict
    plan: ServicePlan

    async def status(self) -> reporting_pb2.IngestStatus:
        return await self.stub.GetIngestStatus(reporting_pb2.IngestStatusRequest())

    async def caught_up(self, applied: int, dead: int = 0) -> reporting_pb2.IngestStatus:
        async def check():
            status = await self.status()
            return status if (status.events_applied, status.events_dead_lettered) == (applied, dead) else None

        return await eventually(check, message=f"{applied} applied and {dead} dead-lettered")

    async def report(self, start="2025-01-01", end="2025-03-31", communes=(), province=""):
        return await self.stub.GetManagementReport(
            reporting_pb2.ManagementReportRequest(
                period_start=start, period_end=end, commune_codes=list(communes), province_code=province
            )
        )


@pytest.fixture
async def reporting(nats_server, database_url):
    connection = await nats.connect(nats_server.url)
    js = connection.jetstream()
    await bus.declare_stream(js, REGISTRY)
    settings = ReportingSettings(
        nats_url=nats_server.url,
        database_url=database_url,
        grpc_port=0,
        metrics_port=0,
        max_deliver=3,
        # FastStream 0.7.8 loses a partly fetched batch when nats-py raises a bare TimeoutError (see the
        # report); the events come back after ack_wait, so keep it short enough for the test's patience.
        ack_wait_seconds=5,
    )
    plan = build_plan(settings)
    try:
        async with RunningService(plan) as service:
            assert service.ready["service"] == "reporting"
            async with grpc.aio.insecure_channel(service.grpc_target) as channel:
                stub = reporting_pb2_grpc.ReportingServiceStub(channel)
                yield Running(FakeRegistry(js), js, stub, service.ready, plan)
    finally:
        await connection.close()


def row_figures(row: reporting_pb2.ManagementRow) -> tuple:
    ended_by_reason = {r.reason: r.count for r in row.ended_in_period}
    assert row.ended_total == sum(ended_by_reason.values())
    return row.at_period_start, row.new_in_period, ended_by_reason, row.at_period_end


def scenario(registry: FakeRegistry) -> list[Event]:
    """Q1 2025 in three communes, built in the order the registry would publish it."""
    e = registry.event
    return [
        e(REGISTERED, events_pb2.PersonRegistered(person=ref(1), registered_on="2024-05-20")),
        e(
            TESTED,
            events_pb2.PositiveDrugTestRecorded(
                person=ref(1), test_id="t1", tested_on="2024-05-21", substance="heroin"
            ),
        ),
        e(*decided(1, "m1", BA_DINH, "2024-06-01")),  # open through the quarter
        e(*decided(2, "m2", BA_DINH, "2024-03-01")),  # expires on 2025-03-01
        e(*decided(3, "m3", BA_DINH, "2025-01-01")),  # decided on S ...
        e(*ended(3, "m3", BA_DINH, "2025-02-10", "addicted")),  # ... ended in the quarter
        e(*decided(4, "m4", HOAN_KIEM, "2024-12-31")),  # ended on S
        e(*ended(4, "m4", HOAN_KIEM, "2025-01-01", "imprisoned")),
        e(*decided(5, "m5", HOAN_KIEM, "2025-03-31")),  # decided on P
        e(*decided(6, "m6", HOAN_KIEM, "2024-04-01")),  # expires on P + 1
        e(*decided(7, "m7", BEN_THANH, "2025-04-01")),  # after the quarter
        e(*decided(8, "m8", BEN_THANH, "2025-02-15")),
        e(*decided(9, "m9", BA_DINH, "2024-11-01")),
        # Moved to Bến Thành before the end: the spell stays in Ba Đình, where its decision was taken.
        e(*ended(9, "m9", BEN_THANH, "2025-01-20", "died")),
        e(*decided(10, "m10", BA_DINH, "2023-02-01")),  # expired 2024-02-01, ended later: not in Q1
        e(*ended(10, "m10", BA_DINH, "2024-05-01", "missing")),
    ]


@pytest.mark.parametrize("order", ["as_published", "ended_before_decided"])
async def test_report_figures_for_a_known_scenario(reporting, order):
    events = scenario(reporting.registry)
    if order == "ended_before_decided":
        events = [e for e in events if e.subject == ENDED] + [e for e in events if e.subject != ENDED][::-1]
    await reporting.registry.publish(*events)
    status = await reporting.caught_up(len(events))
    assert status.last_event_time == max(e.headers["ce-time"] for e in events)

    report = await reporting.report()
    assert (report.period_start, report.period_end) == ("2025-01-01", "2025-03-31")
    assert [(r.commune_code, r.commune_name, r.province_code) for r in report.rows] == [
        (BA_DINH, "Phường Ba Đình", "01"),
        (HOAN_KIEM, "Phường Hoàn Kiếm", "01"),
        (BEN_THANH, "Phường Bến Thành", "79"),
    ]
    assert [row_figures(r) for r in report.rows] == [
        (3, 1, {"expired": 1, "addicted": 1, "died": 1}, 1),
        (2, 1, {"imprisoned": 1}, 2),
        (0, 1, {}, 1),
    ]
    assert row_figures(report.total) == (5, 3, {"expired": 1, "addicted": 1, "died": 1, "imprisoned": 1}, 4)
    assert report.total.commune_name == "Tổng cộng"

    in_hanoi = await reporting.report(province="01")
    assert [r.commune_code for r in in_hanoi.rows] == [BA_DINH, HOAN_KIEM]
    assert (in_hanoi.total.province_code, row_figures(in_hanoi.total)[0]) == ("01", 5)
    chosen = await reporting.report(communes=[CUA_NAM, BA_DINH])
    assert [(r.commune_code, r.commune_name, row_figures(r)) for r in chosen.rows] == [
        (BA_DINH, "Phường Ba Đình", (3, 1, {"expired": 1, "addicted": 1, "died": 1}, 1)),
        (CUA_NAM, "Phường Cửa Nam", (0, 0, {}, 0)),
    ]
    april = await reporting.report(start="2025-04-01", end="2025-04-30")
    assert row_figures(april.total) == (4, 1, {"expired": 1}, 4)  # m6 expires on 1 April, m7 is new


async def test_an_end_that_arrives_first_waits_for_its_decision(reporting):
    registry = reporting.registry
    decision = registry.event(*decided(1, "m1", BA_DINH, "2024-10-01"))
    end = registry.event(*ended(1, "m1", BA_DINH, "2025-02-01", "reform_school"))
    await registry.publish(end)
    await reporting.caught_up(1)
    assert list((await reporting.report()).rows) == []
    await registry.publish(decision)
    await reporting.caught_up(2)
    (row,) = (await reporting.report()).rows
    assert row_figures(row) == (1, 0, {"reform_school": 1}, 0)


async def test_the_same_event_twice_counts_once(reporting):
    registry = reporting.registry
    first = registry.event(*decided(1, "m1", BA_DINH, "2025-01-15"))
    # Same ce-id under another Nats-Msg-Id: JetStream keeps both, as after its de-duplication window.
    copy = Event(first.subject, first.payload, {**first.headers, "Nats-Msg-Id": "another-message-id"})
    other = registry.event(*decided(2, "m2", BA_DINH, "2025-01-16"))
    await registry.publish(first, copy, other)
    await reporting.caught_up(2)

    async def all_acked():
        info = await reporting.js.consumer_info(REGISTRY.name, "reporting-registry")
        return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq == 3

    await eventually(all_acked, message="all three messages acknowledged")
    (row,) = (await reporting.report()).rows
    assert row_figures(row) == (0, 2, {}, 2)
    sample = reporting.plan.infra.registry.get_sample_value(
        "lienthong_events_consumed_total",
        {"consumer": "reporting-registry", "subject": DECIDED, "outcome": "duplicate"},
    )
    assert sample == 1


async def test_poison_events_are_dead_lettered_with_their_reason_while_good_ones_flow(reporting):
    registry = reporting.registry
    good = [registry.event(*decided(n, f"m{n}", BA_DINH, "2025-02-01")) for n in (1, 2, 3)]
    undecodable = registry.event(
        DECIDED, events_pb2.ManagementDecided(), person=pseudonym(9), payload=b"\xff\x00garbage"
    )
    teleported = registry.event("registry.person.teleported.v1", events_pb2.PersonRegistered(person=ref(8)))
    bad_date = registry.event(*decided(7, "m7", BA_DINH, "2025-02-30", expires="2026-02-28"))
    no_pseudonym = registry.event(
        DECIDED,
        events_pb2.ManagementDecided(
            person=common_pb2.PersonRef(commune_code=BA_DINH, province_code="01"),
            management_id="m6",
            decided_on="2025-02-01",
            expires_on="2026-02-01",
        ),
        person=pseudonym(6),
    )
    stolen = registry.event(*ended(5, "m1", BA_DINH, "2025-02-10", "died"))  # m1 is person 1's
    await registry.publish(good[0], undecodable, teleported, good[1], bad_date, no_pseudonym, stolen, good[2])
    await reporting.caught_up(applied=3, dead=5)

    reasons = {}
    for seq in range(1, 6):
        message = await reporting.js.get_msg("DLQ_REPORTING", seq)
        reasons[message.headers["lt-dlq-original-subject"], message.headers["ce-id"]] = message.headers[
            "lt-dlq-reason"
        ]
    assert (
        "payload is not a lienthong.registry.v1.ManagementDecided"
        in reasons[DECIDED, undecodable.headers["ce-id"]]
    )
    assert (
        "unknown subject registry.person.teleported.v1"
        in reasons["registry.person.teleported.v1", teleported.headers["ce-id"]]
    )
    assert "decided_on is not a real calendar date" in reasons[DECIDED, bad_date.headers["ce-id"]]
    assert "person.pseudonym '' is missing" in reasons[DECIDED, no_pseudonym.headers["ce-id"]]
    assert "belongs to another person" in reasons[ENDED, stolen.headers["ce-id"]]
    (row,) = (await reporting.report()).rows
    assert row_figures(row) == (0, 3, {}, 3)


async def test_bad_queries_are_refused_with_invalid_argument_in_the_callers_language(reporting):
    def request(**fields):
        base = {"period_start": "2025-01-01", "period_end": "2025-03-31"}
        return reporting_pb2.ManagementReportRequest(**{**base, **fields})

    cases = [
        (request(period_end="2024-12-31"), "period.order", "before it starts", "trước ngày bắt đầu"),
        (
            request(period_start="2025-02-30"),
            "period_start.invalid",
            "not a real calendar date",
            "không phải ngày",
        ),
        (request(period_end="31/03/2025"), "period_end.format", "YYYY-MM-DD", "phải có dạng"),
        (request(commune_codes=["４"]), "commune_codes.format", "5 digits", "5 chữ số"),
        (
            request(commune_codes=["99999"]),
            "commune_codes.unknown",
            "not in the current official list",
            "không có trong",
        ),
        (
            request(province_code="99"),
            "province_code.unknown",
            "not in the current official list",
            "không có trong",
        ),
        (
            request(commune_codes=[BEN_THANH], province_code="01"),
            "commune_codes.outside_province",
            "not in province 01",
            "không thuộc",
        ),
    ]
    for message, code, english, vietnamese in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await reporting.stub.GetManagementReport(message)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert vietnamese in refused.value.details()
        assert dict(refused.value.trailing_metadata())["error-code"] == code
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await reporting.stub.GetManagementReport(message, metadata=[("accept-language", "en")])
        assert english in refused.value.details()


async def test_metrics_show_consumer_counts_and_lag(reporting):
    await reporting.registry.publish(reporting.registry.event(*decided(1, "m1", BA_DINH, "2025-01-15")))
    await reporting.caught_up(1)

    async def scrape():
        raw = await asyncio.to_thread(
            lambda: urllib.request.urlopen(reporting.ready["metrics"], timeout=5).read()
        )
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(raw.decode())
            for sample in family.samples
        }
        applied = ("consumer", "reporting-registry"), ("outcome", "applied"), ("subject", DECIDED)
        # The lag gauge has a sample only once the runtime's periodic refresh has asked the server.
        lag = samples.get(("lienthong_consumer_lag_messages", (("consumer", "reporting-registry"),)))
        return lag == 0 and samples.get(("lienthong_events_consumed_total", applied)) == 1

    await eventually(scrape, message="consumer metrics on /metrics")


# --- storage and decoding, without the bus --------------------------------------------------------


@pytest.fixture
async def sessions(database_url):
    engine = create_engine(database_url)
    await migrate.upgrade(engine, MIGRATIONS)
    yield session_factory(engine)
    await engine.dispose()


async def test_the_migration_creates_exactly_the_tables_storage_uses(sessions):
    def differences(connection):
        return compare_metadata(MigrationContext.configure(connection), storage.metadata)

    async with sessions() as session:
        connection = await session.connection()
        assert await connection.run_sync(differences) == []


def random_spells(rng: random.Random, n: int) -> list[dict]:
    day0 = date(2024, 1, 1)
    rows = []
    for i in range(n):
        commune = rng.choice([BA_DINH, HOAN_KIEM, CUA_NAM, BEN_THANH])
        row = {"management_id": f"m{i}", "pseudonym": pseudonym(i)}
        if rng.random() < 0.9:  # some decisions have not arrived yet
            decided_on = day0 + timedelta(rng.randrange(730))
            row |= {
                "commune_code": commune,
                "province_code": PROVINCE[commune],
                "sex": "male",
                "age_band": "18_to_30",
                "decided_on": decided_on,
                "expires_on": decided_on + timedelta(rng.choice([1, 30, 365, 366])),
                "decided_version": 1,
            }
        if rng.random() < 0.5:
            row |= {
                "ended_on": day0 + timedelta(rng.randrange(-30, 800)),
                "end_reason": rng.choice(["addicted", "imprisoned", "died"]),
                "ended_version": 2,
            }
        rows.append(row)
    return rows


async def test_the_sql_report_gives_the_domain_figures_on_random_data(sessions):
    rng = random.Random(20250101)
    rows = random_spells(rng, 600)
    async with sessions.begin() as session:
        await storage.upsert_spells(session, rows)
    spells = [
        domain.Spell(
            r["commune_code"],
            r["province_code"],
            r["decided_on"],
            r["expires_on"],
            r.get("ended_on"),
            r.get("end_reason"),
        )
        for r in rows
        if "decided_on" in r
    ]
    async with sessions() as session:
        assert sorted(await storage.load_spells(session), key=repr) == sorted(spells, key=repr)
        periods = [(date(2025, 1, 1), date(2025, 3, 31)), (date(2024, 1, 1), date(2024, 1, 1))]
        for _ in range(40):
            start = date(2023, 12, 1) + timedelta(rng.randrange(800))
            periods.append((start, start + timedelta(rng.randrange(400))))
        for start, end in periods:
            period = domain.Period(start, end)
            expected = domain.counts_by_commune(spells, period)
            assert await storage.management_counts(session, period) == expected, period
            in_hanoi = {k: v for k, v in expected.items() if k[1] == "01"}
            assert await storage.management_counts(session, period, province_code="01") == in_hanoi
            two = {k: v for k, v in expected.items() if k[0] in (BA_DINH, BEN_THANH)}
            assert await storage.management_counts(session, period, commune_codes=[BA_DINH, BEN_THANH]) == two


async def test_decided_and_ended_parts_give_the_same_row_in_either_order_and_newest_wins(sessions):
    def delivered(event: Event) -> Delivered:
        envelope = Envelope.parse(event.subject, event.headers, event.payload)
        return Delivered(envelope, consumer.decode(envelope), raw=None)

    registry = FakeRegistry(js=None)
    decision = delivered(registry.event(*decided(1, "m1", BA_DINH, "2025-01-10")))
    first_end = delivered(registry.event(*ended(1, "m1", HOAN_KIEM, "2025-02-01", "missing")))
    corrected_end = delivered(registry.event(*ended(1, "m1", HOAN_KIEM, "2025-03-01", "imprisoned")))
    async with sessions.begin() as session:
        await consumer.apply(session, [corrected_end], consumer="reporting-registry")
        # The older end arrives late: ignored.
        await consumer.apply(session, [first_end, decision], consumer="reporting-registry")
    async with sessions() as session:
        assert await storage.load_spells(session) == [
            domain.Spell(BA_DINH, "01", date(2025, 1, 10), date(2026, 1, 10), date(2025, 3, 1), "imprisoned")
        ]
        newest = await storage.last_event_time(session, "reporting-registry")
    assert newest == max(d.envelope.time for d in (decision, first_end, corrected_end))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: m.person.ClearField("commune_code"), "person.commune_code: A commune code is 5 digits"),
        (lambda m: setattr(m.person, "commune_code", "99999"), "Commune code 99999 is not in the current"),
        (lambda m: setattr(m.person, "province_code", "79"), "is not the province of commune 00004"),
        (lambda m: setattr(m.person, "sex", 7), "person.sex 7 is not a known value"),
        (lambda m: setattr(m, "expires_on", "2025-01-10"), "expires_on 2025-01-10 is not after"),
        (lambda m: setattr(m, "management_id", ""), "management_id '' is missing"),
        (lambda m: m.ClearField("person"), "person is missing"),
        (lambda m: setattr(m.person, "pseudonym", pseudonym(2)), "does not match the ce-subject"),
    ],
)
def test_decode_names_what_is_wrong(mutate, reason):
    _, message = decided(1, "m1", BA_DINH, "2025-01-10")
    mutate(message)
    event = FakeRegistry(js=None).event(DECIDED, message, person=pseudonym(1))
    with pytest.raises(BadEvent, match=reason.replace("(", r"\(")):
        consumer.decode(Envelope.parse(event.subject, event.headers, event.payload))


def test_decode_maps_a_good_event_to_facts():
    event = FakeRegistry(js=None).event(*decided(1, "m1", BEN_THANH, "2025-01-10"))
    decoded = consumer.decode(Envelope.parse(event.subject, event.headers, event.payload))
    assert decoded.step.event_type == DECIDED and decoded.step.record_id == "m1"
    assert decoded.step.occurred_on == date(2025, 1, 10) and decoded.step.agency == "police"
    assert dict(decoded.step.codes)["expires_on"] == "2026-01-10"
    assert decoded.fact == consumer.Decided(
        person=consumer.PersonFacts(pseudonym(1), "male", "18_to_30", BEN_THANH, "79"),
        management_id="m1",
        decided_on=date(2025, 1, 10),
        expires_on=date(2026, 1, 10),
    )
