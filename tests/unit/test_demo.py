"""The demo scenario: deterministic, and every command in it is one the registry must accept."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from rich.console import Console
from vietnam_provinces import Ward

from lienthong.cccd import Sex, validate_citizen_id
from lienthong.dates import add_years
from lienthong.demo import DEMO_COMMUNES, TOTAL_LABEL, build_scenario, report_table
from lienthong_contracts.reporting.v1 import reporting_pb2
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


def test_demo_communes_are_official_ha_noi_communes() -> None:
    assert len(DEMO_COMMUNES) == 8
    for code, _ in DEMO_COMMUNES:
        ward = Ward.from_code(int(code))
        assert ward.province_code.value == 1 and len(code) == 5


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
            assert command.on <= AS_OF
            if command.kind == "test":
                assert command.substance in SUBSTANCES and command.place
                last_test = command.on
                during += open_until is not None and command.on < open_until
            elif command.kind == "decide":
                assert last_test is not None and last_test <= command.on, "a positive test comes first"
                assert open_until is None or open_until <= command.on, "never two open managements"
                assert date(2024, 1, 1) <= command.on <= date(2025, 12, 31)
                assert command.decision_number.endswith("/QĐ-UBND")
                open_until = add_years(command.on, 1)
                decisions += 1
            else:
                assert open_until is not None and command.on < open_until, "ends only an open management"
                assert command.reason in REASONS
                open_until = command.on
                ends += 1
    assert decisions > 200 and ends > 50 and during > 10


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
