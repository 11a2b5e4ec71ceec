"""gRPC edge of reporting: check the request, run the use case, map the result to protobuf.

Refusals are ``InvalidInput`` errors; the plumbing's interceptor turns them into INVALID_ARGUMENT with
the message in the caller's language.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong import units
from lienthong.dates import parse_date
from lienthong.errors import InvalidInput
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting import handlers
from services.reporting.domain import ManagementReport, Period, ReportRow

SERVICE_NAME = reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name
MAX_COMMUNES = 5000


def report_query(request: reporting_pb2.ManagementReportRequest) -> handlers.ReportQuery:
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


class ReportingServicer(reporting_pb2_grpc.ReportingServiceServicer):
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        consumer: str,
        dead_lettered: Callable[[], Awaitable[int]],
    ) -> None:
        self._sessions = sessions
        self._consumer = consumer
        self._dead_lettered = dead_lettered

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
        status = await handlers.ingest_status(
            self._sessions, consumer=self._consumer, dead_lettered=self._dead_lettered
        )
        newest = status.last_event_time
        return reporting_pb2.IngestStatus(
            events_applied=status.events_applied,
            events_dead_lettered=status.events_dead_lettered,
            last_event_time=newest.isoformat(timespec="microseconds").replace("+00:00", "Z")
            if newest
            else "",
        )
