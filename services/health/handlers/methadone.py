"""Methadone use cases (Decree 90/2016). Only enrolment and the end are published; doses, phases,
breaches and tests stay in health's database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from lienthong.dates import not_in_future
from lienthong.ids import uuid7
from services.health import storage
from services.health.domain import methadone as mmt
from services.health.domain.people import Person, law_version, not_before_birth
from services.health.handlers.base import Commands, PersonDetails
from services.health.storage import methadone as episodes_db

T = TypeVar("T")


class MethadoneCommands(Commands):
    async def enrol_methadone(
        self, *, person: PersonDetails, enrolled_on: date
    ) -> tuple[mmt.Episode, Person]:
        version = law_version(self.laws, enrolled_on, "enrolled_on")

        async def work(session: AsyncSession):
            known = await self._identified(session, person)
            before = await storage.person_by_pseudonym(session, known.pseudonym)
            not_before_birth(known, enrolled_on, "enrolled_on")
            candidate = mmt.Episode(
                uuid7(), known.person_id, enrolled_on, version, known.commune_code, known.province_code
            )
            episodes = await episodes_db.episodes_of(session, known.person_id)
            after, episode, event = mmt.enrol(known, episodes, candidate, today=self.clock())
            await storage.save_person(session, before, replace(after, age_band=after.band_on(enrolled_on)))
            await episodes_db.add_episode(session, episode)
            return (episode, after), [event]

        return await self._command(work)

    async def _on_episode(
        self, episode_id: str, change: Callable[[AsyncSession, mmt.Episode], Awaitable[T]]
    ) -> T:
        async def work(session: AsyncSession):
            episode = await episodes_db.get_episode(session, episode_id)
            result = await change(session, episode)
            await self._touch(session, episode.person_id)
            return result, []

        return await self._command(work)

    async def advance_phase(self, *, episode_id: str, to_phase: str, on: date) -> mmt.Episode:
        to = mmt.parse_phase(to_phase.strip().lower())

        async def change(session: AsyncSession, episode: mmt.Episode):
            advanced = mmt.advance(episode, to, on=on, today=self.clock())
            await episodes_db.save_episode(session, advanced)
            return advanced

        return await self._on_episode(episode_id, change)

    async def record_dose(self, *, episode_id: str, taken_on: date, days_covered: int) -> mmt.Episode:
        async def change(session: AsyncSession, episode: mmt.Episode):
            dosed = mmt.record_dose(
                episode, taken_on=taken_on, days_covered=days_covered, rules=self.rules, today=self.clock()
            )
            await episodes_db.add_dose(session, episode_id, taken_on, days_covered)
            await episodes_db.save_episode(session, dosed)
            return dosed

        return await self._on_episode(episode_id, change)

    async def record_breach(self, *, episode_id: str, occurred_on: date, kind: str) -> None:
        kind = kind.strip().lower()

        async def change(session: AsyncSession, episode: mmt.Episode):
            mmt.check_breach(episode, occurred_on=occurred_on, kind=kind, today=self.clock())
            await episodes_db.add_breach(session, episode_id, occurred_on, kind)

        await self._on_episode(episode_id, change)

    async def record_opioid_test(self, *, episode_id: str, tested_on: date, positive: bool) -> None:
        async def change(session: AsyncSession, episode: mmt.Episode):
            mmt.check_test(episode, tested_on=tested_on, today=self.clock())
            await episodes_db.add_test(session, episode_id, tested_on, positive)

        await self._on_episode(episode_id, change)

    async def end_methadone(self, *, episode_id: str, ended_on: date, reason: str) -> mmt.Episode:
        end_reason = mmt.parse_end_reason(reason.strip().lower())

        async def work(session: AsyncSession):
            episode = await episodes_db.get_episode(session, episode_id)
            person = await storage.get_person(session, episode.person_id)
            after, ended, event = mmt.end(
                person,
                episode,
                reason=end_reason,
                ended_on=ended_on,
                breaches=await episodes_db.breach_dates(session, episode_id),
                tests=await episodes_db.tests_of(session, episode_id),
                rules=self.rules,
                today=self.clock(),
            )
            await storage.save_person(session, person, after)
            await episodes_db.save_episode(session, ended)
            return ended, [event]

        return await self._command(work)

    async def detect_dropouts(self, *, as_of: date) -> list[mmt.Episode]:
        """End as dropped out every open episode whose last cover is ``dropout_days`` or more before
        ``as_of``; each in its own transaction, so one failure does not hold back the others."""
        not_in_future(as_of, self.clock(), "as_of")
        async with self.sessions() as session:
            candidates = await episodes_db.open_episodes_covered_before(
                session, as_of - timedelta(days=self.rules.dropout_days)
            )
        dropped = []
        for episode_id in candidates:

            async def work(session: AsyncSession, episode_id: str = episode_id):
                episode = await episodes_db.get_episode(session, episode_id)
                person = await storage.get_person(session, episode.person_id)
                outcome = mmt.drop_out(person, episode, as_of=as_of, rules=self.rules)
                if outcome is None:
                    return None, []
                after, ended, event = outcome
                await storage.save_person(session, person, after)
                await episodes_db.save_episode(session, ended)
                return ended, [event]

            ended = await self._command(work)
            if ended is not None:
                dropped.append(ended)
        return dropped
