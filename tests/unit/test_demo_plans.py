"""The demo's plans summary: every plan reporting lists, its progress asked for as of the demo's horizon,
one line per plan counting targets by status."""

from __future__ import annotations

import re
from datetime import date

import grpc
import pytest
from rich.console import Console

from lienthong import demo_plans
from lienthong.demo import HORIZON
from lienthong_contracts.reporting.v1 import reporting_pb2 as pb
from lienthong_contracts.reporting.v1 import reporting_pb2_grpc

HA_DONG = pb.PlanSummary(
    plan_id="ha-dong-2021-2025",
    title_vi="Hà Đông: kế hoạch giai đoạn 2021-2025",
    title_en="Hà Đông: plan 2021-2025",
    province_code="01",
    period_start="2021-01-01",
    period_end="2025-12-31",
    targets=3,
)
LAI_CHAU = pb.PlanSummary(
    plan_id="lai-chau-city-2022",
    title_vi="Thành phố Lai Châu: kế hoạch năm 2022",
    province_code="12",
    period_start="2022-01-01",
    period_end="2022-12-31",
    targets=4,
)


def progress(plan: pb.PlanSummary, *statuses: str, as_of: str = "2026-06-30") -> pb.PlanProgress:
    return pb.PlanProgress(
        plan=plan,
        as_of=as_of,
        targets=[pb.TargetProgress(target_id=f"t{n}", status=s) for n, s in enumerate(statuses)],
    )


def render(items: list[pb.PlanProgress], width: int = 160) -> list[str]:
    console = Console(record=True, width=width)
    console.print(demo_plans.plans_table(items, date(2026, 6, 30)))
    return console.export_text().splitlines()


def test_as_of_is_the_horizon_or_today_whichever_is_earlier() -> None:
    assert demo_plans.as_of(date(2026, 11, 23)) == HORIZON == date(2026, 6, 30)
    assert demo_plans.as_of(date(2026, 3, 1)) == date(2026, 3, 1)


def test_one_line_per_plan_with_its_targets_counted_by_status() -> None:
    lines = render(
        [
            progress(HA_DONG, "met", "behind", "behind"),
            progress(LAI_CHAU, "on_track", "no_data", "behind", "met"),
        ]
    )
    text = "\n".join(lines)
    assert demo_plans.PLANS_TITLE in text and "30/06/2026" in text
    for header in ("met", "on track", "behind", "no data", "Đạt", "Chậm", "Chưa có số liệu"):
        assert header in text, header
    ha_dong = [line for line in lines if "ha-dong-2021-2025" in line]
    assert len(ha_dong) == 1 and "2021–2025" in ha_dong[0] and "Hà Đông: kế hoạch" in ha_dong[0]
    assert counts(ha_dong[0]) == ["1", "0", "2", "0"]
    lai_chau = next(line for line in lines if "lai-chau-city-2022" in line)
    assert counts(lai_chau) == ["1", "1", "1", "1"] and "│ 2022 " in lai_chau


def counts(line: str) -> list[str]:
    """The four status counts at the end of a row (met, on track, behind, no data)."""
    return re.findall(r"│\s+([0-9]+)\s+(?=│)", line)[-4:]


def test_a_narrow_terminal_keeps_one_line_per_plan_without_the_titles() -> None:
    console = Console(record=True, width=80)
    items = [progress(HA_DONG, "met", "behind"), progress(LAI_CHAU, "no_data")]
    console.print(demo_plans.plans_table(items, date(2026, 6, 30), compact=True))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if "ha-dong-2021-2025" in line or "lai-chau-city-2022" in line]
    assert len(rows) == 2 and "Hà Đông: kế hoạch" not in "\n".join(lines)
    assert counts(rows[0]) == ["1", "0", "1", "0"] and counts(rows[1]) == ["0", "0", "0", "1"]


def test_no_plans_says_so() -> None:
    assert "no plans loaded" in "\n".join(render([]))


def test_the_hint_names_the_target_only_when_reporting_is_not_at_the_default_address() -> None:
    assert demo_plans.hint("127.0.0.1:50055") == "Chi tiết / details: lienthong report plan <id>"
    assert demo_plans.hint("127.0.0.1:41234").endswith("lienthong report plan <id> --target 127.0.0.1:41234")


class FakeReporting(reporting_pb2_grpc.ReportingServiceServicer):
    def __init__(self, *, implemented: bool = True) -> None:
        self.implemented = implemented
        self.asked: list[tuple[str, str]] = []

    async def ListPlans(self, request, context):
        if not self.implemented:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")
        return pb.PlanList(plans=[HA_DONG, LAI_CHAU])

    async def GetPlanProgress(self, request, context):
        self.asked.append((request.plan_id, request.as_of))
        plan = HA_DONG if request.plan_id == HA_DONG.plan_id else LAI_CHAU
        return progress(plan, "met", as_of=request.as_of)


async def _serve(servicer: FakeReporting) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    reporting_pb2_grpc.add_ReportingServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def test_every_listed_plan_is_asked_for_as_of_the_given_day() -> None:
    fake = FakeReporting()
    server, address = await _serve(fake)
    try:
        answers = await demo_plans.plan_progress(address, date(2026, 6, 30))
    finally:
        await server.stop(None)
    assert fake.asked == [("ha-dong-2021-2025", "2026-06-30"), ("lai-chau-city-2022", "2026-06-30")]
    assert [a.plan.plan_id for a in answers] == ["ha-dong-2021-2025", "lai-chau-city-2022"]


async def test_a_reporting_without_plans_answers_unimplemented() -> None:
    server, address = await _serve(FakeReporting(implemented=False))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await demo_plans.plan_progress(address, date(2026, 6, 30))
    finally:
        await server.stop(None)
    assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED
