"""Reporting use cases: the management report and how far ingestion has got."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting import storage
from services.reporting.domain import ManagementReport, Period, build_report


@dataclass(frozen=True)
class ReportQuery:
    period: Period
    # Already checked to be official codes (and inside province_code when both are given).
    commune_codes: tuple[str, ...] = ()
    province_code: str = ""


@dataclass(frozen=True)
class IngestStatus:
    events_applied: int
    events_dead_lettered: int
    last_event_time: datetime | None


async def management_report(
    sessions: async_sessionmaker[AsyncSession], query: ReportQuery
) -> ManagementReport:
    async with sessions() as session:
        counts = await storage.management_counts(
            session, query.period, commune_codes=query.commune_codes, province_code=query.province_code
        )
    return build_report(
        query.period, counts, requested=query.commune_codes, province_code=query.province_code
    )


async def ingest_status(
    sessions: async_sessionmaker[AsyncSession],
    *,
    consumer: str,
    dead_lettered: Callable[[], Awaitable[int]],
) -> IngestStatus:
    async with sessions() as session:
        applied = await storage.events_applied(session, consumer)
        newest = await storage.last_event_time(session, consumer)
    return IngestStatus(applied, await dead_lettered(), newest)
