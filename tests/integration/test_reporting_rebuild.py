"""Reporting drops its read model and rebuilds it by replaying the four department streams.

Real nats-server and database; reporting runs through its real ``serve()``. The test plays the departments
(as in ``test_reporting_departments``), takes every answer reporting gives, rebuilds, and asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import defaultdict
from datetime import date, timedelta

import grpc
import nats
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lienthong import bus, inbox
from lienthong.cli import app
from lienthong_contracts.aftercare.v1 import events_pb2 as aftercare
from lienthong_contracts.health.v1 import events_pb2 as health
from lienthong_contracts.registry.v1 import events_pb2 as registry
from lienthong_contracts.rehab.v1 import events_pb2 as rehab
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting import storage
from services.reporting.main import build_plan
from services.reporting.rebuild import empty_read_model
from services.reporting.settings import ReportingSettings
from tests.conftest import RunningService, eventually
from tests.integration import test_reporting as base
from tests.integration.test_reporting import (
    BA_DINH,
    BEN_THANH,
    CUA_NAM,
    DECIDED,
    HOAN_KIEM,
    REGISTERED,
    REGISTRY,
    TESTED,
    Event,
    FakeRegistry,
    Running,
    decided,
    ended,
    pseudonym,
    ref,
    scenario,
)
from tests.integration.test_reporting_departments import Department, declare_all

pytestmark = pytest.mark.integration
reporting = base.reporting  # reporting serving on a fresh nats-server and database

STREAMS = ("REGISTRY", "HEALTH", "REHAB", "AFTERCARE")
COMMUNES = (BA_DINH, HOAN_KIEM, CUA_NAM, BEN_THANH)
BULK_PEOPLE = 400  # registered, tested, most put under management, some ended: four events each at most
REASONS = ("addicted", "imprisoned", "died", "missing", "reform_school")
PERIODS = [
    ("2024-01-01", "2024-12-31"),
    ("2025-01-01", "2025-03-31"),
    ("2025-04-01", "2025-06-30"),
    ("2025-01-01", "2025-12-31"),
]
PEOPLE_SHOWN = (1, 3, 4, 9, 41, 42, 150, 333)


def bulk(reg, rng: random.Random, people: int) -> list[Event]:
    events = []
    for n in range(100, 100 + people):
        commune = rng.choice(COMMUNES)
        day = date(2024, 1, 1) + timedelta(days=rng.randrange(640))
        events.append(
            reg.event(REGISTERED, registry.PersonRegistered(person=ref(n, commune), registered_on=str(day)))
        )
        events.append(
            reg.event(
                TESTED,
                registry.PositiveDrugTestRecorded(
                    person=ref(n, commune), test_id=f"t{n}", tested_on=str(day), substance="heroin"
                ),
            )
        )
        if rng.random() < 0.8:
            decided_on = day + timedelta(days=rng.randrange(1, 30))
            events.append(reg.event(*decided(n, f"m{n}", commune, str(decided_on))))
            if rng.random() < 0.4:
                end = decided_on + timedelta(days=rng.randrange(1, 400))
                events.append(reg.event(*ended(n, f"m{n}", commune, str(end), rng.choice(REASONS))))
    return events


async def publish_departments(js) -> None:
    health_dept = Department(js, "health", "health")
    rehab_dept = Department(js, "rehab", "labour")
    aftercare_dept = Department(js, "aftercare", "police")
    await health_dept.publish(
        "health.methadone.enrolled.v1",
        health.MethadoneEnrolled(person=ref(41, HOAN_KIEM), episode_id="ep-1", enrolled_on="2024-02-01"),
    )
    await health_dept.publish(
        "health.determination.concluded.v1",  # not a real date: dead-lettered
        health.DeterminationConcluded(
            person=ref(43),
            determination_id="d-1",
            concluded_on="2025-13-01",
            result=health.DETERMINATION_RESULT_ADDICTED,
        ),
    )
    await health_dept.publish(
        "health.methadone.ended.v1",
        health.MethadoneEnded(
            person=ref(41, HOAN_KIEM), episode_id="ep-1", ended_on="2025-04-01", reason="completed"
        ),
    )
    await rehab_dept.publish(
        "rehab.admission.admitted.v1",
        rehab.Admitted(
            person=ref(42, BA_DINH),
            admission_id="adm-1",
            kind="voluntary_community",
            admitted_on="2024-10-01",
            term_months=6,
            law_version="law_73_2021",
        ),
    )
    await rehab_dept.publish(
        "rehab.admission.returned.v1",
        rehab.Returned(person=ref(42, BA_DINH), admission_id="adm-1", returned_on="2025-02-05"),
    )
    await aftercare_dept.publish(
        "aftercare.case.opened.v1",
        aftercare.CaseOpened(
            person=ref(41, HOAN_KIEM),
            case_id="case-1",
            source="health:ep-1",
            source_kind="methadone",
            completed_on="2025-04-01",
            opened_on="2025-04-02",
        ),
    )
    await aftercare_dept.publish(
        "aftercare.model.changed.v1",
        aftercare.ModelChanged(
            commune_code=HOAN_KIEM, province_code="01", changed_on="2025-01-15", status="started"
        ),
        person=f"commune:{HOAN_KIEM}",
    )
    await aftercare_dept.publish(
        "aftercare.support.given.v1",
        aftercare.SupportGiven(
            person=ref(41, HOAN_KIEM), case_id="case-1", given_on="2025-06-01", kind="loan"
        ),
    )


async def populate(r, people: int = BULK_PEOPLE) -> reporting_pb2.IngestStatus:
    """A varied read model on all four streams, with dead letters and a duplicate; wait until caught up."""
    await declare_all(r.js)
    reg = r.registry
    events = scenario(reg)
    first = events[2]
    duplicate = Event(first.subject, first.payload, {**first.headers, "Nats-Msg-Id": "a-second-copy"})
    undecodable = reg.event(
        DECIDED, registry.ManagementDecided(), person=pseudonym(9), payload=b"\xff\x00garbage"
    )
    stolen = reg.event(*ended(5, "m1", BA_DINH, "2025-02-10", "died"))  # m1 is person 1's
    more = bulk(reg, random.Random(7), people)
    await reg.publish(*events, duplicate, undecodable, stolen, *more)
    await publish_departments(r.js)
    applied = len(events) + len(more) + 7  # the departments' eight events but the bad date
    return await caught_up(r, applied=applied, dead=3)


async def caught_up(r, *, applied: int, dead: int) -> reporting_pb2.IngestStatus:
    async def check():
        status = await r.status()
        done = status.caught_up and status.events_applied == applied and status.events_dead_lettered == dead
        return status if done else None

    return await eventually(check, timeout=60, message=f"{applied} applied, {dead} dead-lettered, caught up")


async def answers(r) -> dict:
    """Everything reporting answers, as protobuf messages (equal when every field is equal)."""
    stub = r.stub
    reports = [await r.report(start, end) for start, end in PERIODS]
    reports.append(await r.report("2025-01-01", "2025-12-31", province="01"))
    reports.append(await r.report("2024-01-01", "2025-12-31", communes=[CUA_NAM, BA_DINH]))
    activity = [
        await stub.GetActivityCounts(reporting_pb2.ActivityCountsRequest(period_start=start, period_end=end))
        for start, end in PERIODS
    ]
    activity.append(
        await stub.GetActivityCounts(
            reporting_pb2.ActivityCountsRequest(
                period_start="2024-01-01", period_end="2025-12-31", province_code="79"
            )
        )
    )
    timelines = [
        await stub.GetPersonTimeline(reporting_pb2.PersonTimelineRequest(pseudonym=pseudonym(n)))
        for n in PEOPLE_SHOWN
    ]
    return {"reports": reports, "activity": activity, "timelines": timelines, "status": await r.status()}


async def tables(r) -> dict[str, list]:
    """Every row of the read model (the inbox without its processing times)."""
    dump = {}
    async with r.plan.infra.sessions() as session:
        for table in (
            storage.PEOPLE,
            storage.POSITIVE_TESTS,
            storage.MANAGEMENT_SPELLS,
            storage.STEPS,
            storage.INGEST_STATE,
        ):
            rows = (await session.execute(select(table))).all()
            dump[table.name] = sorted((tuple(row) for row in rows), key=lambda row: str(row[0]))
        c = inbox.INBOX.c
        dump["inbox"] = sorted((await session.execute(select(c.consumer, c.event_id))).all())
    return dump


async def stream_totals(js) -> dict[str, int]:
    return {name: (await js.stream_info(name)).state.messages for name in STREAMS}


async def rebuild(stub) -> list[tuple[float, reporting_pb2.RebuildProgress]]:
    """Every progress message of one rebuild, with the moment it arrived."""
    call = stub.Rebuild(reporting_pb2.RebuildRequest(confirm=True))
    return [(time.perf_counter(), message) async for message in call]


def check_progress(
    received: list[tuple[float, reporting_pb2.RebuildProgress]],
    totals: dict[str, int],
    *,
    read_all_along=True,
) -> None:
    messages = [m for _, m in received]
    *rounds, last = messages
    assert last.done and last.stream == ""
    assert last.applied == last.total == sum(totals.values())
    assert not any(m.done for m in rounds)
    assert [m.stream for m in rounds[:4]] == list(STREAMS)  # one message per stream per round
    by_stream = defaultdict(list)
    for message in rounds:
        by_stream[message.stream].append(message)
    assert set(by_stream) == set(STREAMS)
    for stream, progress in by_stream.items():
        assert {m.total for m in progress} == {totals[stream]}
        applied = [m.applied for m in progress]
        assert applied == sorted(applied), f"{stream} went backwards: {applied}"
        assert applied[-1] == totals[stream]
    if read_all_along:  # messages a busy client has not read wait in its channel: their gaps say nothing
        moments = [moment for moment, _ in received]
        gaps = [b - a for a, b in itertools.pairwise(moments)]
        assert max(gaps, default=0) < 1.0, f"progress messages more than a second apart: {max(gaps):.2f}s"


async def test_the_rebuilt_read_model_answers_exactly_as_before(reporting):
    before_status = await populate(reporting)
    before, rows = await answers(reporting), await tables(reporting)
    assert all(report.rows for report in before["reports"])
    assert before["reports"][1].total.ended_total and before["reports"][3].total.new_in_period
    assert before_status.events_dead_lettered == 3 and len(rows["inbox"]) == before_status.events_applied
    totals = await stream_totals(reporting.js)

    started = time.perf_counter()
    received = await rebuild(reporting.stub)
    took = time.perf_counter() - started
    check_progress(received, totals)
    print(
        f"\nrebuild of {sum(totals.values())} messages ({totals}): {took:.2f}s, {len(received)} progress messages"
    )

    # The call ends when every stream is caught up: nothing to wait for.
    assert await answers(reporting) == before
    assert await tables(reporting) == rows
    dlq = await reporting.js.stream_info("DLQ_REPORTING")
    assert dlq.state.messages == 3  # no second copy of the poison events met again

    # And once more, after which new events still flow as usual.
    check_progress(await rebuild(reporting.stub), totals)
    assert await answers(reporting) == before
    await reporting.registry.publish(reporting.registry.event(*decided(2000, "m2000", BA_DINH, "2025-02-01")))
    await caught_up(reporting, applied=before_status.events_applied + 1, dead=3)


async def test_a_rebuild_must_be_confirmed(reporting):
    await reporting.registry.publish(reporting.registry.event(*decided(1, "m1", BA_DINH, "2025-01-15")))
    await reporting.caught_up(1)
    before = await answers(reporting)
    for language, text in (("vi", "gửi confirm=true để xác nhận"), ("en", "send confirm=true to go ahead")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in reporting.stub.Rebuild(
                reporting_pb2.RebuildRequest(), metadata=[("accept-language", language)]
            ):
                pass
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert text in refused.value.details()
        assert dict(refused.value.trailing_metadata())["error-code"] == "confirm.required"
    assert await answers(reporting) == before
    await reporting.registry.publish(reporting.registry.event(*decided(2, "m2", BA_DINH, "2025-01-16")))
    await reporting.caught_up(2)


async def test_a_second_rebuild_is_refused_and_one_left_by_its_client_still_finishes(reporting):
    await populate(reporting)
    before, rows = await answers(reporting), await tables(reporting)

    first = reporting.stub.Rebuild(reporting_pb2.RebuildRequest(confirm=True))
    opening = await first.read()
    assert opening.total > 0 and not opening.done
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in reporting.stub.Rebuild(
            reporting_pb2.RebuildRequest(confirm=True), metadata=[("accept-language", "en")]
        ):
            pass
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already running" in refused.value.details()
    assert dict(refused.value.trailing_metadata())["error-code"] == "rebuild.running"
    first.cancel()  # the operator's terminal closes

    async def next_rebuild_accepted():
        try:
            return await rebuild(reporting.stub)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            return None

    # Accepted only once the abandoned one has finished; that one left the same read model behind.
    received = await eventually(next_rebuild_accepted, timeout=60, message="the first rebuild to finish")
    check_progress(received, await stream_totals(reporting.js))
    assert await answers(reporting) == before
    assert await tables(reporting) == rows


async def test_events_published_during_a_rebuild_are_applied_exactly_once(reporting):
    status = await populate(reporting)
    totals = await stream_totals(reporting.js)
    may_before = await reporting.report("2025-05-01", "2025-05-31", communes=[HOAN_KIEM])
    reg = reporting.registry
    late = [reg.event(*decided(n, f"m{n}", HOAN_KIEM, "2025-05-05")) for n in range(3000, 3010)]
    call = reporting.stub.Rebuild(reporting_pb2.RebuildRequest(confirm=True))
    received = [(time.perf_counter(), await call.read())]
    await reg.publish(
        *late, Event(late[0].subject, late[0].payload, {**late[0].headers, "Nats-Msg-Id": "again"})
    )
    await Department(reporting.js, "aftercare", "police").publish(
        "aftercare.support.given.v1",
        aftercare.SupportGiven(
            person=ref(3000), case_id="case-9", given_on="2025-06-02", kind="vocational_training"
        ),
    )
    while (message := await call.read()) is not grpc.aio.EOF:
        received.append((time.perf_counter(), message))
    # The totals are those at the start: the call ends when those are replayed, the new ones may follow.
    check_progress(received, totals, read_all_along=False)
    after = await caught_up(reporting, applied=status.events_applied + 11, dead=3)
    by_stream = {s.stream: s.events_applied for s in after.sources}
    assert by_stream["REGISTRY"] == {s.stream: s.events_applied for s in status.sources}["REGISTRY"] + 10
    timeline = await reporting.stub.GetPersonTimeline(
        reporting_pb2.PersonTimelineRequest(pseudonym=pseudonym(3000))
    )
    assert [s.event_type for s in timeline.steps] == [DECIDED, "aftercare.support.given.v1"]
    may = await reporting.report("2025-05-01", "2025-05-31", communes=[HOAN_KIEM])
    assert may.total.new_in_period == may_before.total.new_in_period + 10  # the late decisions, once each


async def test_a_rebuild_before_the_other_departments_exist(reporting):
    """Only REGISTRY exists: the other sources have nothing to replay and are read once their owner starts."""
    await reporting.registry.publish(reporting.registry.event(*decided(1, "m1", BA_DINH, "2025-01-15")))
    await reporting.caught_up(1)
    received = await rebuild(reporting.stub)
    assert [(m.stream, m.applied, m.total) for _, m in received[-5:-1]] == [
        ("REGISTRY", 1, 1),
        ("HEALTH", 0, 0),
        ("REHAB", 0, 0),
        ("AFTERCARE", 0, 0),
    ]
    assert received[-1][1].done
    await declare_all(reporting.js)
    await Department(reporting.js, "rehab", "labour").publish(
        "rehab.admission.returned.v1",
        rehab.Returned(person=ref(3), admission_id="adm-3", returned_on="2025-05-05"),
    )
    await reporting.caught_up(2)


async def lienthong(*args: str):
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_the_rebuild_command_shows_progress_and_a_refusal(reporting):
    reg = reporting.registry
    await reg.publish(*[reg.event(*decided(n, f"m{n}", BA_DINH, "2025-02-01")) for n in range(1, 21)])
    await reporting.caught_up(20)
    before = await answers(reporting)
    target = ["--target", reporting.ready["grpc"]]

    done = await lienthong("report", "rebuild", "--yes", *target)
    assert done.exit_code == 0, done.output
    assert "REGISTRY" in done.output and "AFTERCARE" in done.output
    assert "read model rebuilt: 20 of 20 messages replayed" in done.output
    assert await answers(reporting) == before

    running = reporting.stub.Rebuild(reporting_pb2.RebuildRequest(confirm=True))
    await running.read()
    refused = await lienthong("report", "rebuild", "--yes", "--lang", "en", *target)
    assert refused.exit_code == 1, refused.output
    assert "refused (rebuild.running): A rebuild is already running" in refused.output
    while (message := await running.read()) is not grpc.aio.EOF:
        last = message
    assert last.done


@contextlib.asynccontextmanager
async def serving(settings: ReportingSettings, registry: FakeRegistry, js):
    async with RunningService(plan := build_plan(settings)) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            stub = reporting_pb2_grpc.ReportingServiceStub(channel)
            yield Running(registry, js, stub, service.ready, plan)


@pytest.mark.parametrize(
    "crash", ["while_recreating", "before_emptying", "after_emptying", "stopped_during_the_rebuild"]
)
async def test_a_rebuild_cut_short_by_a_crash_is_undone_or_completed_by_the_next_start(
    nats_server, database_url, crash
):
    """The order of the steps makes every crash point safe: the next start finds either the old read model
    with durables at the start (or missing, created again at the start), all acked again as duplicates, or an
    empty read model that it replays the streams into."""
    connection = await nats.connect(nats_server.url)
    js = connection.jetstream()
    await bus.declare_stream(js, REGISTRY)
    settings = ReportingSettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0, ack_wait_seconds=5
    )
    registry = FakeRegistry(js)
    try:
        async with serving(settings, registry, js) as r:
            status = await populate(r, people=40)
            before, rows = await answers(r), await tables(r)
            consumers = r.plan.consumers
            if crash == "stopped_during_the_rebuild":  # SIGTERM half a second into a rebuild
                call = r.stub.Rebuild(reporting_pb2.RebuildRequest(confirm=True))
                assert not (await call.read()).done
                assert not (await call.read()).done
            else:  # the steps of a rebuild by hand, up to the crash
                for consumer in consumers:
                    await consumer.pause()
                if crash == "while_recreating":
                    # The first durable recreated, the second deleted but not created yet.
                    await consumers[0].recreate_from_start()
                    await js.delete_consumer(consumers[1].spec.stream, consumers[1].spec.name)
                else:
                    for consumer in consumers:
                        await consumer.recreate_from_start()
                if crash == "after_emptying":
                    await empty_read_model(r.plan.infra.sessions, [c.spec.name for c in consumers])
                    assert (await r.status()).events_applied == 0
        # The process is gone in the middle of the rebuild: its consumers never resumed.
        async with serving(settings, registry, js) as r:
            await caught_up(r, applied=status.events_applied, dead=3)
            assert await answers(r) == before
            assert await tables(r) == rows
    finally:
        await connection.close()
