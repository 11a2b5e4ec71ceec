"""The demo scenario: deterministic, and every command in it is one the registry must accept."""

from __future__ import annotations

import asyncio
import unicodedata
from collections import Counter
from datetime import date

import grpc
import pytest
from rich.console import Console
from vietnam_provinces import Ward

from lienthong.cccd import Sex, validate_citizen_id
from lienthong.dates import add_years
from lienthong.demo import (
    DEMO_COMMUNES,
    FIRST_ACT,
    HA_DONG_WARDS,
    HA_NOI_COMMUNES,
    LAI_CHAU_WARDS,
    REGIONS,
    TOTAL_LABEL,
    build_scenario,
    report_table,
    wait_for_ingest,
)
from lienthong.units import commune
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.registry import domain as registry_domain

AS_OF = date(2026, 11, 1)
# The registry's own lists: the demo must only send what the registry accepts.
SUBSTANCES = registry_domain.SUBSTANCES
REASONS = {reason.value for reason in registry_domain.EndReason}


def test_same_seed_same_people_other_seed_other_people() -> None:
    assert build_scenario(50, 3, as_of=AS_OF) == build_scenario(50, 3, as_of=AS_OF)
    assert build_scenario(50, 3, as_of=AS_OF) != build_scenario(50, 4, as_of=AS_OF)


@pytest.mark.parametrize("seed", [1, 2025])
def test_people_are_valid_for_the_registry(seed: int) -> None:
    plans = build_scenario(300, seed, as_of=AS_OF)
    assert len({p.citizen_id for p in plans}) == 300
    communes = {code for code, _ in DEMO_COMMUNES}
    for plan in plans:
        validate_citizen_id(plan.citizen_id, date_of_birth=plan.date_of_birth, sex=Sex(plan.sex))
        assert unicodedata.is_normalized("NFC", plan.full_name) and len(plan.full_name.split()) == 3
        assert plan.commune_code in communes


def test_demo_communes_are_official_communes_of_ha_noi_and_lai_chau() -> None:
    assert len(HA_NOI_COMMUNES) == 8 and len(DEMO_COMMUNES) == len({code for code, _ in DEMO_COMMUNES})
    for code, _ in DEMO_COMMUNES:
        assert len(code) == 5 and Ward.from_code(int(code))
    assert {commune(code).province_code for code, _ in HA_NOI_COMMUNES + HA_DONG_WARDS} == {"01"}
    assert {commune(code).province_code for code, _ in LAI_CHAU_WARDS} == {"12"}
    # Wards of the Hà Đông plan (2021-2025) and the two wards of the Lai Châu city plan (2022).
    assert {code for code, _ in HA_DONG_WARDS} <= {"09556", "09552", "09562", "09568", "09886"}
    assert {code for code, _ in LAI_CHAU_WARDS} == {"03408", "03388"}


def _region(code: str) -> str:
    return next(region.name for region in REGIONS if code in dict(region.communes))


@pytest.mark.parametrize("people", [60, 300, 1000])
def test_hanoi_inner_wards_are_the_bulk_and_the_plan_wards_a_minority(people: int) -> None:
    plans = build_scenario(people, 2025, as_of=AS_OF)
    shares = Counter(_region(plan.commune_code) for plan in plans)
    total = sum(region.weight for region in REGIONS)
    for region in REGIONS:  # each region's share, rounded, whatever the number of people
        assert abs(shares[region.name] - people * region.weight / total) < 1.5, (region.name, shares)
    assert shares["Hà Nội"] > 0.7 * people and 0 < shares["Lai Châu"] < 0.1 * people


@pytest.mark.parametrize(("people", "seed"), [(60, 2025), (120, 2025), (300, 1), (300, 77)])
def test_every_region_has_decisions_in_every_year(people: int, seed: int) -> None:
    """The plans' periods (2022, 2023, 2021-2025) need people in their unit then, even in a small demo."""
    years = Counter(
        (_region(plan.commune_code), command.on.year)
        for plan in build_scenario(people, seed, as_of=AS_OF)
        for command in plan.commands
        if command.kind == "decide"
    )
    for region in REGIONS:
        for year in range(2022, 2026):
            assert years[region.name, year] > 0, (region.name, year, years)


@pytest.mark.parametrize("seed", [1, 2025, 77])
def test_commands_follow_the_rules(seed: int) -> None:
    plans = build_scenario(300, seed, as_of=AS_OF)
    decisions = ends = during = 0
    for plan in plans:
        days = [c.on for c in plan.commands]
        assert days == sorted(days), plan
        last_test: date | None = None
        open_until: date | None = None  # first day no longer under management
        for command in plan.commands:
            assert FIRST_ACT <= command.on <= AS_OF
            if command.kind == "test":
                assert command.substance in SUBSTANCES and command.place
                last_test = command.on
                during += open_until is not None and command.on < open_until
            elif command.kind == "decide":
                assert last_test is not None and last_test <= command.on, "a positive test comes first"
                assert open_until is None or open_until <= command.on, "never two open managements"
                assert date(2022, 1, 1) <= command.on <= date(2025, 12, 31)
                assert command.decision_number.endswith("/QĐ-UBND")
                open_until = add_years(command.on, 1)
                decisions += 1
            else:
                assert open_until is not None and command.on < open_until, "ends only an open management"
                assert command.reason in REASONS
                open_until = command.on
                ends += 1
    assert decisions > 200 and ends > 50 and during > 10


def test_no_act_before_the_registry_has_a_law_to_judge_it_by() -> None:
    """The registry refuses acts before Law 73/2021 came into force; the demo's first tests are on or after it."""
    first_law_day = registry_domain.LAW_IN_FORCE.changes()[0][0]
    assert first_law_day == FIRST_ACT
    earliest = min(
        c.on for seed in (1, 2025, 77) for p in build_scenario(300, seed, as_of=AS_OF) for c in p.commands
    )
    assert earliest.year == 2022 and earliest >= first_law_day


def test_report_table_shows_official_names_reasons_and_total() -> None:
    row = reporting_pb2.ManagementRow(
        commune_code="00070",
        commune_name="Phường Hoàn Kiếm",
        province_code="01",
        at_period_start=4,
        new_in_period=3,
        ended_in_period=[
            reporting_pb2.ReasonCount(reason="expired", count=2),
            reporting_pb2.ReasonCount(reason="imprisoned", count=1),
        ],
        ended_total=3,
        at_period_end=4,
    )
    report = reporting_pb2.ManagementReport(
        period_start="2025-01-01", period_end="2025-12-31", rows=[row], total=row
    )
    console = Console(record=True, width=200)
    console.print(report_table(report))
    text = console.export_text()
    assert "Phường Hoàn Kiếm" in text and TOTAL_LABEL in text
    assert "Hết hạn" in text and "Phạt tù" in text and "Chết" not in text
    assert "01/01/2025 – 31/12/2025" in text


def test_report_table_groups_rows_by_province_when_there_are_several() -> None:
    def row(code: str, name: str, province: str, new: int) -> reporting_pb2.ManagementRow:
        return reporting_pb2.ManagementRow(
            commune_code=code, commune_name=name, province_code=province, new_in_period=new, at_period_end=new
        )

    rows = [row("03408", "Phường Tân Phong", "12", 2), row("00070", "Phường Hoàn Kiếm", "01", 5)]
    report = reporting_pb2.ManagementReport(
        period_start="2025-01-01", period_end="2025-12-31", rows=rows, total=row("", "", "", 7)
    )
    for compact in (False, True):
        console = Console(record=True, width=200 if not compact else 80)
        console.print(report_table(report, compact=compact))
        text = console.export_text()
        order = ["Thành phố Hà Nội", "Phường Hoàn Kiếm", "Lai Châu", "Phường Tân Phong", TOTAL_LABEL]
        positions = [text.index(label) for label in order]
        assert positions == sorted(positions), text
    one_province = reporting_pb2.ManagementReport(
        period_start="2025-01-01", period_end="2025-12-31", rows=rows[1:], total=rows[1]
    )
    console = Console(record=True, width=200)
    console.print(report_table(one_province))
    assert "Thành phố Hà Nội" not in console.export_text(), "no heading when every row is in one province"


def test_compact_report_table_fits_eighty_columns() -> None:
    row = reporting_pb2.ManagementRow(
        commune_code="00256",
        commune_name="Phường Hai Bà Trưng",
        province_code="01",
        at_period_start=19,
        new_in_period=16,
        ended_in_period=[
            reporting_pb2.ReasonCount(reason=reason, count=2)
            for reason in ("expired", "addicted", "commune_education", "imprisoned", "died", "missing")
        ],
        ended_total=12,
        at_period_end=23,
    )
    report = reporting_pb2.ManagementReport(
        period_start="2025-01-01", period_end="2025-12-31", rows=[row], total=row
    )
    console = Console(record=True, width=80)
    console.print(report_table(report, compact=True))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    assert "Phường Hai Bà Trưng" in text and TOTAL_LABEL in text and "Cuối kỳ" in text


class FakeReporting(reporting_pb2_grpc.ReportingServiceServicer):
    """Answers GetIngestStatus from a script, one answer per poll (the last one repeats)."""

    def __init__(self, answers: list[reporting_pb2.IngestStatus]) -> None:
        self.answers = answers
        self.polls = 0

    async def GetIngestStatus(self, request, context):
        answer = self.answers[min(self.polls, len(self.answers) - 1)]
        self.polls += 1
        return answer


async def _serve(servicer: FakeReporting) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    reporting_pb2_grpc.add_ReportingServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


def _status(applied: int, *, pending: int | None = None) -> reporting_pb2.IngestStatus:
    if pending is None:  # an older reporting: no per-stream sources
        return reporting_pb2.IngestStatus(events_applied=applied)
    sources = [
        reporting_pb2.SourceStatus(stream="REGISTRY", events_applied=applied, pending=pending),
        reporting_pb2.SourceStatus(stream="HEALTH", events_applied=0, pending=0),
    ]
    return reporting_pb2.IngestStatus(events_applied=applied, sources=sources, caught_up=pending == 0)


async def test_wait_needs_caught_up_on_two_polls_a_second_apart() -> None:
    # Caught up, then an event another department answered with shows up, then caught up for good.
    fake = FakeReporting(
        [_status(5, pending=2), _status(7, pending=0), _status(7, pending=1), _status(8, pending=0)]
    )
    server, address = await _serve(fake)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        status = await wait_for_ingest(address, expected=10_000, timeout=20, settle=0.2)
        assert status.caught_up and status.events_applied == 8
        assert fake.polls == 5, "returns on the second caught-up poll in a row, not the first"
        assert loop.time() - started >= 0.4
    finally:
        await server.stop(None)


async def test_wait_counts_events_when_reporting_lists_no_sources() -> None:
    fake = FakeReporting([_status(3), _status(9), _status(12)])
    server, address = await _serve(fake)
    try:
        status = await wait_for_ingest(address, 12, timeout=20)
        assert status.events_applied == 12 and fake.polls == 3
        with pytest.raises(TimeoutError, match="applied 12 of 13 events"):
            await wait_for_ingest(address, 13, timeout=1)
    finally:
        await server.stop(None)


async def test_wait_names_the_streams_still_pending_when_it_gives_up() -> None:
    server, address = await _serve(FakeReporting([_status(5, pending=4)]))
    try:
        with pytest.raises(TimeoutError, match="REGISTRY 4, HEALTH 0"):
            await wait_for_ingest(address, 5, timeout=1)
    finally:
        await server.stop(None)
