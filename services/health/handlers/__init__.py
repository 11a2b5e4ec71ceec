"""Health use cases: validate, decide in the domain, store state and outbox rows in one transaction, then
wake the relay. Nothing is written and nothing is published when a rule refuses. Every command on a
person's records bumps the person's version, so two commands racing on one person cannot both win."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from lienthong.ids import uuid7
from lienthong.outbox import add_to_outbox
from lienthong.text import clean_text
from lienthong.units import commune
from services.health import storage
from services.health.domain import determination as det
from services.health.domain import methadone as mmt
from services.health.domain.people import Person, law_version, not_before_birth
from services.health.event_mapping import to_envelope
from services.health.handlers.base import PersonDetails
from services.health.handlers.methadone import MethadoneCommands
from services.health.storage import methadone as episodes_db

__all__ = ["Health", "PersonDetails", "RegistryTest"]


@dataclass(frozen=True)
class RegistryTest:
    """A positive test the registry published with ``during_management`` true (Art. 27(1)(a))."""

    test_id: str
    tested_on: date
    pseudonym: str
    sex: str
    age_band: str
    commune_code: str
    province_code: str


class Health(MethadoneCommands):
    # --- facilities and addiction determination -------------------------------------------------

    async def register_facility(self, *, facility_id: str, name: str, licensed: bool) -> det.Facility:
        facility = det.Facility(facility_id, clean_text(name, field="name", max_length=200), licensed)

        async def work(session: AsyncSession):
            await storage.save_facility(session, facility)
            return facility, []

        return await self._command(work)

    async def request_determination(
        self, *, person: PersonDetails, requested_on: date, legal_case: str
    ) -> tuple[det.Determination, Person]:
        legal_case = det.parse_legal_case(legal_case.strip().lower())
        version = law_version(self.laws, requested_on, "requested_on")

        async def work(session: AsyncSession):
            known = await self._identified(session, person)
            before = await storage.person_by_pseudonym(session, known.pseudonym)
            not_before_birth(known, requested_on, "requested_on")
            candidate = det.Determination(
                uuid7(),
                known.person_id,
                legal_case,
                requested_on,
                version,
                known.commune_code,
                known.province_code,
            )
            after, d, event = det.request(known, candidate, today=self.clock())
            await storage.save_person(session, before, replace(after, age_band=after.band_on(requested_on)))
            await storage.add_determination(session, d)
            return (d, after), [event]

        return await self._command(work)

    async def record_criteria(
        self, *, determination_id: str, facility_id: str, observed_on: date, criteria: list[str]
    ) -> det.Determination:
        met = det.parse_criteria(criteria)

        async def work(session: AsyncSession):
            d = await storage.get_determination(session, determination_id)
            facility = await storage.get_facility(session, facility_id)
            recorded = det.record_criteria(
                d, facility, observed_on=observed_on, criteria=met, today=self.clock()
            )
            await self._touch(session, d.person_id)
            await storage.save_determination(session, recorded)
            return recorded, []

        return await self._command(work)

    async def conclude_determination(
        self, *, determination_id: str, facility_id: str, concluded_on: date
    ) -> det.Determination:
        async def work(session: AsyncSession):
            d = await storage.get_determination(session, determination_id)
            facility = await storage.get_facility(session, facility_id)
            person = await storage.get_person(session, d.person_id)
            after, concluded, event = det.conclude(
                person,
                d,
                facility,
                concluded_on=concluded_on,
                max_days=self.determination_max_days,
                today=self.clock(),
            )
            await storage.save_person(session, person, after)
            await storage.save_determination(session, concluded)
            return concluded, [event]

        return await self._command(work)

    async def pending_determinations(self, *, commune_code: str) -> list[tuple[det.Determination, str]]:
        code = commune(commune_code).code
        async with self.sessions() as session:
            return await storage.pending_determinations(session, code)

    async def requests_from_registry(self, session: AsyncSession, tests: Sequence[RegistryTest]) -> None:
        """Art. 27(1)(a): open a pending request per test, in the consumer's transaction. Keyed by the
        registry's test id, so a replayed or re-sent event never opens a second one."""
        known = await storage.known_test_ids(session, [t.test_id for t in tests])
        for test in tests:
            if test.test_id in known:
                continue
            known.add(test.test_id)
            person = await storage.person_by_pseudonym(session, test.pseudonym)
            if person is None:
                person = Person(
                    uuid7(),
                    test.pseudonym,
                    test.sex,
                    test.commune_code,
                    test.province_code,
                    age_band=test.age_band,
                )
                await storage.add_person(session, person)
            candidate = det.Determination(
                uuid7(),
                person.person_id,
                "police_a",
                test.tested_on,
                self.laws.at(test.tested_on),
                test.commune_code,
                test.province_code,
                source_test_id=test.test_id,
            )
            # The registry's event is the fact: its date is not re-checked against today's clock.
            after = person.touched()
            if after.identity is None:
                after = replace(after, age_band=test.age_band)
            await storage.save_person(session, person, after)
            await storage.add_determination(session, candidate)
            event = det.DeterminationRequested(after, candidate)
            await add_to_outbox(session, to_envelope(event, agency=self.agency))

    async def read_person_health(
        self, *, pseudonym: str, officer_id: str, purpose: str
    ) -> tuple[Person, list[det.Determination], list[mmt.Episode]]:
        """Personal data: the read is recorded in the audit chain, in the same transaction, or not returned."""
        async with self.audit_log().transaction() as session:
            person = await storage.person_by_pseudonym(session, pseudonym)
            if person is None:
                raise storage.person_not_found(pseudonym)
            determinations = await storage.determinations_of(session, person.person_id)
            episodes = await episodes_db.episodes_of(session, person.person_id)
            await self.audit_log().record(
                session,
                officer_id=officer_id,
                purpose=purpose,
                subject=pseudonym,
                record_id=person.person_id,
                fields="citizen_id,full_name,date_of_birth,sex,commune_code,determinations,methadone_episodes",
            )
        return person, determinations, episodes
