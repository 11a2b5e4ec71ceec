"""Reporting use cases: the management report, a person's path, activity counts, how far ingestion has got."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong.errors import AlreadyExists, NotFound
from lienthong.ids import uuid7
from services.reporting import signoff, storage
from services.reporting.alerts import domain as alert_rules
from services.reporting.alerts import queries as alert_queries
from services.reporting.alerts import rulebook
from services.reporting.alerts.model import Alert, AlertQuery, RuleBook
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


@dataclass(frozen=True)
class UnitPeriod:
    period: Period
    province_code: str
    commune_code: str = ""  # "" for the whole province


async def _totals(
    sessions: async_sessionmaker[AsyncSession], indicators: Sequence[Indicator], unit: UnitPeriod
) -> tuple[signoff.SignedValue, ...]:
    query = IndicatorQuery(
        period=unit.period,
        indicators=tuple(indicators),
        commune_codes=(unit.commune_code,) if unit.commune_code else (),
        province_code=unit.province_code,
    )
    return signoff.values_of(await indicator_report(sessions, query))


async def sign_off(
    sessions: async_sessionmaker[AsyncSession],
    catalogue: Catalogue,
    unit: UnitPeriod,
    *,
    officer: str,
    now: datetime,
) -> signoff.Snapshot:
    values = await _totals(sessions, list(catalogue.indicators.values()), unit)
    snapshot = signoff.Snapshot(
        snapshot_id=uuid7(),
        period=unit.period,
        province_code=unit.province_code,
        commune_code=unit.commune_code,
        signed_by=officer,
        signed_at=now,
        catalogue_version=catalogue.version,
        values=values,
    )
    async with sessions.begin() as session:
        stored = await storage.add_signoff(session, snapshot)
    if not stored:
        async with sessions() as session:
            earlier = await storage.find_signoff(session, unit.period, unit.province_code, unit.commune_code)
        who = f"{earlier.signed_by}, {earlier.signed_at:%Y-%m-%d %H:%M} UTC" if earlier else "?"
        raise AlreadyExists(
            "signoff.locked",
            f"Báo cáo của đơn vị cho kỳ này đã được phê duyệt và khoá ({who}).",
            f"This unit's report for the period was already approved and locked ({who}).",
        )
    return snapshot


async def signed_report(
    sessions: async_sessionmaker[AsyncSession], catalogue: Catalogue, unit: UnitPeriod
) -> tuple[signoff.Snapshot, list[signoff.Difference]]:
    async with sessions() as session:
        snapshot = await storage.find_signoff(session, unit.period, unit.province_code, unit.commune_code)
    if snapshot is None:
        raise NotFound(
            "signoff.not_found",
            "Báo cáo của đơn vị cho kỳ này chưa được phê duyệt.",
            "This unit's report for the period has not been signed off.",
        )
    # The figures the snapshot holds, recomputed now (indicators since removed from the catalogue show
    # as vanished).
    signed_ids = list(dict.fromkeys(v.indicator_id for v in snapshot.values))
    indicators = [catalogue.indicators[i] for i in signed_ids if i in catalogue.indicators]
    current = await _totals(sessions, indicators, unit)
    return snapshot, signoff.differences(snapshot.values, current)


async def list_alerts(
    sessions: async_sessionmaker[AsyncSession], query: AlertQuery, book: RuleBook | None = None
) -> list[Alert]:
    async with sessions() as session:
        steps = await alert_queries.steps_for_alerts(
            session, as_of=query.as_of, province_code=query.province_code, commune_codes=query.commune_codes
        )
    return alert_rules.evaluate(steps, book or rulebook.current(), query)
