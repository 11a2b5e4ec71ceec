"""``lienthong report …`` against reporting serving on a real nats-server and database."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest
from typer.testing import CliRunner

from lienthong.cli import app
from tests.integration import test_reporting_indicators as indicators
from tests.integration.test_reporting_indicators import caught_up, publish_year

pytestmark = pytest.mark.integration
served = indicators.served  # the same fixture: reporting with the test's own plan folder


async def lienthong(*args: str, code: int = 0) -> str:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


async def test_show_plan_export_and_sign_off_from_the_command_line(served, tmp_path):
    js, stub, target = served
    await caught_up(stub, await publish_year(js))
    at = ("--target", target)

    assert "hoan-kiem-2025" in await lienthong("report", "plans", *at)
    shown = await lienthong(
        "report",
        "show",
        "completers_in_aftercare_share",
        "--period",
        "2025",
        "--province",
        "01",
        "--by",
        "commune",
        "--lang",
        "en",
        *at,
    )
    assert "Share of completers placed under aftercare within 30 days" in shown
    assert "Phường Hoàn Kiếm" in shown and "50.0 %" in shown and "66.7 %" in shown
    vietnamese = await lienthong("report", "show", "completers_in_aftercare_share", "--period", "2025", *at)
    assert "66,7 %" in vietnamese  # Vietnamese decimal comma

    progress = await lienthong(
        "report", "plan", "hoan-kiem-2025", "--as-of", "2025-06-30", "--lang", "en", *at
    )
    assert "on track" in progress and "behind" in progress

    out = tmp_path / "dossiers.csv"
    await lienthong(
        "report",
        "export",
        "indicators",
        "--indicator",
        "compulsory_dossiers_opened",
        "--period",
        "2025-H1",
        "--province",
        "01",
        "--format",
        "csv",
        "--out",
        str(out),
        *at,
    )
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["Chỉ tiêu", "Nhóm", "Tử số"] and rows[1][2] == "2"

    unit = ("--period", "2025", "--province", "01", "--commune", "00070")
    assert "signed off by CT-HK" in await lienthong("report", "signoff", *unit, "--officer", "CT-HK", *at)
    refused = await lienthong("report", "signoff", *unit, "--officer", "CT-HK", "--lang", "en", *at, code=1)
    assert "signoff.locked" in refused and "already approved and locked" in refused
    assert "no difference since" in await lienthong("report", "signed", *unit, *at)


async def test_bad_periods_and_an_unreachable_service_are_answered_clearly():
    output = await lienthong("report", "show", "--period", "2025-Q5", code=2)
    assert "is not a period" in output
    output = await lienthong("report", "plans", "--target", "127.0.0.1:1", code=2)
    assert "cannot reach reporting at 127.0.0.1:1" in output


async def test_alerts_as_a_table_and_as_an_export(served, tmp_path):
    js, stub, target = served
    await caught_up(stub, await publish_year(js))
    # P2 completed methadone on 2025-05-01 and was never placed: aftercare is to act.
    listed = await lienthong("report", "alerts", "--as-of", "2025-06-30", "--lang", "en", "--target", target)
    assert "completer_without_aftercare" in listed and "Phường Hoàn Kiếm" in listed and "aftercare" in listed
    out = tmp_path / "alerts.csv"
    await lienthong(
        "report",
        "export",
        "alerts",
        "--as-of",
        "2025-06-30",
        "--format",
        "csv",
        "--out",
        str(out),
        "--target",
        target,
    )
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["Xã, phường", "Quy tắc", "Bí danh"]
    assert any(r[1] == "completer_without_aftercare" and r[2].startswith("1:") for r in rows[1:])
