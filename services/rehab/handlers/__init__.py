"""Rehab use cases: validate, decide in the domain, store state and outbox rows in one transaction, then
wake the relay. Nothing is written and nothing is published when a rule refuses. Every command on a
person's records bumps the person's version, so two commands racing on one person cannot both win."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from lienthong.dates import age_on
from lienthong.ids import uuid7
from lienthong.outbox import add_to_outbox
from lienthong.text import clean_text
from lienthong.units import commune
from services.rehab import storage
from services.rehab.domain import admissions as adm
from services.rehab.domain.facilities import Facility, check_facility, parse_type
from services.rehab.domain.people import MINOR_BANDS, Person, in_force
from services.rehab.domain.terms import parse_kind
from services.rehab.event_mapping import to_envelope
from services.rehab.handlers.base import PersonDetails
from services.rehab.handlers.progress import ProgressCommands
from services.rehab.storage import episodes as admissions_db

__all__ = ["CourtDecision", "PersonDetails", "Rehab"]


@dataclass(frozen=True)
class CourtDecision:
    """A granted compulsory-rehab decision as the registry published it."""

    dossier_id: str
    decided_on: date
    term_months: int
    facility_code: str
    minor: bool
    law_version: str
    pseudonym: str
    sex: str
    age_band: str
    commune_code: str
    province_code: str


class Rehab(ProgressCommands):
    # --- facilities -------------------------------------------------------------------------------

    async def register_facility(
        self,
        *,
        code: str,
        name: str,
        public: bool,
        operator: str,
        capacity: int,
        type: str,
        commune_code: str,
    ) -> Facility:
        unit = commune(commune_code)
        facility = check_facility(
            Facility(
                code=code,
                name=clean_text(name, field="name", max_length=200),
                public=public,
                operator=clean_text(operator, field="operator", max_length=200),
                capacity=capacity,
                type=parse_type(type.strip().lower()),
                commune_code=unit.code,
                province_code=unit.province_code,
            )
        )

        async def work(session: AsyncSession):
            await storage.save_facility(session, facility)
            return facility, []

        return await self._command(work)

    async def list_facilities(self, *, province_code: str) -> list[tuple[Facility, int]]:
        async with self.sessions() as session:
            return await storage.list_facilities(session, province_code or None)

    # --- admissions -------------------------------------------------------------------------------

    async def admit(
        self,
        *,
        person: PersonDetails,
        kind: str,
        facility_code: str,
        admitted_on: date,
        term_months: int,
        temporary_stay_days: int,
    ) -> tuple[adm.Admission, Person]:
        rehab_kind = parse_kind(kind.strip().lower())
        version = in_force(self.laws, admitted_on, "admitted_on")
        in_force(self.operators, admitted_on, "admitted_on")

        async def work(session: AsyncSession):
            stored, known = await self._identified(session, person)
            facility = await storage.get_facility(session, facility_code) if facility_code else None
            occupancy = await storage.occupancy(session, facility_code) if facility_code else 0
            candidate = adm.Admission(
                uuid7(),
                known.person_id,
                rehab_kind,
                version,
                term_months,
                age_on(person.date_of_birth, admitted_on) < 18,
                known.commune_code,
                known.province_code,
                facility_code=facility_code or None,
                admitted_on=admitted_on,
                temporary_stay_days=temporary_stay_days,
            )
            others = await admissions_db.admissions_of(session, known.person_id)
            after, admission, event = adm.admit(
                known, others, candidate, facility, occupancy, rules=self.rules, today=self.clock()
            )
            await storage.save_person(session, stored, replace(after, age_band=after.band_on(admitted_on)))
            await admissions_db.add_admission(session, admission)
            await admissions_db.add_stage_change(session, admission.admission_id, "intake", admitted_on)
            return (admission, after), [event]

        return await self._command(work)

    async def admit_expected(
        self, *, admission_id: str, admitted_on: date, temporary_stay_days: int
    ) -> tuple[adm.Admission, Person]:
        async def work(session: AsyncSession):
            admission = await admissions_db.get_admission(session, admission_id)
            person = await storage.get_person(session, admission.person_id)
            facility = await storage.find_facility(session, admission.facility_code)
            occupancy = await storage.occupancy(session, admission.facility_code)
            others = await admissions_db.admissions_of(session, person.person_id)
            after, admitted, event = adm.admit_expected(
                person,
                admission,
                others,
                facility,
                occupancy,
                admitted_on=admitted_on,
                extra_stay_days=temporary_stay_days,
                today=self.clock(),
            )
            await storage.save_person(session, person, after)
            await admissions_db.save_admission(session, admitted)
            await admissions_db.add_stage_change(session, admission_id, "intake", admitted_on)
            return (admitted, after), [event]

        return await self._command(work)

    async def expected_admissions(self, *, facility_code: str) -> list[tuple[adm.Admission, str]]:
        async with self.sessions() as session:
            return await admissions_db.expected(session, facility_code or None)

    async def record_temporary_stay(
        self, *, admission_id: str, start_on: date, end_on: date
    ) -> adm.Admission:
        in_force(self.laws, start_on, "start_on")

        async def work(session: AsyncSession):
            admission = await admissions_db.get_admission(session, admission_id)
            stays = await admissions_db.stays_of(session, admission_id)
            stayed = adm.record_temporary_stay(
                admission, stays, start_on=start_on, end_on=end_on, today=self.clock()
            )
            await self._touch(session, admission.person_id)
            await admissions_db.add_stay(session, admission_id, start_on, end_on)
            await admissions_db.save_admission(session, stayed)
            return stayed, []

        return await self._command(work)

    # --- the registry's court decisions -----------------------------------------------------------

    async def decisions_from_registry(
        self, session: AsyncSession, decisions: Sequence[CourtDecision]
    ) -> None:
        """Expect each granted person at the named facility, in the consumer's transaction. Keyed by the
        registry's dossier id, so a replayed or re-sent decision never expects the person twice."""
        known = await admissions_db.known_dossier_ids(session, [d.dossier_id for d in decisions])
        for decision in decisions:
            if decision.dossier_id in known:
                continue
            known.add(decision.dossier_id)
            person = await storage.person_by_pseudonym(session, decision.pseudonym)
            if person is None:
                person = Person(
                    uuid7(),
                    decision.pseudonym,
                    decision.sex,
                    decision.commune_code,
                    decision.province_code,
                    age_band=decision.age_band,
                )
                await storage.add_person(session, person)
            facility = await storage.find_facility(session, decision.facility_code)
            candidate = adm.Admission(
                uuid7(),
                person.person_id,
                adm.Kind.COMPULSORY,
                decision.law_version,
                decision.term_months,
                decision.minor or decision.age_band in MINOR_BANDS,
                decision.commune_code,
                decision.province_code,
                facility_code=decision.facility_code,
                facility_known=facility is not None,
                dossier_id=decision.dossier_id,
                court_decided_on=decision.decided_on,
            )
            after, admission, event = adm.expect(person, candidate)
            if after.identity is None:
                after = replace(after, age_band=decision.age_band)
            await storage.save_person(session, person, after)
            await admissions_db.add_admission(session, admission)
            await add_to_outbox(session, to_envelope(replace(event, person=after), operators=self.operators))

    # --- personal read ----------------------------------------------------------------------------

    async def read_admission(
        self, *, admission_id: str, officer_id: str, purpose: str
    ) -> tuple[adm.Admission, Person, list[str]]:
        """Personal data: the read is recorded in the audit chain, in the same transaction, or not returned."""
        async with self.audit_log().transaction() as session:
            admission = await admissions_db.get_admission(session, admission_id)
            person = await storage.get_person(session, admission.person_id)
            trades = await admissions_db.trades_of(session, admission_id)
            await self.audit_log().record(
                session,
                officer_id=officer_id,
                purpose=purpose,
                subject=person.pseudonym,
                record_id=admission_id,
                fields="citizen_id,full_name,date_of_birth,sex,admission,trades",
            )
        return admission, person, trades
