"""The demo's last table: each plan loaded in reporting (ListPlans) against the demo's data
(GetPlanProgress), one line per plan counting its targets met, on track, behind and without data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date

import grpc
from rich.table import Table

from lienthong.dates import today_in_vietnam
from lienthong.demo import HORIZON
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc

PLANS_TITLE = "Kế hoạch / Plans"
UNIMPLEMENTED_NOTICE = (
    "reporting does not implement ListPlans or GetPlanProgress yet (UNIMPLEMENTED): no plans summary"
)
# The report command's own default address: the hint names --target only when reporting is elsewhere.
DEFAULT_REPORTING = "127.0.0.1:50055"
# Below this terminal width the plan titles are left out (the id names the plan).
COMPACT_BELOW = 120
# GetPlanProgress statuses, in the order of the columns.
STATUSES = (
    ("met", "Đạt", "met"),
    ("on_track", "Đúng tiến độ", "on track"),
    ("behind", "Chậm", "behind"),
    ("no_data", "Chưa có số liệu", "no data"),
)


def as_of(today: date | None = None) -> date:
    """The demo's horizon or today, whichever is earlier: the plans are measured on the demo's data."""
    return min(today or today_in_vietnam(), HORIZON)


async def plan_progress(
    reporting_address: str, on: date, *, timeout: float = 30.0
) -> list[reporting_pb2.PlanProgress]:
    """Every plan reporting has loaded, with its progress as of ``on``. Raises grpc.aio.AioRpcError."""
    async with grpc.aio.insecure_channel(reporting_address) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        listed = await stub.ListPlans(reporting_pb2.ListPlansRequest(), timeout=timeout)
        return [
            await stub.GetPlanProgress(
                reporting_pb2.PlanProgressRequest(plan_id=plan.plan_id, as_of=on.isoformat()), timeout=timeout
            )
            for plan in listed.plans
        ]


def status_counts(progress: reporting_pb2.PlanProgress) -> Counter[str]:
    return Counter(target.status for target in progress.targets)


def _period(plan: reporting_pb2.PlanSummary) -> str:
    start, end = plan.period_start[:4], plan.period_end[:4]
    whole_years = plan.period_start[4:] == "-01-01" and plan.period_end[4:] == "-12-31"
    if whole_years:
        return start if start == end else f"{start}–{end}"
    return f"{plan.period_start} – {plan.period_end}"


def hint(reporting_address: str) -> str:
    target = "" if reporting_address == DEFAULT_REPORTING else f" --target {reporting_address}"
    return f"Chi tiết / details: lienthong report plan <id>{target}"


def plans_table(progress: Sequence[reporting_pb2.PlanProgress], on: date, *, compact: bool = False) -> Table:
    """One row per plan: its id (for ``lienthong report plan <id>``), title, period and target counts.

    ``compact`` (terminals narrower than ``COMPACT_BELOW``): without the titles, so a plan stays one line."""
    table = Table(
        title=f"{PLANS_TITLE}\nsố liệu đến / figures to {on:%d/%m/%Y}",
        header_style="bold",
        title_style="bold",
    )
    table.add_column("Mã\nid", no_wrap=True)
    if not compact:
        table.add_column("Kế hoạch\nplan")
    table.add_column("Kỳ\nperiod", no_wrap=True)
    for _status, vi, en in STATUSES:
        table.add_column(f"{vi}\n{en}", justify="right")
    for item in progress:
        counts = status_counts(item)
        table.add_row(
            item.plan.plan_id,
            *([] if compact else [item.plan.title_vi or item.plan.title_en]),
            _period(item.plan),
            *(str(counts[status]) for status, _vi, _en in STATUSES),
        )
    if not progress:
        table.add_row("—", *([] if compact else ["không có kế hoạch / no plans loaded"]))
    return table
