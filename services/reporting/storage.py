"""Reporting's read model: facts per person pseudonym, unit and date, and the queries over them.

Tables must stay identical to ``migrations/`` (a test compares them). Writes are batched (one statement
per table per consumer batch) and idempotent, so a replay of the streams rebuilds the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong import inbox
from lienthong.db import insert_ignoring_duplicates
from services.reporting.domain import EXPIRED, Counts, Period, Spell
from services.reporting.signoff import SignedValue, Snapshot
from services.reporting.steps import Step

metadata = MetaData()

PEOPLE = Table(
    "people",
    metadata,
    Column("pseudonym", String(64), primary_key=True),
    Column("sex", String(12), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("registered_on", Date, nullable=False),
)

POSITIVE_TESTS = Table(
    "positive_tests",
    metadata,
    Column("test_id", String(64), primary_key=True),
    Column("pseudonym", String(64), nullable=False, index=True),
    Column("tested_on", Date, nullable=False, index=True),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("sex", String(12), nullable=False),
    Column("age_band", String(12), nullable=False),
    Column("substance", String(50), nullable=False),
    Column("during_management", Boolean, nullable=False),
)

# One row per management decision. The decided part and the ended part come from two events that may
# arrive in either order; each part carries the aggregate version of the event that last set it.
MANAGEMENT_SPELLS = Table(
    "management_spells",
    metadata,
    Column("management_id", String(64), primary_key=True),
    Column("pseudonym", String(64), nullable=False, index=True),
    Column("commune_code", String(5), nullable=True),
    Column("province_code", String(2), nullable=True),
    Column("sex", String(12), nullable=True),
    Column("age_band", String(12), nullable=True),
    Column("decided_on", Date, nullable=True, index=True),
    Column("expires_on", Date, nullable=True),
    Column("decided_version", Integer, nullable=True),
    Column("ended_on", Date, nullable=True),
    Column("end_reason", String(50), nullable=True),
    Column("ended_version", Integer, nullable=True),
    Index("ix_management_spells_unit", "province_code", "commune_code"),
)

# Every act of every department, one row per event: a person's path by pseudonym, and the counts of acts
# per period and unit. The unit is the one the event carried (residence on the date of the act).
STEPS = Table(
    "steps",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("pseudonym", String(64), nullable=True),
    Column("event_type", String(100), nullable=False),
    Column("department", String(20), nullable=False),
    Column("agency", String(30), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("sex", String(12), nullable=True),
    Column("age_band", String(12), nullable=True),
    Column("record_id", String(64), nullable=False),
    Column("codes", JSON, nullable=False),
    Index("ix_steps_person", "pseudonym", "occurred_on"),
    Index("ix_steps_period_unit", "occurred_on", "province_code", "commune_code"),
)

# Approved reports. Not derived from events: a rebuild of the read model keeps them.
SIGNOFFS = Table(
    "signoffs",
    metadata,
    Column("snapshot_id", String(36), primary_key=True),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("signed_by", String(100), nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
    Column("catalogue_version", String(40), nullable=False),
    Column("figures", JSON, nullable=False),
    UniqueConstraint(
        "period_start", "period_end", "province_code", "commune_code", name="uq_signoffs_unit_period"
    ),
)

INGEST_STATE = Table(
    "ingest_state",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("last_event_time", DateTime(timezone=True), nullable=False),
)

INBOX = inbox.define_table_v1(metadata)

DECIDED_PART = ("commune_code", "province_code", "sex", "age_band", "decided_on", "expires_on")
ENDED_PART = ("ended_on", "end_reason")
SPELL_COLUMNS = ("management_id", "pseudonym", *DECIDED_PART, "decided_version", *ENDED_PART, "ended_version")


def _insert(session: AsyncSession, table: Table):
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def add_people(session: AsyncSession, rows: Sequence[dict]) -> None:
    if rows:
        await session.execute(insert_ignoring_duplicates(PEOPLE, session.bind.dialect.name), list(rows))


async def add_positive_tests(session: AsyncSession, rows: Sequence[dict]) -> None:
    if rows:
        statement = insert_ignoring_duplicates(POSITIVE_TESTS, session.bind.dialect.name)
        await session.execute(statement, list(rows))


async def upsert_spells(session: AsyncSession, rows: Sequence[dict]) -> None:
    """Insert or update spells, at most one row per management_id (PostgreSQL refuses two in one statement).

    Each part is replaced only by a row that carries that part with a version at least as new, so the
    result does not depend on the order the events arrived in.
    """
    if not rows:
        return
    statement = _insert(session, MANAGEMENT_SPELLS)
    new, old = statement.excluded, MANAGEMENT_SPELLS.c

    def newer(part: str):
        return and_(
            new[f"{part}_version"].is_not(None),
            or_(old[f"{part}_version"].is_(None), new[f"{part}_version"] >= old[f"{part}_version"]),
        )

    updates = {}
    for part, columns in (("decided", DECIDED_PART), ("ended", ENDED_PART)):
        for name in (*columns, f"{part}_version"):
            updates[name] = case((newer(part), new[name]), else_=old[name])
    statement = statement.on_conflict_do_update(index_elements=[old.management_id], set_=updates)
    await session.execute(statement, [{name: row.get(name) for name in SPELL_COLUMNS} for row in rows])


async def spell_owners(session: AsyncSession, management_ids: Sequence[str]) -> dict[str, str]:
    if not management_ids:
        return {}
    result = await session.execute(
        select(MANAGEMENT_SPELLS.c.management_id, MANAGEMENT_SPELLS.c.pseudonym).where(
            MANAGEMENT_SPELLS.c.management_id.in_(list(management_ids))
        )
    )
    return dict(result.all())


async def add_steps(session: AsyncSession, steps: Sequence[Step]) -> None:
    if steps:
        rows = [
            {
                "event_id": step.event_id,
                "pseudonym": step.pseudonym,
                "event_type": step.event_type,
                "department": step.department,
                "agency": step.agency,
                "occurred_on": step.occurred_on,
                "recorded_at": _utc(step.recorded_at),
                "commune_code": step.commune_code,
                "province_code": step.province_code,
                "sex": step.sex,
                "age_band": step.age_band,
                "record_id": step.record_id,
                "codes": dict(step.codes),
            }
            for step in steps
        ]
        await session.execute(insert_ignoring_duplicates(STEPS, session.bind.dialect.name), rows)


def step_of_row(row) -> Step:
    return Step(
        event_id=row.event_id,
        event_type=row.event_type,
        department=row.department,
        agency=row.agency,
        occurred_on=row.occurred_on,
        recorded_at=_utc(row.recorded_at),
        pseudonym=row.pseudonym,
        commune_code=row.commune_code,
        province_code=row.province_code,
        sex=row.sex,
        age_band=row.age_band,
        record_id=row.record_id,
        codes=tuple(row.codes.items()),
    )


async def person_steps(session: AsyncSession, pseudonym: str) -> list[Step]:
    """A person's acts in the order they happened; acts of one day in the order they were recorded."""
    c = STEPS.c
    result = await session.execute(
        select(STEPS).where(c.pseudonym == pseudonym).order_by(c.occurred_on, c.recorded_at, c.event_id)
    )
    return [step_of_row(row) for row in result]


async def unit_steps(
    session: AsyncSession,
    event_types: Sequence[str],
    *,
    until: date,
    commune_codes: Sequence[str] = (),
    province_code: str = "",
) -> list[Step]:
    """The acts of these types in a unit up to a date: what the indicator engine counts from."""
    c = STEPS.c
    filters = [c.event_type.in_(list(event_types)), c.occurred_on <= until]
    if commune_codes:
        filters.append(c.commune_code.in_(list(commune_codes)))
    if province_code:
        filters.append(c.province_code == province_code)
    result = await session.execute(select(STEPS).where(*filters))
    return [step_of_row(row) for row in result]


async def activity_counts(
    session: AsyncSession, period: Period, *, commune_codes: Sequence[str] = (), province_code: str = ""
) -> list[tuple[str, str, int, int]]:
    """(department, event type, acts, distinct people) of acts dated inside the period and unit."""
    c = STEPS.c
    filters = [c.occurred_on >= period.start, c.occurred_on <= period.end]
    if commune_codes:
        filters.append(c.commune_code.in_(list(commune_codes)))
    if province_code:
        filters.append(c.province_code == province_code)
    result = await session.execute(
        select(c.department, c.event_type, func.count(), func.count(c.pseudonym.distinct()))
        .where(*filters)
        .group_by(c.department, c.event_type)
        .order_by(c.department, c.event_type)
    )
    return [(d, t, int(n), int(p)) for d, t, n, p in result]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def record_ingest(session: AsyncSession, consumer: str, newest_event_time: datetime) -> None:
    statement = _insert(session, INGEST_STATE).values(
        consumer=consumer, last_event_time=_utc(newest_event_time)
    )
    new, old = statement.excluded.last_event_time, INGEST_STATE.c.last_event_time
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[INGEST_STATE.c.consumer],
            set_={"last_event_time": case((new > old, new), else_=old)},
        )
    )


async def events_applied(session: AsyncSession, consumer: str) -> int:
    return await session.scalar(select(func.count()).where(INBOX.c.consumer == consumer)) or 0


async def applied_by_consumer(session: AsyncSession) -> dict[str, int]:
    result = await session.execute(select(INBOX.c.consumer, func.count()).group_by(INBOX.c.consumer))
    return {name: int(n) for name, n in result}


async def last_event_time(session: AsyncSession, consumer: str | None = None) -> datetime | None:
    """The newest event time one consumer (or, without a name, any consumer) has applied."""
    query = select(func.max(INGEST_STATE.c.last_event_time))
    if consumer is not None:
        query = query.where(INGEST_STATE.c.consumer == consumer)
    moment = await session.scalar(query)
    return _utc(moment) if moment is not None else None


# The report in SQL. These expressions restate domain.spell_end and domain.contribution; a test checks
# that both give the same figures on random data.
_S = MANAGEMENT_SPELLS.c
_ENDED_EARLY = and_(_S.ended_on.is_not(None), _S.ended_on <= _S.expires_on)
_RAW_END = case((_ENDED_EARLY, _S.ended_on), else_=_S.expires_on)
_END = case((_RAW_END < _S.decided_on, _S.decided_on), else_=_RAW_END)
_REASON = case((_ENDED_EARLY, func.coalesce(_S.end_reason, "unspecified")), else_=literal(EXPIRED))


async def management_counts(
    session: AsyncSession,
    period: Period,
    *,
    commune_codes: Sequence[str] = (),
    province_code: str = "",
) -> dict[tuple[str, str], Counts]:
    start, end = bindparam("period_start", type_=Date), bindparam("period_end", type_=Date)
    filters = [_S.decided_on.is_not(None), _S.decided_on <= end, _END >= start]
    if commune_codes:
        filters.append(_S.commune_code.in_(list(commune_codes)))
    if province_code:
        filters.append(_S.province_code == province_code)
    flags = (
        select(
            _S.commune_code,
            _S.province_code,
            # The filter already keeps D <= P and E >= S, which shortens each test to one comparison.
            case((_S.decided_on < start, 1), else_=0).label("at_start"),
            case((_S.decided_on >= start, 1), else_=0).label("new"),
            case((_END <= end, _REASON)).label("ended_reason"),
            case((_END > end, 1), else_=0).label("at_end"),
        )
        .where(*filters)
        .subquery()
    )
    # Grouping by the subquery's plain columns: PostgreSQL does not match bound parameters across clauses.
    grouped = select(
        flags.c.commune_code,
        flags.c.province_code,
        flags.c.ended_reason,
        func.sum(flags.c.at_start),
        func.sum(flags.c.new),
        func.count(),
        func.sum(flags.c.at_end),
    ).group_by(flags.c.commune_code, flags.c.province_code, flags.c.ended_reason)
    result = await session.execute(grouped, {"period_start": period.start, "period_end": period.end})
    counts: dict[tuple[str, str], Counts] = {}
    for commune, province, reason, at_start, new, n, at_end in result:
        part = Counts(int(at_start), int(new), {reason: int(n)} if reason is not None else {}, int(at_end))
        counts[(commune, province)] = counts.get((commune, province), Counts()) + part
    return counts


async def load_spells(session: AsyncSession) -> list[Spell]:
    """Every counted spell (decision known), for checks and exports."""
    result = await session.execute(
        select(
            _S.commune_code, _S.province_code, _S.decided_on, _S.expires_on, _S.ended_on, _S.end_reason
        ).where(_S.decided_on.is_not(None))
    )
    return [Spell(*row) for row in result]


async def add_signoff(session: AsyncSession, snapshot: Snapshot) -> bool:
    """Store the snapshot; False when the unit's period was already signed (it stays as it was)."""
    statement = insert_ignoring_duplicates(SIGNOFFS, session.bind.dialect.name).values(
        snapshot_id=snapshot.snapshot_id,
        period_start=snapshot.period.start,
        period_end=snapshot.period.end,
        province_code=snapshot.province_code,
        commune_code=snapshot.commune_code,
        signed_by=snapshot.signed_by,
        signed_at=_utc(snapshot.signed_at),
        catalogue_version=snapshot.catalogue_version,
        figures=[[v.indicator_id, v.group, v.numerator, v.denominator, v.value] for v in snapshot.values],
    )
    result = await session.execute(statement.returning(SIGNOFFS.c.snapshot_id))
    return result.first() is not None


async def find_signoff(
    session: AsyncSession, period: Period, province_code: str, commune_code: str
) -> Snapshot | None:
    c = SIGNOFFS.c
    row = (
        await session.execute(
            select(SIGNOFFS).where(
                c.period_start == period.start,
                c.period_end == period.end,
                c.province_code == province_code,
                c.commune_code == commune_code,
            )
        )
    ).first()
    if row is None:
        return None
    return Snapshot(
        snapshot_id=row.snapshot_id,
        period=Period(row.period_start, row.period_end),
        province_code=row.province_code,
        commune_code=row.commune_code,
        signed_by=row.signed_by,
        signed_at=_utc(row.signed_at),
        catalogue_version=row.catalogue_version,
        values=tuple(SignedValue(*item) for item in row.figures),
    )
