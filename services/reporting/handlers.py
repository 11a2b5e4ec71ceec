"""Reporting use cases: the management report, a person's path, activity counts, how far ingestion has got."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting import storage
from services.reporting.alerts import domain as alert_rules
from services.reporting.alerts import queries as alert_queries
from services.reporting.alerts import rulebook
from services.reporting.alerts.model import Alert, AlertQuery, RuleBook
from services.reporting.domain import ManagementReport, Period, build_report
from services.reporting.sources import Source
from services.reporting.steps import Step


@dataclass(frozen=True)
class ReportQuery:
    period: Period
    # Already checked to be official codes (and inside province_code when both are given).
    commune_codes: tuple[str, ...] = ()
    province_code: str = ""


@dataclass(frozen=True)
class BrokerView:
    pending: int  # -1 when JetStream could not say (the stream does not exist yet, or NATS is away)
    dead_lettered: int


@dataclass(frozen=True)
class SourceStatus:
    stream: str
    events_applied: int
    events_dead_lettered: int
    pending: int


@dataclass(frozen=True)
class IngestStatus:
    sources: tuple[SourceStatus, ...]
    last_event_time: datetime | None

    @property
    def events_applied(self) -> int:
        return sum(s.events_applied for s in self.sources)

    @property
    def events_dead_lettered(self) -> int:
        return sum(s.events_dead_lettered for s in self.sources)

    @property
    def caught_up(self) -> bool:
        return all(s.pending == 0 for s in self.sources)


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
    sources: Sequence[Source],
    broker_view: Callable[[Source], Awaitable[BrokerView]],
) -> IngestStatus:
    async with sessions() as session:
        applied = await storage.applied_by_consumer(session)
        newest = await storage.last_event_time(session)
    statuses = []
    for source in sources:
        view = await broker_view(source)
        statuses.append(
            SourceStatus(source.stream, applied.get(source.consumer, 0), view.dead_lettered, view.pending)
        )
    return IngestStatus(tuple(statuses), newest)


async def person_timeline(sessions: async_sessionmaker[AsyncSession], pseudonym: str) -> list[Step]:
    async with sessions() as session:
        return await storage.person_steps(session, pseudonym)


async def activity_counts(
    sessions: async_sessionmaker[AsyncSession], query: ReportQuery
) -> list[tuple[str, str, int, int]]:
    async with sessions() as session:
        return await storage.activity_counts(
            session, query.period, commune_codes=query.commune_codes, province_code=query.province_code
        )


async def list_alerts(
    sessions: async_sessionmaker[AsyncSession], query: AlertQuery, book: RuleBook | None = None
) -> list[Alert]:
    async with sessions() as session:
        steps = await alert_queries.steps_for_alerts(
            session, as_of=query.as_of, province_code=query.province_code, commune_codes=query.commune_codes
        )
    return alert_rules.evaluate(steps, book or rulebook.current(), query)
