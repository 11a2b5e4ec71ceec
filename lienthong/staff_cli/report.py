"""``lienthong report …``: the steering committee's figures from a running reporting service.

List the indicators and plans, show indicators or a plan's progress as a table, export any report, sign a
unit's period off and see what changed since. Periods are written as people say them: 2025, 2025-Q1,
2025-H2, 2025-03 or 2025-01-01..2025-03-31.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lienthong import units
from lienthong.periods import parse_period
from lienthong.staff_cli import rebuild
from lienthong.staff_cli._common import JsonOpt, Lang, LangOpt, call, day, default_target, iso, target_option
from lienthong_contracts.reporting.v1 import reporting_pb2 as pb

app = typer.Typer(help="Reporting: indicators, plans, exports, sign-off, rebuild.", no_args_is_help=True)
Target = Annotated[str, target_option("reporting")]
TARGET = default_target("reporting")


def _period(value: str) -> tuple[str, str]:
    try:
        start, end = parse_period(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return start.isoformat(), end.isoformat()


PeriodOpt = Annotated[
    str, typer.Option("--period", help="2025, 2025-Q1, 2025-H2, 2025-03 or 2025-01-01..2025-03-31.")
]
ProvinceOpt = Annotated[str, typer.Option("--province", help="2-digit province code, e.g. 01 (Hà Nội).")]
CommunesOpt = Annotated[list[str], typer.Option("--commune", help="5-digit commune code; repeat for more.")]


class Breakdown(StrEnum):
    none = ""
    sex = "sex"
    age_band = "age_band"
    commune = "commune"
    kind = "kind"


class Format(StrEnum):
    xlsx = "xlsx"
    csv = "csv"
    html = "html"


class Report(StrEnum):
    management = "management"
    indicators = "indicators"
    plan = "plan"
    alerts = "alerts"


def _t(lang: Lang, vi: str, en: str) -> str:
    return en if lang is Lang.en else vi


def _group(group: str, breakdown: str, lang: Lang) -> str:
    if not group:
        return _t(lang, "Tổng", "Total")
    if breakdown == "commune":
        try:
            return units.commune(group).name
        except Exception:  # an unknown code is shown as it came
            return group
    labels = _SEX if breakdown == "sex" else _AGE_BAND if breakdown == "age_band" else {}
    return _t(lang, *labels[group]) if group in labels else group


_SEX = {"male": ("Nam", "Male"), "female": ("Nữ", "Female"), "unknown": ("Không rõ", "Unknown")}
_AGE_BAND = {
    "under_14": ("Dưới 14", "Under 14"),
    "14_to_16": ("14 – dưới 16", "14 to under 16"),
    "16_to_18": ("16 – dưới 18", "16 to under 18"),
    "18_to_30": ("18 – 30", "18 to 30"),
    "30_and_over": ("Trên 30", "Over 30"),
    "unknown": ("Không rõ", "Unknown"),
}


def _number(value: float, has: bool, kind: str, lang: Lang) -> str:
    if not has:
        return "–"
    text = f"{value:,.1f} %" if kind == "share" else f"{value:,.0f}"
    # Vietnamese writes 5.300 and 66,7 where English writes 5,300 and 66.7.
    return text.translate(str.maketrans(",.", ".,")) if lang is Lang.vi else text


@app.command("indicators")
def list_indicators(target: Target = TARGET, lang: LangOpt = Lang.vi, json_out: JsonOpt = False) -> None:
    """The indicator catalogue: id, what it counts, its name."""

    def show(response: pb.IndicatorCatalogue) -> Table:
        table = Table(title=_t(lang, "Danh mục chỉ tiêu", "Indicator catalogue") + f" ({response.version})")
        for header in (
            "§",
            "id",
            _t(lang, "loại", "kind"),
            _t(lang, "đếm", "counts"),
            _t(lang, "tên", "name"),
        ):
            table.add_column(header)
        for i in response.indicators:
            table.add_row(i.domain_ref, i.indicator_id, i.kind, i.counts, _t(lang, i.name_vi, i.name_en))
        return table

    call(
        "reporting",
        "ListIndicators",
        pb.ListIndicatorsRequest(),
        target=target,
        lang=lang,
        json_out=json_out,
        show=show,
    )


@app.command("plans")
def list_plans(target: Target = TARGET, lang: LangOpt = Lang.vi, json_out: JsonOpt = False) -> None:
    """The plans loaded (shipped and the operator's plan folders)."""

    def show(response: pb.PlanList) -> Table:
        table = Table(title=_t(lang, "Kế hoạch", "Plans"))
        for header in (
            "id",
            _t(lang, "tên", "title"),
            _t(lang, "kỳ", "period"),
            _t(lang, "chỉ tiêu", "targets"),
        ):
            table.add_column(header)
        for p in response.plans:
            table.add_row(
                p.plan_id,
                _t(lang, p.title_vi, p.title_en),
                f"{p.period_start} – {p.period_end}",
                str(p.targets),
            )
        return table

    call(
        "reporting",
        "ListPlans",
        pb.ListPlansRequest(),
        target=target,
        lang=lang,
        json_out=json_out,
        show=show,
    )


def _indicators_request(
    indicator_ids: list[str], period: str, province: str, communes: list[str], by: Breakdown, compare: bool
) -> pb.IndicatorsRequest:
    start, end = _period(period)
    return pb.IndicatorsRequest(
        period_start=start,
        period_end=end,
        province_code=province,
        commune_codes=communes,
        indicator_ids=indicator_ids,
        breakdown=by.value,
        compare_previous_year=compare,
    )


@app.command("show")
def show_indicators(
    indicator_ids: Annotated[list[str] | None, typer.Argument(help="Indicator ids (default: all).")] = None,
    period: PeriodOpt = "",
    province: ProvinceOpt = "",
    commune: CommunesOpt = [],  # noqa: B006 (typer reads the default)
    by: Annotated[
        Breakdown, typer.Option("--by", help="Break down by sex, age band, commune or kind.")
    ] = Breakdown.none,
    compare: Annotated[bool, typer.Option("--compare", help="Also the same period a year earlier.")] = False,
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Indicator values for a period and unit, as a table."""
    request = _indicators_request(
        indicator_ids or [], period or str(datetime.now().year), province, commune, by, compare
    )
    kinds: dict[str, tuple[str, str]] = {}
    if not json_out:
        catalogue = call(
            "reporting",
            "ListIndicators",
            pb.ListIndicatorsRequest(),
            target=target,
            lang=lang,
            quiet=True,
        )
        kinds = {i.indicator_id: (i.kind, _t(lang, i.name_vi, i.name_en)) for i in catalogue.indicators}

    def show(response: pb.IndicatorReport) -> Table:
        title = _t(lang, "Chỉ tiêu", "Indicators") + f" {response.period_start} – {response.period_end}"
        table = Table(title=title)
        for header in (
            _t(lang, "chỉ tiêu", "indicator"),
            _t(lang, "nhóm", "group"),
            _t(lang, "giá trị", "value"),
        ):
            table.add_column(header)
        table.add_column(_t(lang, "tử số / mẫu số", "numerator / denominator"), justify="right")
        if compare:
            table.add_column(_t(lang, "năm trước", "year before"), justify="right")
        for v in response.values:
            kind, name = kinds.get(v.indicator_id, ("count", v.indicator_id))
            row = [
                name if not v.group else "",
                _group(v.group, response.breakdown, lang),
                _number(v.value, v.has_value, kind, lang),
                f"{v.numerator} / {v.denominator}" if kind == "share" else str(v.numerator),
            ]
            if compare:
                row.append(_number(v.previous_value, v.has_previous, kind, lang))
            table.add_row(*row)
        return table

    call("reporting", "GetIndicators", request, target=target, lang=lang, json_out=json_out, show=show)


_STATUS = {
    "met": ("[green]đạt[/]", "[green]met[/]"),
    "on_track": ("[cyan]đúng tiến độ[/]", "[cyan]on track[/]"),
    "behind": ("[red]chậm[/]", "[red]behind[/]"),
    "no_data": ("chưa có số liệu", "no data"),
}


@app.command("plan")
def plan_progress(
    plan_id: Annotated[str, typer.Argument(help="Plan id (see `lienthong report plans`).")],
    as_of: Annotated[datetime | None, day("--as-of", help="Figures up to this day (default: today).")] = None,
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """A plan's targets against the actual figures, with the share of the year elapsed."""

    def show(response: pb.PlanProgress) -> Table:
        plan = response.plan
        table = Table(title=f"{_t(lang, plan.title_vi, plan.title_en)} ({response.as_of})")
        for header in (
            _t(lang, "chỉ tiêu", "target"),
            _t(lang, "kế hoạch", "planned"),
            _t(lang, "thực hiện", "actual"),
            _t(lang, "đạt", "reached"),
            _t(lang, "thời gian", "time elapsed"),
            _t(lang, "đánh giá", "status"),
        ):
            table.add_column(header)
        for t in response.targets:
            kind = "share" if t.measure == "percent" else "count"
            table.add_row(
                _t(lang, t.label_vi, t.label_en),
                _number(t.target, True, kind, lang),
                _number(t.actual, t.has_actual, kind, lang),
                f"{t.share_reached:.0f} %" if t.has_actual and kind == "count" and t.target else "",
                f"{t.expected_share:.0f} %" if t.expected_share else "",
                _STATUS[t.status][lang is Lang.en] if t.status in _STATUS else t.status,
            )
        return table

    request = pb.PlanProgressRequest(plan_id=plan_id, as_of=iso(as_of))
    call("reporting", "GetPlanProgress", request, target=target, lang=lang, json_out=json_out, show=show)


@app.command("export")
def export(
    report: Annotated[Report, typer.Argument(help="management, indicators, plan or alerts.")],
    period: PeriodOpt = "",
    province: ProvinceOpt = "",
    commune: CommunesOpt = [],  # noqa: B006
    indicator: Annotated[
        list[str], typer.Option("--indicator", help="Indicator id; repeat (default: all).")
    ] = [],  # noqa: B006
    by: Annotated[Breakdown, typer.Option("--by")] = Breakdown.none,
    compare: Annotated[bool, typer.Option("--compare")] = False,
    plan: Annotated[str, typer.Option("--plan", help="Plan id, for the plan report.")] = "",
    as_of: Annotated[datetime | None, day("--as-of", help="Plan figures / alerts as of this day.")] = None,
    file_format: Annotated[Format, typer.Option("--format")] = Format.xlsx,
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: the server's name, here).")
    ] = None,
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
) -> None:
    """Write a report as XLSX, CSV or printable HTML (headers in --lang)."""
    request = pb.ExportRequest(format=file_format.value, language=lang.value)
    if report is Report.alerts:
        request.alerts.CopyFrom(
            pb.ListAlertsRequest(as_of=iso(as_of), province_code=province, commune_codes=commune)
        )
    elif report is Report.plan:
        if not plan:
            raise typer.BadParameter("give the plan with --plan (see `lienthong report plans`)")
        request.plan.CopyFrom(pb.PlanProgressRequest(plan_id=plan, as_of=iso(as_of)))
    else:
        start, end = _period(period or str(datetime.now().year))
        if report is Report.management:
            request.management.CopyFrom(
                pb.ManagementReportRequest(
                    period_start=start, period_end=end, province_code=province, commune_codes=commune
                )
            )
        else:
            request.indicators.CopyFrom(
                _indicators_request(indicator, period or start[:4], province, commune, by, compare)
            )

    def save(response: pb.ExportedFile) -> str:
        path = out or Path(response.filename)
        path.write_bytes(response.content)
        return f"{path} ({len(response.content):,} bytes)"

    call("reporting", "ExportReport", request, target=target, lang=lang, show=save)


def _unit_period(period: str, province: str, commune: str) -> dict:
    start, end = _period(period)
    return {"period_start": start, "period_end": end, "province_code": province, "commune_code": commune}


@app.command("signoff")
def sign_off(
    period: PeriodOpt,
    province: ProvinceOpt,
    officer: Annotated[str, typer.Option("--officer", help="Your officer id: who approves (recorded).")],
    commune: Annotated[str, typer.Option("--commune", help="One commune; none for the whole province.")] = "",
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Approve and lock a unit's report for a period."""
    request = pb.SignOffRequest(**_unit_period(period, province, commune))
    call(
        "reporting",
        "SignOffReport",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        officer=officer,
        show=lambda r: f"signed off by {r.signed_by} at {r.signed_at} (snapshot {r.snapshot_id})",
    )


@app.command("signed")
def signed(
    period: PeriodOpt,
    province: ProvinceOpt,
    commune: Annotated[str, typer.Option("--commune")] = "",
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """A signed-off report and what changed since (events that arrived after the sign-off)."""

    def show(response: pb.SignedReportComparison) -> Table | str:
        s = response.snapshot
        if not response.differences:
            return f"signed off by {s.signed_by} at {s.signed_at}; no difference since"
        table = Table(
            title=_t(lang, "Khác biệt so với bản đã phê duyệt", "Differences from the signed report")
            + f" ({s.signed_by}, {s.signed_at})"
        )
        for header in (
            _t(lang, "chỉ tiêu", "indicator"),
            _t(lang, "đã duyệt", "signed"),
            _t(lang, "hiện tại", "now"),
        ):
            table.add_column(header)
        for d in response.differences:
            table.add_row(d.indicator_id, f"{d.signed_value:g}", f"{d.current_value:g}")
        return table

    request = pb.GetSignedReportRequest(**_unit_period(period, province, commune))
    call("reporting", "GetSignedReport", request, target=target, lang=lang, json_out=json_out, show=show)


@app.command("alerts")
def alerts(
    province: ProvinceOpt = "",
    commune: CommunesOpt = [],  # noqa: B006
    rule: Annotated[list[str], typer.Option("--rule", help="Only this rule; repeat for more.")] = [],  # noqa: B006
    as_of: Annotated[datetime | None, day("--as-of", help="As of this day (default: today).")] = None,
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Work lists: people falling between departments, by commune, pseudonymous, with whom to contact."""

    def show(response: pb.AlertList) -> Table | str:
        if not response.alerts:
            return _t(
                lang, f"không có cảnh báo đến ngày {response.as_of}", f"no alerts as of {response.as_of}"
            )
        table = Table(title=_t(lang, "Danh sách cần xử lý", "Work list") + f" ({response.as_of})")
        for header in (
            _t(lang, "xã, phường", "commune"),
            _t(lang, "quy tắc", "rule"),
            _t(lang, "bí danh", "pseudonym"),
            _t(lang, "quá hạn", "overdue"),
            _t(lang, "liên hệ", "contact"),
            _t(lang, "nội dung", "what"),
        ):
            table.add_column(header)
        for a in response.alerts:
            table.add_row(
                a.commune_name,
                a.rule,
                a.pseudonym,
                str(a.days_overdue),
                a.owner_department,
                _t(lang, a.message_vi, a.message_en),
            )
        return table

    request = pb.ListAlertsRequest(
        as_of=iso(as_of), province_code=province, commune_codes=commune, rules=rule
    )
    call("reporting", "ListAlerts", request, target=target, lang=lang, json_out=json_out, show=show)


app.command("rebuild")(rebuild.rebuild)  # the operator's command, defined with its progress bars
