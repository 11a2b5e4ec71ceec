"""The real system as separate processes (nats-server, registry, reporting) under the local-run supervisor.

The demo scenario goes in through the registry's public gRPC API; halfway through, the reporting process
is killed with SIGKILL and started again. Afterwards reporting's figures must equal the figures recomputed
from the registry's own tables: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import urllib.request
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lienthong.demo import (
    DEMO_COMMUNES,
    TOTAL_LABEL,
    build_scenario,
    commune_name,
    ingest_status,
    load_scenario,
    management_report,
    wait_for_ingest,
)
from lienthong.demo_activity import ACTIVITY_TITLE, UNIMPLEMENTED_NOTICE
from lienthong.demo_paths import PLAN_UNITS
from lienthong.demo_plans import PLANS_TITLE
from lienthong.localrun import SERVICES, LocalSystem
from tests.conftest import POSTGRES_URL, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
DEMO_COMMAND = [sys.executable, "-m", "lienthong.cli", "demo", "--no-wait", "--people", "60"]
PERIODS = [
    (date(2024, 1, 1), date(2024, 12, 31)),
    (date(2025, 1, 1), date(2025, 12, 31)),
    (date(2025, 1, 1), date(2025, 3, 31)),
    (date(2025, 4, 1), date(2025, 6, 30)),
    (date(2025, 7, 1), date(2025, 9, 30)),
    (date(2025, 10, 1), date(2025, 12, 31)),
]


def _backends() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    if POSTGRES_URL:
        params.append(pytest.param("postgresql", id="postgresql"))
    return params


@pytest.fixture(params=_backends())
def system(request: pytest.FixtureRequest, tmp_path: Path):
    prefix = f"lt_e2e_{uuid.uuid4().hex[:10]}"
    database_url = POSTGRES_URL if request.param == "postgresql" else None
    local = LocalSystem(
        tmp_path / "run",
        database_url=database_url,
        fresh=True,
        prefer_default_ports=False,
        database_prefix=prefix,
    )
    local.start()
    try:
        yield local
    finally:
        local.stop()
        if database_url:
            asyncio.run(_drop_databases(database_url, [f"{prefix}_{service.name}" for service in SERVICES]))


async def _drop_databases(url: str, names: list[str]) -> None:
    import asyncpg

    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _registry_query(system: LocalSystem, sql: str) -> list[tuple]:
    """Read the registry's own tables (read-only) from its SQLite file or PostgreSQL database."""
    url = system.database_urls()["registry"]
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            return [tuple(row) for row in connection.execute(sql)]
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def _day(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def expected_report(managements: list[tuple], start: date, end: date) -> dict[str, dict]:
    """The management report recomputed from the registry's rows.

    Under management on day d iff decided_on <= d < E, E = min(ended_on, expires_on)."""
    rows: dict[str, dict] = {}
    for decided, expires, ended, reason, commune in managements:
        decided, expires, ended = _day(decided), _day(expires), _day(ended)
        finish = min(ended, expires) if ended else expires
        why = reason if ended is not None and ended <= expires else "expired"
        row = rows.setdefault(commune, {"start": 0, "new": 0, "ended": Counter(), "end": 0})
        row["start"] += decided < start <= finish
        row["new"] += start <= decided <= end
        if start <= finish <= end:
            row["ended"][why] += 1
        row["end"] += decided <= end < finish
    return {
        code: row for code, row in rows.items() if row["start"] or row["new"] or row["ended"] or row["end"]
    }


def figures(row) -> dict:
    ended = Counter({item.reason: int(item.count) for item in row.ended_in_period if item.count})
    assert row.ended_total == sum(ended.values()), row
    return {
        "start": int(row.at_period_start),
        "new": int(row.new_in_period),
        "ended": ended,
        "end": int(row.at_period_end),
    }


def actual_report(report) -> dict[str, dict]:
    rows = {row.commune_code: figures(row) for row in report.rows}
    return {
        code: row for code, row in rows.items() if row["start"] or row["new"] or row["ended"] or row["end"]
    }


def _total(rows: dict[str, dict]) -> dict:
    total = {"start": 0, "new": 0, "ended": Counter(), "end": 0}
    for row in rows.values():
        for key in ("start", "new", "end"):
            total[key] += row[key]
        total["ended"].update(row["ended"])
    return total


def metrics_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def metrics(url: str) -> dict[str, list]:
    text = metrics_text(url)
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


async def test_reporting_killed_during_load_equals_registry(system: LocalSystem) -> None:
    registry, reporting = system.endpoints()["registry"], system.endpoints()["reporting"]
    plans = build_scenario(120, seed=7)
    planned = sum(plan.command_count for plan in plans)
    sent = 0
    crash_point = planned * 2 // 5
    time_to_crash = asyncio.Event()

    def on_command(_kind: str, _ok: bool) -> None:
        nonlocal sent
        sent += 1
        if sent == crash_point:
            time_to_crash.set()

    async def crash_reporting() -> tuple[int, int]:
        await time_to_crash.wait()
        killed_at = sent
        old_pid = system.services["reporting"].pid
        endpoint = await asyncio.to_thread(system.restart, "reporting", kill=True)
        assert endpoint.pid != old_pid
        assert system.services["reporting"].process.returncode is None
        return killed_at, sent

    crash = asyncio.create_task(crash_reporting())
    outcome = await load_scenario(plans, registry.grpc, concurrency=20, on_command=on_command)
    killed_at, _ = await asyncio.wait_for(crash, 120)

    assert outcome.failed == 0, outcome.errors
    assert outcome.succeeded == planned
    assert killed_at < planned, "reporting was to be killed while the load was still going on"

    async def all_published():
        rows = await _registry_query(system, "SELECT count(*), count(published_at) FROM outbox")
        return rows[0] if rows[0][0] == rows[0][1] else None

    outbox_rows, _ = await eventually(all_published, timeout=60, message="outbox fully published")
    assert outbox_rows == outcome.succeeded, "each accepted command publishes exactly one event"

    status = await wait_for_ingest(reporting.grpc, outbox_rows, timeout=120)

    async def caught_up():
        status = await ingest_status(reporting.grpc)
        return status if status.caught_up else None

    await eventually(caught_up, timeout=60, message="reporting caught up with every stream")
    await asyncio.sleep(2)  # anything counted twice would show up now
    status = await eventually(caught_up, timeout=10, message="reporting still caught up")
    sources = {source.stream: source for source in status.sources}
    assert status.events_dead_lettered == 0
    assert sources["REGISTRY"].events_applied == outbox_rows
    # Positive tests during management opened determination requests in health; reporting read those too.
    assert sources["HEALTH"].events_applied > 0
    assert status.events_applied == sum(source.events_applied for source in status.sources)

    managements = await _registry_query(
        system, "SELECT decided_on, expires_on, ended_on, end_reason, commune_code FROM managements"
    )
    assert len(managements) == outcome.by_kind["decide"]
    for start, end in PERIODS:
        report = await management_report(reporting.grpc, start, end)
        expected = expected_report(managements, start, end)
        assert actual_report(report) == expected, f"period {start}..{end}"
        assert figures(report.total) == _total(expected), f"total row of {start}..{end}"
        for row in report.rows:
            assert row.commune_name == commune_name(row.commune_code)

    # Reporting figures really moved during the year (the scenario is not trivially empty).
    year = expected_report(managements, date(2025, 1, 1), date(2025, 12, 31))
    assert _total(year)["new"] > 10 and sum(_total(year)["ended"].values()) > 10

    async def registry_metrics_settled():
        samples = metrics(registry.metrics)
        pending = [s.value for s in samples.get("lienthong_outbox_pending_events", [])]
        return samples if pending == [0.0] else None

    samples = await eventually(registry_metrics_settled, timeout=30, message="registry outbox pending 0")
    assert sum(s.value for s in samples["lienthong_outbox_published_total"]) > 0
    assert "lienthong_outbox_pending_events 0.0" in await asyncio.to_thread(metrics_text, registry.metrics)

    restarted = system.endpoints()["reporting"]

    async def reporting_metrics_settled():
        samples = metrics(restarted.metrics)
        lag = samples.get("lienthong_consumer_lag_messages", [])
        return samples if lag and all(s.value == 0 for s in lag) else None

    samples = await eventually(reporting_metrics_settled, timeout=30, message="reporting consumer lag 0")
    applied = [s for s in samples["lienthong_events_consumed_total"] if s.labels.get("outcome") == "applied"]
    assert sum(s.value for s in applied) > 0, "the restarted reporting process applied the rest"


def test_demo_command_prints_the_report(tmp_path: Path) -> None:
    """`lienthong demo --no-wait` as an operator runs it: people walked through every department, a table
    with official commune names and a total, then the activity by department and the plans summary."""
    env = {**os.environ, "COLUMNS": "200", "LIENTHONG_LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        [*DEMO_COMMAND, "--data-dir", str(tmp_path / "demo")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "fresh demo data folder" in output
    names = [commune_name(code) for code, _ in DEMO_COMMUNES]
    shown = [name for name in names if name in output]
    assert len(shown) >= 6, (shown, output)
    assert "Phường" in output and all(name.startswith(("Phường ", "Xã ")) for name in names)
    total_lines = [line for line in output.splitlines() if TOTAL_LABEL in line]
    assert len(total_lines) == 1, output
    numbers = [int(n) for n in re.findall(r"\b\d+\b", total_lines[0])]
    at_start, new, *ended_by_reason, ended_total, at_end = numbers
    assert sum(ended_by_reason) == ended_total
    assert at_start + new - ended_total == at_end
    assert new > 0
    assert re.search(r"✓ [0-9]+ people walked through the departments: [0-9]+ determination", output), output
    # Reporting's GetActivityCounts is being built on main; until it lands the demo prints a one-line
    # notice instead of the table. Either is right here.
    assert ACTIVITY_TITLE in output or UNIMPLEMENTED_NOTICE in output, output
    # One line per shipped plan, then how to see one in detail.
    assert PLANS_TITLE in output, output
    for unit in PLAN_UNITS:
        assert len([line for line in output.splitlines() if unit.plan_id in line]) == 1, (
            unit.plan_id,
            output,
        )
    assert "lienthong report plan <id>" in output
    assert "reporting stopped" in output and "nats-server stopped" in output
    assert not (tmp_path / "demo" / "pids.json").exists()
