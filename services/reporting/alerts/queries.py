"""The steps the alert rules read: every act of a person dated on or before ``as_of``.

A person is read whole, because a rule looks at their other acts (a placement, a later decision) and their
latest act says where they live. With a unit filter only people with at least one act in the unit are
read; the rules then keep the alerts whose commune of residence is inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.steps import Step
from services.reporting.storage import STEPS, step_of_row


async def steps_for_alerts(
    session: AsyncSession, *, as_of: date, province_code: str = "", commune_codes: Sequence[str] = ()
) -> list[Step]:
    c = STEPS.c
    query = select(STEPS).where(c.pseudonym.is_not(None), c.occurred_on <= as_of)
    if province_code or commune_codes:
        people = select(c.pseudonym).where(c.pseudonym.is_not(None), c.occurred_on <= as_of)
        if province_code:
            people = people.where(c.province_code == province_code)
        if commune_codes:
            people = people.where(c.commune_code.in_(list(commune_codes)))
        query = query.where(c.pseudonym.in_(people.distinct()))
    result = await session.execute(query.order_by(c.pseudonym, c.occurred_on, c.recorded_at, c.event_id))
    return [step_of_row(row) for row in result]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
