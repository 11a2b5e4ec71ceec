"""gRPC edge of reporting: check the request, run the use case, map the result to protobuf.

Refusals are ``InvalidInput`` errors; the plumbing's interceptor turns them into INVALID_ARGUMENT with
the message in the caller's language.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong import units
from lienthong.dates import parse_date, today_in_vietnam
from lienthong.errors import InvalidInput, NotFound, PermissionDenied
from lienthong.grpcserver import metadata_value
from lienthong.text import clean_text
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting import exports, handlers, signoff, tables
from services.reporting.alerts import api as alerts_api
from services.reporting.domain import ManagementReport, Period, ReportRow
from services.reporting.indicators import engine, plans
from services.reporting.indicators.catalogue import Catalogue
from services.reporting.rebuild import Rebuilder
from services.reporting.sources import Source
from services.reporting.steps import PSEUDONYM, Step
from services.reporting.unit_filter import checked_unit

SERVICE_NAME = reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name


def report_query(
    request: reporting_pb2.ManagementReportRequest | reporting_pb2.ActivityCountsRequest,
) -> handlers.ReportQuery:
    period = Period(
        parse_date(request.period_start, field="period_start"),
        parse_date(request.period_end, field="period_end"),
    )
    province, communes = checked_unit(request.province_code, request.commune_codes)
    return handlers.ReportQuery(period=period, commune_codes=communes, province_code=province)


def _row(row: ReportRow) -> reporting_pb2.ManagementRow:
    counts = row.counts
    return reporting_pb2.ManagementRow(
        commune_code=row.commune_code,
        commune_name=row.commune_name,
        province_code=row.province_code,
        at_period_start=counts.at_start,
        new_in_period=counts.new,
        ended_in_period=[
            reporting_pb2.ReasonCount(reason=reason, count=n) for reason, n in sorted(counts.ended.items())
        ],
        ended_total=counts.ended_total,
        at_period_end=counts.at_end,
    )


def to_proto(report: ManagementReport) -> reporting_pb2.ManagementReport:
    return reporting_pb2.ManagementReport(
        period_start=report.period.start.isoformat(),
        period_end=report.period.end.isoformat(),
        rows=[_row(row) for row in report.rows],
        total=_row(report.total),
    )


def _moment(value: datetime | None) -> str:
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z") if value else ""


def ingest_status_proto(status: handlers.IngestStatus) -> reporting_pb2.IngestStatus:
    return reporting_pb2.IngestStatus(
        events_applied=status.events_applied,
        events_dead_lettered=status.events_dead_lettered,
        last_event_time=_moment(status.last_event_time),
        sources=[
            reporting_pb2.SourceStatus(
                stream=s.stream,
                events_applied=s.events_applied,
                events_dead_lettered=s.events_dead_lettered,
                pending=s.pending,
            )
            for s in status.sources
        ],
        caught_up=status.caught_up,
    )


def pseudonym_of(request: reporting_pb2.PersonTimelineRequest) -> str:
    if not PSEUDONYM.fullmatch(request.pseudonym):
        raise InvalidInput(
            "pseudonym.malformed",
            "Bí danh phải có dạng <phiên bản khoá>:<32 ký tự hex>, ví dụ 1:0f3a…",
            "pseudonym must look like <key version>:<32 hex digits>, e.g. 1:0f3a…",
        )
    return request.pseudonym


def timeline_proto(pseudonym: str, steps: Sequence[Step]) -> reporting_pb2.PersonTimeline:
    return reporting_pb2.PersonTimeline(
        pseudonym=pseudonym,
        steps=[
            reporting_pb2.TimelineStep(
                event_id=step.event_id,
                event_type=step.event_type,
                department=step.department,
                agency=step.agency,
                occurred_on=step.occurred_on.isoformat(),
                commune_code=step.commune_code,
                province_code=step.province_code,
                sex=step.sex or "",
                age_band=step.age_band or "",
                record_id=step.record_id,
                codes=[reporting_pb2.Code(name=n, value=v) for n, v in step.codes],
            )
            for step in steps
        ],
    )


def indicator_query(
    request: reporting_pb2.IndicatorsRequest, catalogue: Catalogue
) -> handlers.IndicatorQuery:
    unit = report_query(request)
    ids = list(dict.fromkeys(request.indicator_ids)) or list(catalogue.indicators)
    unknown = [i for i in ids if i not in catalogue.indicators]
    if unknown:
        raise InvalidInput(
            "indicator_ids.unknown",
            f"Không có chỉ tiêu {', '.join(unknown)} trong danh mục (phiên bản {catalogue.version}).",
            f"No indicator {', '.join(unknown)} in the catalogue (version {catalogue.version}).",
        )
    indicators = tuple(catalogue.indicators[i] for i in ids)
    breakdown = request.breakdown
    if breakdown and not any(breakdown in i.breakdowns for i in indicators):
        raise InvalidInput(
            "breakdown.unknown",
            f"Không chỉ tiêu nào được chọn có thể phân tổ theo {breakdown!r} (thường dùng: sex, age_band, commune).",
            f"None of the chosen indicators can be broken down by {breakdown!r} (usual: sex, age_band, commune).",
        )
    return handlers.IndicatorQuery(
        period=unit.period,
        indicators=indicators,
        commune_codes=unit.commune_codes,
        province_code=unit.province_code,
        breakdown=breakdown,
        compare_previous_year=request.compare_previous_year,
    )


def catalogue_proto(catalogue: Catalogue) -> reporting_pb2.IndicatorCatalogue:
    return reporting_pb2.IndicatorCatalogue(
        version=catalogue.version,
        indicators=[
            reporting_pb2.IndicatorDefinition(
                indicator_id=i.indicator_id,
                name_vi=i.name_vi,
                name_en=i.name_en,
                counts=i.counts,
                kind=i.kind,
                breakdowns=list(i.breakdowns),
                domain_ref=i.ref,
            )
            for i in catalogue.indicators.values()
        ],
    )


def _value(
    indicator_id: str, value: engine.Value, previous: engine.Value | None
) -> reporting_pb2.IndicatorValue:
    message = reporting_pb2.IndicatorValue(
        indicator_id=indicator_id,
        group=value.group,
        numerator=value.numerator,
        denominator=value.denominator or 0,
        has_value=value.value is not None,
        value=value.value or 0.0,
    )
    if previous is not None and previous.value is not None:
        message.previous_value, message.has_previous = previous.value, True
    return message


def indicator_report_proto(
    query: handlers.IndicatorQuery, results: Sequence[engine.Result], catalogue: Catalogue
) -> reporting_pb2.IndicatorReport:
    return reporting_pb2.IndicatorReport(
        period_start=query.period.start.isoformat(),
        period_end=query.period.end.isoformat(),
        province_code=query.province_code,
        commune_codes=list(query.commune_codes),
        breakdown=query.breakdown,
        catalogue_version=catalogue.version,
        values=[
            _value(result.indicator_id, value, result.previous_of(value.group))
            for result in results
            for value in result.values
        ],
    )


def plan_summary(plan: plans.Plan) -> reporting_pb2.PlanSummary:
    return reporting_pb2.PlanSummary(
        plan_id=plan.plan_id,
        title_vi=plan.title_vi,
        title_en=plan.title_en,
        province_code=plan.province_code,
        commune_codes=list(plan.commune_codes),
        period_start=plan.period.start.isoformat(),
        period_end=plan.period.end.isoformat(),
        targets=len(plan.targets),
        source=plan.source,
    )


def plan_progress_proto(
    plan: plans.Plan, as_of: date, progress: Sequence[plans.Progress]
) -> reporting_pb2.PlanProgress:
    def target(p: plans.Progress) -> reporting_pb2.TargetProgress:
        message = reporting_pb2.TargetProgress(
            target_id=p.target.target_id,
            indicator_id=p.target.indicator_id,
            label_vi=p.target.label_vi,
            label_en=p.target.label_en,
            comparison=p.target.comparison,
            target=p.previous
            if p.target.comparison == "below_previous_year" and p.previous is not None
            else p.target.value,
            status=p.status,
            measure=p.measure,
        )
        if p.actual is not None:
            message.actual, message.has_actual = p.actual, True
        if p.share_reached is not None:
            message.share_reached = p.share_reached
        if p.expected_share is not None:
            message.expected_share = p.expected_share
        return message

    return reporting_pb2.PlanProgress(
        plan=plan_summary(plan), as_of=as_of.isoformat(), targets=[target(p) for p in progress]
    )


def _stem(name: str, period: Period, province_code: str, commune_codes: Sequence[str]) -> str:
    unit = "-".join(commune_codes[:3]) if commune_codes else (province_code or "toan-quoc")
    return f"{name}_{period.start.isoformat()}_{period.end.isoformat()}_{unit}"


def unit_period(
    request: reporting_pb2.SignOffRequest | reporting_pb2.GetSignedReportRequest,
) -> handlers.UnitPeriod:
    period = Period(
        parse_date(request.period_start, field="period_start"),
        parse_date(request.period_end, field="period_end"),
    )
    if not request.province_code:
        raise InvalidInput(
            "province_code.required",
            "Phải chọn tỉnh/thành phố (province_code) của báo cáo.",
            "province_code is required: a report is signed for a province or one of its communes.",
        )
    units.province_name(request.province_code)
    if request.commune_code:
        commune = units.commune(request.commune_code)
        if commune.province_code != request.province_code:
            raise InvalidInput(
                "commune_code.outside_province",
                f"{commune.name} ({commune.code}) không thuộc tỉnh/thành phố có mã {request.province_code}.",
                f"Commune {commune.code} is not in province {request.province_code}.",
            )
    return handlers.UnitPeriod(period, request.province_code, request.commune_code)


def signed_proto(snapshot: signoff.Snapshot) -> reporting_pb2.SignedReport:
    return reporting_pb2.SignedReport(
        snapshot_id=snapshot.snapshot_id,
        signed_by=snapshot.signed_by,
        signed_at=_moment(snapshot.signed_at),
        indicators=reporting_pb2.IndicatorReport(
            period_start=snapshot.period.start.isoformat(),
            period_end=snapshot.period.end.isoformat(),
            province_code=snapshot.province_code,
            commune_codes=[snapshot.commune_code] if snapshot.commune_code else [],
            catalogue_version=snapshot.catalogue_version,
            values=[
                reporting_pb2.IndicatorValue(
                    indicator_id=v.indicator_id,
                    group=v.group,
                    numerator=v.numerator,
                    denominator=v.denominator or 0,
                    value=v.value or 0.0,
                    has_value=v.value is not None,
                )
                for v in snapshot.values
            ],
        ),
    )


def as_of_date(value: str) -> date:
    return parse_date(value, field="as_of") if value else today_in_vietnam()


class ReportingServicer(reporting_pb2_grpc.ReportingServiceServicer):
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        sources: Sequence[Source],
        broker_view: Callable[[Source], Awaitable[handlers.BrokerView]],
        catalogue: Catalogue,
        plans: Mapping[str, plans.Plan],
    ) -> None:
        self._sessions = sessions
        self._catalogue = catalogue
        self._plans = plans
        self._sources = sources
        self._broker_view = broker_view

    def add_to(self, server: grpc.aio.Server) -> None:
        reporting_pb2_grpc.add_ReportingServiceServicer_to_server(self, server)

    async def GetManagementReport(
        self, request: reporting_pb2.ManagementReportRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.ManagementReport:
        report = await handlers.management_report(self._sessions, report_query(request))
        return to_proto(report)

    async def GetIngestStatus(
        self, request: reporting_pb2.IngestStatusRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.IngestStatus:
        status = await handlers.ingest_status(self._sessions, self._sources, self._broker_view)
        return ingest_status_proto(status)

    async def GetPersonTimeline(
        self, request: reporting_pb2.PersonTimelineRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.PersonTimeline:
        pseudonym = pseudonym_of(request)
        return timeline_proto(pseudonym, await handlers.person_timeline(self._sessions, pseudonym))

    async def GetActivityCounts(
        self, request: reporting_pb2.ActivityCountsRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.ActivityCounts:
        query = report_query(request)
        counts = await handlers.activity_counts(self._sessions, query)
        return reporting_pb2.ActivityCounts(
            period_start=query.period.start.isoformat(),
            period_end=query.period.end.isoformat(),
            counts=[
                reporting_pb2.ActivityCount(department=d, event_type=t, events=n, people=p)
                for d, t, n, p in counts
            ],
        )

    def _plan(self, plan_id: str) -> plans.Plan:
        plan = self._plans.get(plan_id)
        if plan is None:
            known = ", ".join(sorted(self._plans))
            raise NotFound(
                "plan.not_found",
                f"Không có kế hoạch {plan_id!r}; các kế hoạch: {known}.",
                f"No plan {plan_id!r}; the plans are: {known}.",
            )
        return plan

    async def ListIndicators(
        self, request: reporting_pb2.ListIndicatorsRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.IndicatorCatalogue:
        return catalogue_proto(self._catalogue)

    async def GetIndicators(
        self, request: reporting_pb2.IndicatorsRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.IndicatorReport:
        query = indicator_query(request, self._catalogue)
        results = await handlers.indicator_report(self._sessions, query)
        return indicator_report_proto(query, results, self._catalogue)

    async def ListPlans(
        self, request: reporting_pb2.ListPlansRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.PlanList:
        return reporting_pb2.PlanList(plans=[plan_summary(p) for p in self._plans.values()])

    async def GetPlanProgress(
        self, request: reporting_pb2.PlanProgressRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.PlanProgress:
        plan = self._plan(request.plan_id)
        as_of = as_of_date(request.as_of)
        progress = await handlers.plan_progress(self._sessions, self._catalogue, plan, as_of)
        return plan_progress_proto(plan, as_of, progress)

    async def ExportReport(
        self, request: reporting_pb2.ExportRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.ExportedFile:
        format_, language = exports.check_format(request.format, request.language)
        table, stem = await self._table(request)
        exported = exports.export(table, format_, language, stem=stem)
        return reporting_pb2.ExportedFile(
            filename=exported.filename, content_type=exported.content_type, content=exported.content
        )

    async def _table(self, request: reporting_pb2.ExportRequest) -> tuple[tables.Table, str]:
        which = request.WhichOneof("report")
        if which == "management":
            query = report_query(request.management)
            report = await handlers.management_report(self._sessions, query)
            table = tables.management_table(report, query.province_code, query.commune_codes)
            return table, _stem("quan-ly", query.period, query.province_code, query.commune_codes)
        if which == "indicators":
            query = indicator_query(request.indicators, self._catalogue)
            results = await handlers.indicator_report(self._sessions, query)
            table = tables.indicators_table(
                self._catalogue,
                results,
                period=query.period,
                province_code=query.province_code,
                commune_codes=query.commune_codes,
                breakdown=query.breakdown,
                compared=query.compare_previous_year,
            )
            return table, _stem("chi-tieu", query.period, query.province_code, query.commune_codes)
        if which == "plan":
            plan = self._plan(request.plan.plan_id)
            as_of = as_of_date(request.plan.as_of)
            progress = await handlers.plan_progress(self._sessions, self._catalogue, plan, as_of)
            return tables.plan_table(plan, as_of, progress), f"ke-hoach_{plan.plan_id}_{as_of.isoformat()}"
        if which == "alerts":
            query = alerts_api.alert_query(request.alerts, today=today_in_vietnam())
            alerts = await handlers.list_alerts(self._sessions, query)
            table = tables.alerts_table(
                alerts,
                as_of=query.as_of,
                province_code=query.province_code,
                commune_codes=query.commune_codes,
            )
            unit = "-".join(query.commune_codes[:3]) or query.province_code or "toan-quoc"
            return table, f"canh-bao_{query.as_of.isoformat()}_{unit}"
        raise InvalidInput(
            "export.report",
            "Chọn báo cáo cần xuất: management, indicators, plan hoặc alerts.",
            "Choose the report to export: management, indicators, plan or alerts.",
        )

    async def SignOffReport(
        self, request: reporting_pb2.SignOffRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.SignedReport:
        unit = unit_period(request)
        officer = metadata_value(context, "x-officer-id")
        if not officer.strip():
            raise PermissionDenied(
                "signoff.unidentified",
                "Phê duyệt báo cáo cần khai báo cán bộ phê duyệt (x-officer-id).",
                "Signing off a report needs the approving officer (x-officer-id metadata).",
            )
        snapshot = await handlers.sign_off(
            self._sessions,
            self._catalogue,
            unit,
            officer=clean_text(officer, field="x-officer-id", max_length=100),
            now=datetime.now(UTC),
        )
        return signed_proto(snapshot)

    async def GetSignedReport(
        self, request: reporting_pb2.GetSignedReportRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.SignedReportComparison:
        snapshot, differences = await handlers.signed_report(
            self._sessions, self._catalogue, unit_period(request)
        )
        return reporting_pb2.SignedReportComparison(
            snapshot=signed_proto(snapshot),
            differences=[
                reporting_pb2.Difference(
                    indicator_id=d.indicator_id,
                    group=d.group,
                    signed_value=d.signed or 0.0,
                    current_value=d.current or 0.0,
                )
                for d in differences
            ],
        )

    async def ListAlerts(
        self, request: reporting_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> reporting_pb2.AlertList:
        query = alerts_api.alert_query(request, today=today_in_vietnam())
        return alerts_api.alert_list(query, await handlers.list_alerts(self._sessions, query))

    # Set by the composition root: a rebuild pauses and recreates the consumers, which main owns.
    rebuilder: Rebuilder | None = None

    async def Rebuild(
        self, request: reporting_pb2.RebuildRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[reporting_pb2.RebuildProgress]:
        assert self.rebuilder is not None, "main sets the rebuilder"
        run = self.rebuilder.start(confirm=request.confirm)
        async for progress, _finished in run.follow():
            for p in progress:
                yield reporting_pb2.RebuildProgress(stream=p.stream, applied=p.applied, total=p.total)
        applied, total = sum(p.applied for p in progress), sum(p.total for p in progress)
        yield reporting_pb2.RebuildProgress(applied=applied, total=total, done=True)
