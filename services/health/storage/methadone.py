"""Methadone episodes and what is recorded during them: doses, breaches, opioid tests."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong.errors import NotFound
from services.health.domain.methadone import EndReason, Episode, OpioidTest, Phase
from services.health.storage.tables import breaches, doses, episodes, opioid_tests


def _episode(row) -> Episode:
    return Episode(
        episode_id=row.episode_id,
        person_id=row.person_id,
        enrolled_on=row.enrolled_on,
        law_version=row.law_version,
        commune_code=row.commune_code,
        province_code=row.province_code,
        phase=Phase(row.phase),
        maintenance_on=row.maintenance_on,
        covered_until=row.covered_until,
        ended_on=row.ended_on,
        end_reason=EndReason(row.end_reason) if row.end_reason else None,
    )


def _episode_values(e: Episode) -> dict:
    return dict(
        phase=e.phase.value,
        maintenance_on=e.maintenance_on,
        covered_until=e.covered_until,
        ended_on=e.ended_on,
        end_reason=e.end_reason.value if e.end_reason else None,
    )


async def add_episode(session: AsyncSession, e: Episode) -> None:
    await session.execute(
        insert(episodes).values(
            episode_id=e.episode_id,
            person_id=e.person_id,
            enrolled_on=e.enrolled_on,
            law_version=e.law_version,
            commune_code=e.commune_code,
            province_code=e.province_code,
            **_episode_values(e),
        )
    )


async def save_episode(session: AsyncSession, e: Episode) -> None:
    await session.execute(
        update(episodes).where(episodes.c.episode_id == e.episode_id).values(**_episode_values(e))
    )


async def get_episode(session: AsyncSession, episode_id: str) -> Episode:
    row = (await session.execute(select(episodes).where(episodes.c.episode_id == episode_id))).first()
    if row is None:
        raise NotFound(
            "episode.not_found",
            f"Không tìm thấy đợt điều trị methadone mã {episode_id!r}.",
            f"No methadone episode with id {episode_id!r}.",
        )
    return _episode(row)


async def episodes_of(session: AsyncSession, person_id: str) -> list[Episode]:
    rows = await session.execute(
        select(episodes).where(episodes.c.person_id == person_id).order_by(episodes.c.enrolled_on)
    )
    return [_episode(r) for r in rows]


async def open_episodes_covered_before(session: AsyncSession, day: date) -> list[str]:
    rows = await session.execute(
        select(episodes.c.episode_id)
        .where(episodes.c.ended_on.is_(None), episodes.c.covered_until <= day)
        .order_by(episodes.c.episode_id)
    )
    return list(rows.scalars())


async def add_dose(session: AsyncSession, episode_id: str, taken_on: date, days_covered: int) -> None:
    await session.execute(
        insert(doses).values(episode_id=episode_id, taken_on=taken_on, days_covered=days_covered)
    )


async def add_breach(session: AsyncSession, episode_id: str, occurred_on: date, kind: str) -> None:
    await session.execute(insert(breaches).values(episode_id=episode_id, occurred_on=occurred_on, kind=kind))


async def breach_dates(session: AsyncSession, episode_id: str) -> list[date]:
    rows = await session.execute(select(breaches.c.occurred_on).where(breaches.c.episode_id == episode_id))
    return list(rows.scalars())


async def add_test(session: AsyncSession, episode_id: str, tested_on: date, positive: bool) -> None:
    await session.execute(
        insert(opioid_tests).values(episode_id=episode_id, tested_on=tested_on, positive=positive)
    )


async def tests_of(session: AsyncSession, episode_id: str) -> list[OpioidTest]:
    rows = await session.execute(
        select(opioid_tests.c.tested_on, opioid_tests.c.positive).where(
            opioid_tests.c.episode_id == episode_id
        )
    )
    return [OpioidTest(r.tested_on, r.positive) for r in rows]
