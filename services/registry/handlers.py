"""Registry use cases: validate at the edge, decide in the domain, store state and outbox rows in one
transaction, then wake the relay. Nothing is written and nothing is published when a rule refuses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong.audit import AuditLog
from lienthong.cccd import Sex, validate_citizen_id
from lienthong.dates import VIETNAM_TIME, today_in_vietnam
from lienthong.ids import uuid7
from lienthong.outbox import add_to_outbox
from lienthong.pseudonym import Pseudonymiser
from lienthong.text import clean_text
from lienthong.units import commune
from services.registry import domain, dossier_rules, proposal_rules, storage
from services.registry.event_mapping import DomainEvent, to_envelope

T = TypeVar("T")


@dataclass
class Registry:
    sessions: async_sessionmaker[AsyncSession]
    pseudonymiser: Pseudonymiser
    agency: str
    clock: Callable[[], date] = today_in_vietnam
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # Every read of personal data is recorded here before it is returned (set by the composition root).
    audit: AuditLog | None = field(default=None, kw_only=True)

    def audit_log(self) -> AuditLog:
        if self.audit is None:
            raise RuntimeError("this service was built without its audit log")
        return self.audit

    async def _command(self, work: Callable[[AsyncSession], Awaitable[tuple[T, DomainEvent | None]]]) -> T:
        # One retry on a concurrent change of the same person: the second attempt sees the new state.
        for attempt in range(2):
            try:
                async with self.sessions.begin() as session:
                    result, event = await work(session)
                    if event is not None:  # e.g. a rejected proposal changes no one's status
                        await add_to_outbox(session, to_envelope(event, agency=self.agency))
                break
            except storage.ConcurrentChange:
                if attempt == 1:
                    raise storage.concurrent_change_error() from None
        for wake in self.after_commit:
            wake()
        return result

    async def register_person(
        self, *, citizen_id: str, full_name: str, date_of_birth: date, sex: Sex, commune_code: str
    ) -> domain.Person:
        citizen_id = validate_citizen_id(citizen_id, date_of_birth=date_of_birth, sex=sex)
        name = clean_text(full_name, field="full_name", max_length=120)
        unit = commune(commune_code)
        candidate = domain.Person(
            person_id=uuid7(),
            citizen_id=citizen_id,
            full_name=name,
            date_of_birth=date_of_birth,
            sex=sex,
            commune_code=unit.code,
            province_code=unit.province_code,
            pseudonym=self.pseudonymiser.of(citizen_id),
            registered_on=date_of_birth,
        )

        async def work(session: AsyncSession):
            person, event = domain.register(candidate, today=self.clock())
            await storage.add_person(session, person)
            return person, event

        return await self._command(work)

    async def record_positive_test(
        self, *, person_id: str, tested_on: date, substance: str, place: str
    ) -> domain.DrugTest:
        place = clean_text(place, field="place", max_length=200, required=False)
        substance = substance.strip().lower()

        async def work(session: AsyncSession):
            person = await storage.get_person(session, person_id)
            person_after, test, event = domain.record_positive_test(
                person,
                await storage.managements_of(session, person_id),
                test_id=uuid7(),
                tested_on=tested_on,
                substance=substance,
                place=place,
                today=self.clock(),
            )
            await storage.save_person_version(session, person, person_after)
            await storage.add_test(session, test)
            return test, event

        return await self._command(work)

    async def issue_management_decision(
        self, *, person_id: str, decision_number: str, decided_on: date
    ) -> domain.Management:
        number = clean_text(decision_number, field="decision_number", max_length=60)

        async def work(session: AsyncSession):
            person = await storage.get_person(session, person_id)
            person_after, management, event = domain.issue_management_decision(
                person,
                await storage.tests_of(session, person_id),
                await storage.managements_of(session, person_id),
                management_id=uuid7(),
                decision_number=number,
                decided_on=decided_on,
                today=self.clock(),
            )
            await storage.save_person_version(session, person, person_after)
            await storage.add_management(session, management)
            return management, event

        return await self._command(work)

    async def end_management(self, *, management_id: str, ended_on: date, reason: str) -> domain.Management:
        async def work(session: AsyncSession):
            management = await storage.get_management(session, management_id)
            person = await storage.get_person(session, management.person_id)
            person_after, ended, event = domain.end_management(
                person, management, ended_on=ended_on, reason=reason.strip().lower(), today=self.clock()
            )
            await storage.save_person_version(session, person, person_after)
            await storage.save_management_end(session, ended)
            return ended, event

        return await self._command(work)

    async def read_person(
        self,
        *,
        person_id: str | None = None,
        pseudonym: str | None = None,
        officer_id: str,
        purpose: str,
        caller_department: str | None = None,
    ) -> tuple[domain.Person, list[domain.DrugTest], list[domain.Management]]:
        """Personal data: the read is recorded in the audit chain, in the same transaction, or not returned."""
        async with self.audit_log().transaction() as session:
            if pseudonym is not None:
                found = await storage.find_person_by_pseudonym(session, pseudonym)
                if found is None:
                    raise storage.person_not_found_by_pseudonym(pseudonym)
                person_id = found.person_id
            person = await storage.get_person(session, person_id)
            tests = await storage.tests_of(session, person_id)
            managements = await storage.managements_of(session, person_id)
            await self.audit_log().record(
                session,
                officer_id=officer_id,
                purpose=purpose,
                subject=person.pseudonym,
                record_id=person_id,
                fields="citizen_id,full_name,date_of_birth,sex,commune_code,drug_tests,managements",
                caller_department=caller_department or "",
            )
        return person, tests, managements

    async def open_dossier(self, *, person_id: str, ground: str, opened_on: date) -> dossier_rules.Dossier:
        async def work(session: AsyncSession):
            person = await storage.get_person(session, person_id)
            dossier = dossier_rules.open_dossier(
                dossier_id=uuid7(),
                person_id=person_id,
                date_of_birth=person.date_of_birth,
                ground=ground.strip().lower(),
                opened_on=opened_on,
                existing=await storage.dossiers_of(session, person_id),
                today=self.clock(),
            )
            await storage.save_dossier(session, dossier, new=True)
            return dossier, await self._dossier_event(session, person, dossier)

        return await self._command(work)

    async def change_dossier(
        self, dossier_id: str, change: Callable[[dossier_rules.Dossier, date], dossier_rules.Dossier]
    ) -> dossier_rules.Dossier:
        async def work(session: AsyncSession):
            dossier = change(await storage.get_dossier(session, dossier_id), self.clock())
            person = await storage.get_person(session, dossier.person_id)
            await storage.save_dossier(session, dossier, new=False)
            return dossier, await self._dossier_event(session, person, dossier)

        return await self._command(work)

    async def _dossier_event(
        self, session: AsyncSession, person: domain.Person, dossier: dossier_rules.Dossier
    ) -> dossier_rules.DossierChanged:
        person_after = replace(person, version=person.version + 1)
        await storage.save_person_version(session, person, person_after)
        return dossier_rules.DossierChanged(person_after, dossier)

    async def record_move(
        self, *, person_id: str, commune_code: str, moved_on: date, reported_at: datetime | None
    ) -> domain.PersonMoved:
        unit = commune(commune_code, field="new_commune_code")
        reported = reported_at or datetime.now(VIETNAM_TIME)

        async def work(session: AsyncSession):
            person = await storage.get_person(session, person_id)
            moved, event = domain.record_move(
                person,
                commune_code=unit.code,
                province_code=unit.province_code,
                moved_on=moved_on,
                reported_at=reported,
                law_version=domain.law_in_force(moved_on, "moved_on"),
                today=self.clock(),
            )
            await storage.save_person_residence(session, person, moved)
            return event, event

        return await self._command(work)

    async def propose_list_change(
        self,
        *,
        change: str,
        person_id: str,
        proposed_by: str,
        proposed_on: date,
        legal_basis: str,
        management_id: str | None,
        end_reason: str | None,
    ) -> proposal_rules.Proposal:
        proposed_by = clean_text(proposed_by, field="proposed_by", max_length=100)
        legal_basis = clean_text(legal_basis, field="legal_basis", max_length=300)

        async def work(session: AsyncSession):
            await storage.get_person(session, person_id)
            if management_id:
                management = await storage.get_management(session, management_id)
                if management.person_id != person_id:
                    raise storage.management_of_someone_else(management_id)
            proposal = proposal_rules.propose(
                proposal_id=uuid7(),
                change=change.strip().lower(),
                person_id=person_id,
                proposed_by=proposed_by,
                proposed_on=proposed_on,
                legal_basis=legal_basis,
                pending=await storage.proposals_of(session, person_id),
                management_id=management_id or None,
                end_reason=(end_reason or "").strip().lower() or None,
                today=self.clock(),
            )
            await storage.save_proposal(session, proposal, new=True)
            return proposal, None

        return await self._command(work)

    async def review_list_change(
        self,
        *,
        proposal_id: str,
        approve: bool,
        reviewed_by: str,
        reviewed_on: date,
        note: str,
        decision_number: str,
    ) -> tuple[proposal_rules.Proposal, domain.Management | None]:
        """Approval acts at once: an approved addition is the management decision, an approved removal ends
        the term, in the same transaction as the approval."""
        reviewed_by = clean_text(reviewed_by, field="reviewed_by", max_length=100)
        note = clean_text(note, field="note", max_length=500, required=False)
        number = clean_text(decision_number, field="decision_number", max_length=60, required=False) or None

        async def work(session: AsyncSession):
            today = self.clock()
            proposal = proposal_rules.review(
                await storage.get_proposal(session, proposal_id),
                approve=approve,
                reviewed_by=reviewed_by,
                reviewed_on=reviewed_on,
                note=note,
                decision_number=number,
                today=today,
            )
            await storage.save_proposal(session, proposal, new=False)
            if proposal.state is not proposal_rules.State.APPROVED:
                return (proposal, None), None
            person = await storage.get_person(session, proposal.person_id)
            if proposal.change is proposal_rules.Change.ADD:
                person_after, management, event = domain.issue_management_decision(
                    person,
                    await storage.tests_of(session, person.person_id),
                    await storage.managements_of(session, person.person_id),
                    management_id=uuid7(),
                    decision_number=number,
                    decided_on=reviewed_on,
                    today=today,
                )
                await storage.add_management(session, management)
            else:
                person_after, management, event = domain.end_management(
                    person,
                    await storage.get_management(session, proposal.management_id),
                    ended_on=reviewed_on,
                    reason=proposal.end_reason,
                    today=today,
                )
                await storage.save_management_end(session, management)
            await storage.save_person_version(session, person, person_after)
            return (proposal, management), event

        return await self._command(work)

    async def pending_proposals(self, *, commune_code: str | None) -> list[proposal_rules.Proposal]:
        async with self.sessions() as session:
            return await storage.pending_proposals(session, commune_code)
