"""Reporting use cases: the management report, a person's path, activity counts, how far ingestion has got."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting import storage
from services.reporting.domain import ManagementReport, Period, build_report
from services.reporting.indicators import engine, plans
from services.reporting.indicators.catalogue import Catalogue, Indicator
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


@dataclass(frozen=True)
class IndicatorQuery:
    period: Period
    indicators: tuple[Indicator, ...]  # already checked against the catalogue
    commune_codes: tuple[str, ...] = ()
    province_code: str = ""
    breakdown: str = ""
    compare_previous_year: bool = False


async def _facts(
    sessions: async_sessionmaker[AsyncSession],
    indicators: Sequence[Indicator],
    until: date,
    *,
    commune_codes: Sequence[str],
    province_code: str,
) -> engine.Facts:
    reach = timedelta(days=engine.reach_days(indicators))
    async with sessions() as session:
        steps = await storage.unit_steps(
            session,
            sorted(engine.event_types(indicators)),
            until=until + reach,
            commune_codes=commune_codes,
            province_code=province_code,
        )
    return engine.Facts(steps)


async def indicator_report(
    sessions: async_sessionmaker[AsyncSession], query: IndicatorQuery
) -> list[engine.Result]:
    facts = await _facts(
        sessions,
        query.indicators,
        query.period.end,
        commune_codes=query.commune_codes,
        province_code=query.province_code,
    )
    return [
        engine.compute(
            indicator,
            facts,
            query.period,
            # An indicator without this breakdown is given for the whole unit only.
            breakdown=query.breakdown if query.breakdown in indicator.breakdowns else "",
            compare_previous_year=query.compare_previous_year,
        )
        for indicator in query.indicators
    ]


async def plan_progress(
    sessions: async_sessionmaker[AsyncSession], catalogue: Catalogue, plan: plans.Plan, as_of: date
) -> list[plans.Progress]:
    measured = plans.measured_period(plan, as_of)
    indicators = [catalogue.get(t.indicator_id) for t in plan.targets]
    if measured is None:
        return [
            plans.progress(
                t, kind=i.kind, counts=i.counts, actual=None, previous=None, plan=plan, as_of=as_of
            )
            for t, i in zip(plan.targets, indicators, strict=True)
        ]
    facts = await _facts(
        sessions,
        indicators,
        measured.end,
        commune_codes=plan.commune_codes,
        province_code=plan.province_code,
    )
    result = []
    for target, indicator in zip(plan.targets, indicators, strict=True):
        computed = engine.compute(indicator, facts, measured, compare_previous_year=True)
        previous = computed.previous_of(engine.TOTAL)
        result.append(
            plans.progress(
                target,
                kind=indicator.kind,
                counts=indicator.counts,
                actual=computed.total().value,
                previous=previous.value if previous else None,
                plan=plan,
                as_of=as_of,
            )
        )
    return result
