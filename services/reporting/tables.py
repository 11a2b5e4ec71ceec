"""Reports as plain tables with Vietnamese and English headers, ready to export. Pure.

Unit names are the official ones (``lienthong.units``); no table carries a name or an ID number of a
person, only counts (and pseudonyms in work lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from lienthong import units
from services.reporting.domain import EXPIRED, ManagementReport, Period
from services.reporting.indicators import engine, plans
from services.reporting.indicators.catalogue import Catalogue

LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class Column:
    vi: str
    en: str
    numeric: bool = False

    def header(self, language: str) -> str:
        return self.en if language == "en" else self.vi


@dataclass(frozen=True)
class Text:
    vi: str
    en: str

    def __call__(self, language: str) -> str:
        return self.en if language == "en" else self.vi


@dataclass(frozen=True)
class Table:
    name: str  # for file names: management, indicators, plan, alerts
    title: Text
    subtitle: Text
    columns: tuple[Column, ...]
    # Cells are numbers, text, or Text when the words depend on the language.
    rows: list[tuple] = field(default_factory=list)
    note: Text = Text("", "")

    def cells(self, language: str) -> list[list]:
        return [[c(language) if isinstance(c, Text) else c for c in row] for row in self.rows]


REASONS = {
    EXPIRED: Text("Hết thời hạn", "Term expired"),
    "addicted": Text("Xác định nghiện", "Determined addicted"),
    "commune_education": Text("Giáo dục tại xã, phường", "Education in the commune"),
    "reform_school": Text("Trường giáo dưỡng", "Reform school"),
    "compulsory_education": Text("Cơ sở giáo dục bắt buộc", "Compulsory education"),
    "imprisoned": Text("Chấp hành án phạt tù", "Imprisoned"),
    "died": Text("Chết", "Died"),
    "missing": Text("Mất tích", "Missing"),
}
SEXES = {"male": Text("Nam", "Male"), "female": Text("Nữ", "Female"), "unknown": Text("Không rõ", "Unknown")}
AGE_BANDS = {
    "under_14": Text("Dưới 14 tuổi", "Under 14"),
    "14_to_16": Text("Từ 14 đến dưới 16", "14 to under 16"),
    "16_to_18": Text("Từ 16 đến dưới 18", "16 to under 18"),
    "18_to_30": Text("Từ 18 đến 30", "18 to 30"),
    "30_and_over": Text("Trên 30", "Over 30"),
    "unknown": Text("Không rõ", "Unknown"),
}
STATUSES = {
    "met": Text("Đạt", "Met"),
    "on_track": Text("Đúng tiến độ", "On track"),
    "behind": Text("Chậm", "Behind"),
    "no_data": Text("Chưa có số liệu", "No data"),
}
COMPARISONS = {
    "at_least": Text("Tối thiểu", "At least"),
    "at_most": Text("Tối đa", "At most"),
    "below_previous_year": Text("Thấp hơn năm trước", "Below the year before"),
}


def unit_text(province_code: str, commune_codes: Sequence[str]) -> Text:
    if commune_codes:
        names = ", ".join(units.commune(code).name for code in commune_codes)
        return Text(names, names)
    if province_code:
        name = units.province_name(province_code)
        return Text(name, name)
    return Text("Toàn quốc", "Whole country")


def period_text(period: Period) -> Text:
    vi = f"{period.start:%d/%m/%Y} – {period.end:%d/%m/%Y}"
    return Text(vi, f"{period.start.isoformat()} – {period.end.isoformat()}")


def _subtitle(period: Period, province_code: str, commune_codes: Sequence[str]) -> Text:
    unit, span = unit_text(province_code, commune_codes), period_text(period)
    return Text(f"{unit.vi}, {span.vi}", f"{unit.en}, {span.en}")


def management_table(report: ManagementReport, province_code: str, commune_codes: Sequence[str]) -> Table:
    reasons = sorted({r for row in report.rows for r in row.counts.ended}, key=lambda r: (r != EXPIRED, r))
    columns = (
        Column("Xã, phường", "Commune"),
        Column("Mã", "Code"),
        Column("Đầu kỳ", "At start", True),
        Column("Mới trong kỳ", "New", True),
        *(
            Column(
                f"Kết thúc: {REASONS.get(r, Text(r, r)).vi}", f"Ended: {REASONS.get(r, Text(r, r)).en}", True
            )
            for r in reasons
        ),
        Column("Kết thúc (tổng)", "Ended (total)", True),
        Column("Cuối kỳ", "At end", True),
    )

    def row(name, code, counts) -> tuple:
        return (
            name,
            code,
            counts.at_start,
            counts.new,
            *(counts.ended.get(r, 0) for r in reasons),
            counts.ended_total,
            counts.at_end,
        )

    rows = [row(r.commune_name, r.commune_code, r.counts) for r in report.rows]
    rows.append(row(Text("Tổng cộng", "Total"), "", report.total.counts))
    return Table(
        "management",
        Text("Người bị quản lý do sử dụng trái phép chất ma túy", "People under management for drug use"),
        _subtitle(report.period, province_code, commune_codes),
        columns,
        rows,
        Text("Không có họ tên, số định danh trong báo cáo.", "The report holds no names or ID numbers."),
    )


def _group_text(breakdown: str, group: str) -> Text | str:
    if group == engine.TOTAL:
        return Text("Tổng", "Total")
    if breakdown == "commune":
        return units.commune(group).name
    if breakdown == "sex":
        return SEXES.get(group, Text(group, group))
    if breakdown == "age_band":
        return AGE_BANDS.get(group, Text(group, group))
    return group


def _number(value: float | None, kind: str) -> float | int | str:
    if value is None:
        return ""
    return round(value, 1) if kind == "share" else int(value)


def indicators_table(
    catalogue: Catalogue,
    results: Sequence[engine.Result],
    *,
    period: Period,
    province_code: str,
    commune_codes: Sequence[str],
    breakdown: str,
    compared: bool,
) -> Table:
    columns = [
        Column("Chỉ tiêu", "Indicator"),
        Column("Nhóm", "Group"),
        Column("Tử số", "Numerator", True),
        Column("Mẫu số", "Denominator", True),
        Column("Giá trị (số hoặc %)", "Value (count or %)", True),
    ]
    if compared:
        columns.append(Column("Cùng kỳ năm trước", "Same period a year earlier", True))
    rows = []
    for result in results:
        indicator = catalogue.get(result.indicator_id)
        name = Text(f"{indicator.ref} {indicator.name_vi}", f"{indicator.ref} {indicator.name_en}")
        for value in result.values:
            row = [
                name,
                _group_text(breakdown, value.group),
                value.numerator,
                "" if value.denominator is None else value.denominator,
                _number(value.value, indicator.kind),
            ]
            if compared:
                previous = result.previous_of(value.group)
                row.append(_number(previous.value if previous else None, indicator.kind))
            rows.append(tuple(row))
    return Table(
        "indicators",
        Text(
            f"Chỉ tiêu theo Quy chế phối hợp (danh mục {catalogue.version})",
            f"Indicators of the coordination regulation (catalogue {catalogue.version})",
        ),
        _subtitle(period, province_code, commune_codes),
        tuple(columns),
        rows,
        Text("Tỷ lệ tính theo %; ô trống: không có mẫu số.", "Shares in %; blank: no denominator."),
    )


def plan_table(plan: plans.Plan, as_of: date, progress: Sequence[plans.Progress]) -> Table:
    columns = (
        Column("Chỉ tiêu kế hoạch", "Target"),
        Column("So sánh", "Comparison"),
        Column("Kế hoạch", "Target value", True),
        Column("Thực hiện", "Actual", True),
        Column("Đạt (% kế hoạch)", "Reached (% of target)", True),
        Column("Tiến độ thời gian (%)", "Time elapsed (%)", True),
        Column("Đánh giá", "Status"),
    )
    rows = []
    for p in progress:
        target_value = p.previous if p.target.comparison == "below_previous_year" else p.target.value
        rows.append(
            (
                Text(p.target.label_vi, p.target.label_en),
                COMPARISONS[p.target.comparison],
                _number(target_value, "share" if p.measure == "percent" else "count"),
                _number(p.actual, "share" if p.measure == "percent" else "count"),
                _number(p.share_reached, "share"),
                _number(p.expected_share, "share"),
                STATUSES[p.status],
            )
        )
    span = (
        Period(plan.period.start, min(as_of, plan.period.end)) if as_of >= plan.period.start else plan.period
    )
    return Table(
        "plan",
        Text(plan.title_vi, plan.title_en),
        Text(
            f"{unit_text(plan.province_code, plan.commune_codes).vi}; số liệu đến {as_of:%d/%m/%Y} ({plan.source})",
            f"{unit_text(plan.province_code, plan.commune_codes).en}; figures to {as_of.isoformat()} ({plan.source})",
        ),
        columns,
        rows,
        Text(
            f"Kỳ kế hoạch {period_text(plan.period).vi}; đã tính {period_text(span).vi}.",
            f"Plan period {period_text(plan.period).en}; measured {period_text(span).en}.",
        ),
    )


OWNERS = {
    "registry": Text("Công an (quản lý người sử dụng ma túy)", "Police (registry)"),
    "health": Text("Y tế", "Health"),
    "rehab": Text("Cơ sở cai nghiện", "Rehab"),
    "aftercare": Text("UBND xã, phường (quản lý sau cai)", "Commune (aftercare)"),
}


def alerts_table(alerts: Sequence, *, as_of: date, province_code: str, commune_codes: Sequence[str]) -> Table:
    """Work lists: one row per person and rule, pseudonymous, with whom to contact."""
    columns = (
        Column("Xã, phường", "Commune"),
        Column("Quy tắc", "Rule"),
        Column("Bí danh", "Pseudonym"),
        Column("Từ ngày", "Since"),
        Column("Hạn", "Due"),
        Column("Quá hạn (ngày)", "Days overdue", True),
        Column("Cơ quan liên hệ", "Contact"),
        Column("Nội dung", "What"),
        Column("Luật áp dụng", "Law"),
    )
    rows = [
        (
            a.commune_name,
            a.rule,
            a.pseudonym,
            a.since.isoformat(),
            a.due.isoformat(),
            a.days_overdue,
            OWNERS.get(a.owner_department, Text(a.owner_department, a.owner_department)),
            Text(a.message_vi, a.message_en),
            a.law_version,
        )
        for a in alerts
    ]
    unit = unit_text(province_code, commune_codes)
    return Table(
        "alerts",
        Text("Danh sách cần xử lý", "Work list"),
        Text(f"{unit.vi}; đến ngày {as_of:%d/%m/%Y}", f"{unit.en}; as of {as_of.isoformat()}"),
        columns,
        rows,
        Text(
            "Chỉ có bí danh; tra cứu người cụ thể qua cơ quan quản lý hồ sơ (có ghi nhật ký).",
            "Pseudonyms only; the owning department looks the person up (every read is recorded).",
        ),
    )
