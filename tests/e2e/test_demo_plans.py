"""Issue 4: the demo feeds the four shipped plans, and `lienthong report` shows the same figures as JSON and in
the XLSX export.

The system runs as separate processes under the local-run supervisor (SQLite). The demo scenario goes in
through the same functions `lienthong demo` uses (the registry phase, then the department phase with the
communes' aftercare models); once reporting has caught up, every plan is asked for through the command
line, as JSON and as an XLSX file opened with openpyxl.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from lienthong import demo, demo_paths, demo_plans, demo_walk
from lienthong.cli import app
from lienthong.localrun import LocalSystem

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

# Smaller than the demo's default 300 people to keep the test short; tests/unit/test_demo_paths.py checks
# that this scenario still has every department's acts in every plan's unit and period.
PEOPLE, SEED = 120, 2025
PLAN_IDS = {unit.plan_id for unit in demo_paths.PLAN_UNITS}
# The plan export's columns (Vietnamese headers, the default language).
TARGET_COLUMN, VALUE_COLUMN, ACTUAL_COLUMN, STATUS_COLUMN = (
    "Chỉ tiêu kế hoạch",
    "Kế hoạch",
    "Thực hiện",
    "Đánh giá",
)
STATUS_VI = {"met": "Đạt", "on_track": "Đúng tiến độ", "behind": "Chậm", "no_data": "Chưa có số liệu"}


@pytest.fixture
def system(tmp_path: Path):
    local = LocalSystem(tmp_path / "run", fresh=True, prefer_default_ports=False)
    local.start()
    try:
        yield local
    finally:
        local.stop()


async def lienthong(*args: str) -> str:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def as_exported(target: dict) -> int | float | None:
    """What the export writes for a target's actual figure: a share to one decimal, a count whole."""
    if not target["has_actual"]:
        return None
    value = float(target["actual"])
    return round(value, 1) if target["measure"] == "percent" else int(value)


def exported_rows(path: Path) -> list[dict]:
    sheet = load_workbook(path, read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    header_at = next(n for n, row in enumerate(rows) if row and row[0] == TARGET_COLUMN)
    header = rows[header_at]
    body = []
    for row in rows[header_at + 1 :]:
        if not row or row[0] in (None, ""):
            break  # the blank row before the note
        body.append(
            {name: (None if value == "" else value) for name, value in zip(header, row, strict=False)}
        )
    return body


async def test_the_demo_feeds_every_shipped_plan_and_the_xlsx_shows_the_json_figures(
    system: LocalSystem, tmp_path: Path
) -> None:
    endpoints = system.endpoints()
    reporting = endpoints["reporting"].grpc
    plans = demo.build_scenario(PEOPLE, SEED)
    paths = demo_paths.plan_departments(plans, SEED)
    loaded = await demo.load_scenario(plans, endpoints["registry"].grpc)
    assert loaded.failed == 0, loaded.errors
    walked = await demo_walk.walk(
        paths, loaded.registered, {name: endpoint.grpc for name, endpoint in endpoints.items()}
    )
    assert walked.failed == 0, walked.errors
    assert walked.by_service["aftercare"] >= len(paths.models) > 0
    status = await demo.wait_for_ingest(reporting, loaded.succeeded + walked.registry_events, timeout=240)
    assert status.caught_up and status.events_dead_lettered == 0

    at = ("--target", reporting)
    as_of = demo_plans.as_of().isoformat()  # what the demo's summary asks for
    listed = json.loads(await lienthong("report", "plans", "--json", *at))
    assert {plan["plan_id"] for plan in listed["plans"]} == PLAN_IDS

    for plan_id in sorted(PLAN_IDS):
        progress = json.loads(await lienthong("report", "plan", plan_id, "--json", "--as-of", as_of, *at))
        targets = progress["targets"]
        assert progress["plan"]["plan_id"] == plan_id and targets

        out = tmp_path / f"{plan_id}.xlsx"
        await lienthong(
            "report",
            "export",
            "plan",
            "--plan",
            plan_id,
            "--as-of",
            as_of,
            "--format",
            "xlsx",
            "--out",
            str(out),
            *at,
        )
        rows = exported_rows(out)
        assert [row[TARGET_COLUMN] for row in rows] == [t["label_vi"] for t in targets], plan_id
        for target, row in zip(targets, rows, strict=True):
            where = f"{plan_id} {target['target_id']}"
            assert row[ACTUAL_COLUMN] == as_exported(target), (where, row, target)
            assert row[STATUS_COLUMN] == STATUS_VI[target["status"]], (where, row, target)
            if target["comparison"] != "below_previous_year":
                assert row[VALUE_COLUMN] == pytest.approx(target["target"]), (where, row, target)

        # The demo really feeds the plan: at least two of its targets have figures above zero.
        fed = [t["target_id"] for t in targets if t["has_actual"] and t["actual"] > 0]
        assert len(fed) >= 2, (plan_id, targets)
