"""Use cases during an admission: stages, training, term reduction, discharge and return. Training,
discharge and return are published; stage changes and reductions stay in rehab's database."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.rehab import storage
from services.rehab.domain import progress
from services.rehab.domain.admissions import Admission
from services.rehab.domain.terms import parse_reason, parse_stage
from services.rehab.handlers.base import Commands
from services.rehab.storage import episodes as admissions_db


class ProgressCommands(Commands):
    async def advance_stage(self, *, admission_id: str, to_stage: str, on: date) -> Admission:
        to = parse_stage(to_stage.strip().lower())

        async def work(session: AsyncSession):
            admission = await admissions_db.get_admission(session, admission_id)
            advanced = progress.advance(admission, to, on=on, today=self.clock())
            await self._touch(session, admission.person_id)
            await admissions_db.save_admission(session, advanced)
            await admissions_db.add_stage_change(session, admission_id, to.value, on)
            return advanced, []

        return await self._command(work)

    async def record_training(self, *, admission_id: str, given_on: date, trade: str) -> None:
        async def work(session: AsyncSession):
            admission = await admissions_db.get_admission(session, admission_id)
            person = await storage.get_person(session, admission.person_id)
            after, event = progress.give_training(
                person, admission, given_on=given_on, trade=trade, today=self.clock()
            )
            await storage.save_person(session, person, after)
            await admissions_db.add_training(session, admission_id, given_on, trade)
            return None, [event]

        await self._command(work)

    async def reduce_term(self, *, admission_id: str, months: int, decided_on: date) -> Admission:
        async def work(session: AsyncSession):
            admission = await admissions_db.get_admission(session, admission_id)
            reduced = progress.reduce_term(
                admission, months=months, decided_on=decided_on, rules=self.rules, today=self.clock()
            )
            await self._touch(session, admission.person_id)
            await admissions_db.save_admission(session, reduced)
            return reduced, []

        return await self._command(work)

    async def discharge(self, *, admission_id: str, discharged_on: date, reason: str) -> Admission:
        why = parse_reason(reason.strip().lower())

        async def work(session: AsyncSession):
            admission = await admissions_db.get_admission(session, admission_id)
            person = await storage.get_person(session, admission.person_id)
            after, ended, event = progress.discharge(
                person, admission, reason=why, on=discharged_on, today=self.clock()
            )
            await storage.save_person(session, person, after)
            await admissions_db.save_admission(session, ended)
            return ended, [event]

        return await self._command(work)

    async def record_return(self, *, admission_id: str, returned_on: date) -> Admission:
        async def work(session: AsyncSession):
            admission = await admissions_db.get_admission(session, admission_id)
            person = await storage.get_person(session, admission.person_id)
            facility = None
            occupancy = 0
            if admission.facility_code:
                facility = await storage.find_facility(session, admission.facility_code)
                occupancy = await storage.occupancy(session, admission.facility_code)
            after, back, event = progress.record_return(
                person, admission, facility, occupancy, returned_on=returned_on, today=self.clock()
            )
            await storage.save_person(session, person, after)
            await admissions_db.save_admission(session, back)
            return back, [event]

        return await self._command(work)
