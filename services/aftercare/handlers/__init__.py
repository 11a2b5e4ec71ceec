"""Aftercare use cases: validate, decide in the domain, store state and outbox rows in one transaction, then
wake the relay. Nothing is written and nothing is published when a rule refuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from lienthong.ids import uuid7
from lienthong.text import clean_text
from lienthong.units import commune
from services.aftercare import storage
from services.aftercare.domain import cases as dom
from services.aftercare.domain import models
from services.aftercare.domain import relapse as rel
from services.aftercare.domain.common import Person, parse_code
from services.aftercare.handlers.base import Commands

__all__ = ["Aftercare", "CaseRecord"]

CaseRecord = tuple[dom.Case, str, list[tuple[date, str]], list[rel.Relapse]]


class Aftercare(Commands):
    async def _on_case(self, case_id: str, change):
        """Load the case and its person, apply ``change`` (pure), store the person's new version."""

        async def work(session: AsyncSession):
            case = await storage.get_case(session, case_id)
            person = await storage.get_person(session, case.person_id)
            result, after, events = await change(session, person, case)
            await storage.save_person(session, person, after)
            return result, events

        return await self._command(work)

    async def place_case(
        self,
        *,
        case_id: str,
        decided_on: date,
        decision_number: str,
        caretaker_kind: str,
        caretaker_name: str,
    ) -> dom.Case:
        self.act_date(decided_on, "decided_on")
        number = clean_text(decision_number, field="decision_number", max_length=50)
        name = clean_text(caretaker_name, field="caretaker_name", max_length=200)

        async def change(session, person, case):
            after, placed, event = dom.place(
                person,
                case,
                decided_on=decided_on,
                decision_number=number,
                caretaker_kind=caretaker_kind,
                caretaker_name=name,
                today=self.clock(),
            )
            await storage.save_case(session, placed)
            return placed, after, [event]

        return await self._on_case(case_id, change)

    async def record_support(self, *, case_id: str, given_on: date, kind: str) -> None:
        self.act_date(given_on, "given_on")

        async def change(session, person, case):
            after, event = dom.give_support(person, case, given_on=given_on, kind=kind, today=self.clock())
            await storage.add_support(session, case_id, given_on, event.kind)
            return None, after, [event]

        await self._on_case(case_id, change)

    async def suspect_relapse(self, *, case_id: str, suspected_on: date) -> None:
        """Recorded in aftercare only: a suspicion is not a relapse until a determination confirms it."""

        async def change(session, person, case):
            relapse = rel.suspect_relapse(
                case, relapse_id=uuid7(), suspected_on=suspected_on, today=self.clock()
            )
            await storage.save_relapse(session, relapse)
            return None, person.touched(), []

        await self._on_case(case_id, change)

    async def confirm_relapse(self, *, case_id: str, determined_on: date) -> bool:
        self.act_date(determined_on, "determined_on")

        async def change(session, person, case):
            after, relapse, event = rel.confirm_relapse(
                person,
                case,
                await storage.relapses_of(session, case_id),
                relapse_id=uuid7(),
                determined_on=determined_on,
                today=self.clock(),
            )
            await storage.save_relapse(session, relapse)
            return case.adult, after, [event]

        return await self._on_case(case_id, change)

    async def issue_certificate(self, *, case_id: str, issued_on: date) -> None:
        self.act_date(issued_on, "issued_on")

        async def change(session, person, case):
            after, closed, event = dom.certify(person, case, issued_on=issued_on, today=self.clock())
            await storage.save_case(session, closed)
            return None, after, [event]

        await self._on_case(case_id, change)

    async def close_case(self, *, case_id: str, closed_on: date, reason: str) -> None:
        self.act_date(closed_on, "closed_on")

        async def change(session, person, case):
            after, closed, event = dom.close(
                person, case, reason=reason, closed_on=closed_on, today=self.clock()
            )
            await storage.save_case(session, closed)
            return None, after, [event]

        await self._on_case(case_id, change)

    async def transfer(self, *, case_id: str, moved_on: date, new_commune_code: str) -> dom.Case:
        version = self.act_date(moved_on, "moved_on")
        unit = commune(new_commune_code, field="new_commune_code")

        async def change(session, person, case):
            after, closed, opened, events = dom.transfer(
                person,
                case,
                new_case_id=uuid7(),
                moved_on=moved_on,
                commune_code=unit.code,
                province_code=unit.province_code,
                law_version=version,
                today=self.clock(),
            )
            await storage.save_case(session, closed)
            await storage.add_case(session, opened)
            return opened, after, events

        return await self._on_case(case_id, change)

    async def record_model(self, *, commune_code: str, on: date, status: str) -> models.ModelChanged:
        unit = commune(commune_code)
        status = parse_code(status, models.STATUSES, "status", "Trạng thái mô hình", "Model status")
        self.act_date(on, "on")

        async def work(session: AsyncSession):
            history = await storage.model_history(session, unit.code)
            event = models.change(
                history,
                commune_code=unit.code,
                province_code=unit.province_code,
                on=on,
                status=status,
                today=self.clock(),
            )
            await storage.add_model_change(session, unit.code, unit.province_code, on, status)
            return event, [event]

        return await self._command(work)

    async def pending_placements(
        self, *, as_of: date, commune_code: str
    ) -> list[tuple[dom.Case, str, int, bool]]:
        code = commune(commune_code).code if commune_code else None
        async with self.sessions() as session:
            found = await storage.pending_placements(session, code)
        listed = []
        for case, pseudonym in found:
            days, alert = dom.waiting(case, as_of, self.placement_alert_days)
            listed.append((case, pseudonym, days, alert))
        return listed

    async def due_certificates(self, *, as_of: date, commune_code: str) -> list[tuple[dom.Case, str]]:
        code = commune(commune_code).code if commune_code else None
        async with self.sessions() as session:
            return await storage.due_certificates(session, as_of, code)

    async def open_from_completions(
        self, session: AsyncSession, completions: Sequence[dom.Completion]
    ) -> None:
        """Open a case pending placement per completion, in the consumer's transaction. Keyed by the source's
        admission or episode id, so a replayed or re-sent event never opens a second case."""
        known = await storage.known_source_ids(session, [c.source_id for c in completions])
        for done in completions:
            if done.source_id in known:
                continue
            known.add(done.source_id)
            person = await storage.person_by_pseudonym(session, done.pseudonym)
            if person is None:
                person = Person(uuid7(), done.pseudonym, done.sex)
                await storage.add_person(session, person)
            case = dom.Case(
                case_id=uuid7(),
                person_id=person.person_id,
                source=done.source,
                source_kind=done.source_kind,
                completed_on=done.completed_on,
                age_band=done.age_band,
                term_months=self.terms.months(done.source_kind, done.age_band),
                commune_code=done.commune_code,
                province_code=done.province_code,
                law_version=self.laws.at(done.completed_on),
                opened_on=done.completed_on,
                source_id=done.source_id,
            )
            # The other department's event is the fact: its date is not re-checked against today's clock.
            after, case, event = dom.open_case(replace(person, sex=done.sex, age_band=done.age_band), case)
            await storage.save_person(session, person, after)
            await storage.add_case(session, case)
            await self.outbox(session, [event])

    async def read_case(self, *, case_id: str, officer_id: str, purpose: str) -> CaseRecord:
        """Personal data: the read is recorded in the audit chain, in the same transaction, or not returned."""
        async with self.audit_log().transaction() as session:
            case = await storage.get_case(session, case_id)
            person = await storage.get_person(session, case.person_id)
            support = await storage.supports_of(session, case_id)
            relapses = await storage.relapses_of(session, case_id)
            await self.audit_log().record(
                session,
                officer_id=officer_id,
                purpose=purpose,
                subject=person.pseudonym,
                record_id=case_id,
                fields="decision_number,caretaker_name,caretaker_kind,supports,relapses,commune_code",
            )
        return case, person.pseudonym, support, relapses
