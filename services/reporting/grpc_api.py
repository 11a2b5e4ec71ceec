"""gRPC edge of reporting: check the request, run the use case, map the result to protobuf.

Refusals are ``InvalidInput`` errors; the plumbing's interceptor turns them into INVALID_ARGUMENT with
the message in the caller's language.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong import units
from lienthong.dates import parse_date
from lienthong.errors import InvalidInput
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting import handlers
from services.reporting.domain import ManagementReport, Period, ReportRow
from services.reporting.rebuild import Rebuilder
from services.reporting.sources import Source
from services.reporting.steps import PSEUDONYM, Step

SERVICE_NAME = reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name
MAX_COMMUNES = 5000


def report_query(
    request: reporting_pb2.ManagementReportRequest | reporting_pb2.ActivityCountsRequest,
) -> handlers.ReportQuery:
    period = Period(
        parse_date(request.period_start, field="period_start"),
        parse_date(request.period_end, field="period_end"),
    )
    province = request.province_code
    if province:
        units.province_name(province)
    if len(request.commune_codes) > MAX_COMMUNES:
        raise InvalidInput(
            "commune_codes.too_many",
            f"Chỉ được lọc tối đa {MAX_COMMUNES} xã/phường.",
            f"At most {MAX_COMMUNES} commune codes may be given.",
        )
    communes = tuple(dict.fromkeys(request.commune_codes))
    for code in communes:
        commune = units.commune(code, field="commune_codes")
        if province and commune.province_code != province:
            raise InvalidInput(
                "commune_codes.outside_province",
                f"{commune.name} ({code}) không thuộc tỉnh/thành phố có mã {province}.",
                f"Commune {code} is not in province {province}.",
            )
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


class ReportingServicer(reporting_pb2_grpc.ReportingServiceServicer):
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        sources: Sequence[Source],
        broker_view: Callable[[Source], Awaitable[handlers.BrokerView]],
    ) -> None:
        self._sessions = sessions
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
