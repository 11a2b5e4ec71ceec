"""The demo's activity-by-department table, built from a GetActivityCounts answer."""

from __future__ import annotations

import re

from rich.console import Console

from lienthong.demo_activity import ACTIVITY_TITLE, activity_table, event_key
from lienthong_contracts.reporting.v1 import reporting_pb2


def counts(*items: tuple[str, str, int, int]) -> reporting_pb2.ActivityCounts:
    return reporting_pb2.ActivityCounts(
        period_start="2024-01-01",
        period_end="2026-06-30",
        counts=[
            reporting_pb2.ActivityCount(department=d, event_type=t, events=e, people=p)
            for d, t, e, p in items
        ],
    )


def numbers(line: str) -> list[str]:
    return re.findall(r"\b[0-9]+\b", line)


def render(message: reporting_pb2.ActivityCounts, width: int = 160) -> list[str]:
    console = Console(record=True, width=width)
    console.print(activity_table(message, unit="Thành phố Hà Nội"))
    return console.export_text().splitlines()


def test_event_types_are_matched_with_or_without_department_and_version() -> None:
    assert event_key("rehab", "rehab.admission.discharged.v1") == "admission.discharged"
    assert event_key("rehab", "admission.discharged") == "admission.discharged"
    assert event_key("aftercare", "aftercare.support.given.v2") == "support.given"


def test_rows_have_both_labels_in_the_order_of_the_flows() -> None:
    lines = render(
        counts(
            ("aftercare", "aftercare.support.given.v1", 9, 6),
            ("rehab", "rehab.admission.admitted.v1", 14, 14),
            ("registry", "registry.management.decided.v1", 288, 251),
            ("health", "health.determination.concluded.v1", 32, 30),
            ("registry", "registry.person.registered.v1", 300, 300),
            ("health", "health.weird_new_thing.v1", 2, 1),
        )
    )
    text = "\n".join(lines)
    assert lines[0].strip() == ACTIVITY_TITLE
    assert "Thành phố Hà Nội, 01/01/2024 – 30/06/2026" in text
    order = [
        "Đăng ký người sử dụng / person registered",
        "Quyết định quản lý / management decided",
        "Kết luận tình trạng nghiện / determination concluded",
        "health.weird_new_thing.v1",  # an event type the demo has no label for is shown as it came
        "Tiếp nhận cai nghiện / admitted to rehab",
        "Hỗ trợ / support given",
    ]
    positions = [text.index(label) for label in order]
    assert positions == sorted(positions)
    registered = next(line for line in lines if "person registered" in line)
    assert "Công an / registry" in registered and numbers(registered) == ["300", "300"]
    decided = next(line for line in lines if "management decided" in line)
    assert "Công an" not in decided, "the department is named on its first row only"
    assert numbers(decided) == ["288", "251"]
    assert "health.weird_new_thing.v1 /" not in text


def test_an_empty_answer_says_so() -> None:
    text = "\n".join(render(counts()))
    assert ACTIVITY_TITLE in text and "no activity" in text


def test_the_title_line_survives_a_narrow_terminal() -> None:
    lines = render(counts(("rehab", "rehab.admission.discharged.v1", 20, 19)), width=80)
    assert max(len(line) for line in lines) <= 80
    assert ACTIVITY_TITLE in "\n".join(lines)
