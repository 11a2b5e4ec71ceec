"""The demo's second table: what each department did in a period and unit, from reporting's
GetActivityCounts (events and distinct people per department and event type)."""

from __future__ import annotations

import re
from datetime import date

import grpc
from rich.table import Table

from lienthong.demo import DEMO_COMMUNES, FIRST_DECISION, HORIZON
from lienthong.units import commune, province_name
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc

ACTIVITY_TITLE = "Hoạt động theo cơ quan / Activity by department"
# The demo communes' provinces (Hà Nội, Lai Châu): the table counts all of them, over the whole span of the
# demo's data.
DEMO_PROVINCES = tuple(dict.fromkeys(commune(code).province_code for code, _ in DEMO_COMMUNES))
DEMO_UNIT_NAME = ", ".join(province_name(code) for code in DEMO_PROVINCES)
ACTIVITY_PERIOD = (FIRST_DECISION, HORIZON)
UNIMPLEMENTED_NOTICE = (
    "reporting does not implement GetActivityCounts yet (UNIMPLEMENTED): no activity-by-department table"
)

DEPARTMENT_LABELS = {
    "registry": ("Công an", "registry"),
    "health": ("Y tế", "health"),
    "rehab": ("Cai nghiện", "rehab"),
    "aftercare": ("Quản lý sau cai", "aftercare"),
}
# By "<aggregate>.<event>", the subject without its department and version.
EVENT_LABELS = {
    "person.registered": ("Đăng ký người sử dụng", "person registered"),
    "drug_test.positive_recorded": ("Xét nghiệm dương tính", "positive drug test"),
    "management.decided": ("Quyết định quản lý", "management decided"),
    "management.ended": ("Chấm dứt quản lý", "management ended"),
    "person.moved": ("Thay đổi nơi cư trú", "residence moved"),
    "compulsory_dossier.opened": ("Lập hồ sơ cai nghiện bắt buộc", "compulsory dossier opened"),
    "compulsory_dossier.submitted": ("Chuyển hồ sơ đến Tòa án", "dossier submitted to court"),
    "compulsory_dossier.decided": ("Tòa án quyết định", "court decision"),
    "determination.requested": ("Đề nghị xác định tình trạng nghiện", "determination requested"),
    "determination.concluded": ("Kết luận tình trạng nghiện", "determination concluded"),
    "methadone.enrolled": ("Bắt đầu điều trị methadone", "methadone enrolled"),
    "methadone.ended": ("Kết thúc điều trị methadone", "methadone ended"),
    "admission.expected": ("Chờ tiếp nhận theo quyết định", "admission expected"),
    "admission.admitted": ("Tiếp nhận cai nghiện", "admitted to rehab"),
    "admission.discharged": ("Kết thúc cai nghiện", "discharged from rehab"),
    "admission.returned": ("Trở lại sau bỏ trốn", "returned after absconding"),
    "training.given": ("Dạy nghề", "vocational training"),
    "case.opened": ("Mở hồ sơ quản lý sau cai", "aftercare case opened"),
    "case.placed": ("Quyết định quản lý sau cai", "aftercare decided"),
    "case.closed": ("Kết thúc quản lý sau cai", "aftercare closed"),
    "support.given": ("Hỗ trợ", "support given"),
    "relapse.confirmed": ("Tái nghiện", "relapse confirmed"),
    "model.changed": ("Mô hình quản lý sau cai", "aftercare model"),
}
_VERSION = re.compile(r"\.v[0-9]+$")


def event_key(department: str, event_type: str) -> str:
    """``rehab.admission.discharged.v1`` (or ``admission.discharged``) → ``admission.discharged``."""
    key = _VERSION.sub("", event_type)
    return key.removeprefix(f"{department}.")


def activity_table(counts: reporting_pb2.ActivityCounts, *, unit: str = "") -> Table:
    """One row per department and event type, departments in the order of the flows, with both labels."""
    start, end = date.fromisoformat(counts.period_start), date.fromisoformat(counts.period_end)
    where = f"{unit}, " if unit else ""
    table = Table(
        title=f"{ACTIVITY_TITLE}\n{where}{start:%d/%m/%Y} – {end:%d/%m/%Y}",
        caption="Số người: người khác nhau trong dòng đó (một người có thể ở nhiều dòng) / "
        "people: distinct people in that row (one person may be in several rows)",
        header_style="bold",
        title_style="bold",
    )
    table.add_column("Cơ quan\ndepartment", no_wrap=True)
    table.add_column("Hoạt động\nactivity")
    table.add_column("Số lượt\nevents", justify="right")
    table.add_column("Số người\npeople", justify="right")
    order = list(DEPARTMENT_LABELS)
    events = list(EVENT_LABELS)

    def rank(item: reporting_pb2.ActivityCount) -> tuple:
        key = event_key(item.department, item.event_type)
        department = order.index(item.department) if item.department in order else len(order)
        return (department, item.department, events.index(key) if key in events else len(events), key)

    previous = None
    for item in sorted(counts.counts, key=rank):
        if previous is not None and item.department != previous:
            table.add_section()
        department = " / ".join(DEPARTMENT_LABELS.get(item.department, (item.department,)))
        activity = " / ".join(
            EVENT_LABELS.get(event_key(item.department, item.event_type), (item.event_type,))
        )
        table.add_row(
            department if item.department != previous else "",
            activity,
            str(item.events),
            str(item.people),
        )
        previous = item.department
    if not counts.counts:
        table.add_row("—", "không có hoạt động / no activity", "0", "0")
    return table


async def activity_counts(
    reporting_address: str, period_start: date, period_end: date, *, province_code: str = ""
) -> reporting_pb2.ActivityCounts:
    async with grpc.aio.insecure_channel(reporting_address) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        return await stub.GetActivityCounts(
            reporting_pb2.ActivityCountsRequest(
                period_start=period_start.isoformat(),
                period_end=period_end.isoformat(),
                province_code=province_code,
            ),
            timeout=30,
        )
