"""What every health command shares: one transaction holding the new state and its outbox rows, one
retry when another command changed the same person meanwhile, the relay woken after commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong.audit import AuditLog
from lienthong.cccd import Sex, validate_citizen_id
from lienthong.dated import Dated
from lienthong.dates import not_in_future, today_in_vietnam
from lienthong.ids import uuid7
from lienthong.outbox import add_to_outbox
from lienthong.pseudonym import Pseudonymiser
from lienthong.text import clean_text
from lienthong.units import commune
from services.health import storage
from services.health.domain import methadone as mmt
from services.health.domain.people import Identity, Person
from services.health.event_mapping import DomainEvent, to_envelope

T = TypeVar("T")


@dataclass(frozen=True)
class PersonDetails:
    citizen_id: str
    full_name: str
    date_of_birth: date
    sex: Sex
    commune_code: str


@dataclass
class Commands:
    sessions: async_sessionmaker[AsyncSession]
    pseudonymiser: Pseudonymiser
    agency: str
    laws: Dated[str]
    determination_max_days: int
    rules: mmt.Rules
    clock: Callable[[], date] = today_in_vietnam
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # Every read of personal data is recorded here before it is returned (set by the composition root).
    audit: AuditLog | None = field(default=None, kw_only=True)

    def audit_log(self) -> AuditLog:
        if self.audit is None:
            raise RuntimeError("this service was built without its audit log")
        return self.audit

    async def _command(self, work: Callable[[AsyncSession], Awaitable[tuple[T, Sequence[DomainEvent]]]]) -> T:
        # One retry on a concurrent change of the same person: the second attempt sees the new state.
        for attempt in range(2):
            try:
                async with self.sessions.begin() as session:
                    result, events = await work(session)
                    for event in events:
                        await add_to_outbox(session, to_envelope(event, agency=self.agency))
                break
            except (storage.ConcurrentChange, IntegrityError):
                if attempt == 1:
                    raise storage.concurrent_change_error() from None
        for wake in self.after_commit:
            wake()
        return result

    async def _identified(self, session: AsyncSession, details: PersonDetails) -> Person:
        """The person who came in, known before (perhaps only by pseudonym) or new; identity refreshed."""
        citizen_id = validate_citizen_id(
            details.citizen_id, date_of_birth=details.date_of_birth, sex=details.sex
        )
        name = clean_text(details.full_name, field="full_name", max_length=120)
        unit = commune(details.commune_code)
        not_in_future(details.date_of_birth, self.clock(), "date_of_birth")
        pseudonym = self.pseudonymiser.of(citizen_id)
        known = await storage.person_by_pseudonym(session, pseudonym)
        if known is None:
            known = Person(uuid7(), pseudonym, details.sex.value, unit.code, unit.province_code)
            await storage.add_person(session, known)
        identity = Identity(citizen_id, name, details.date_of_birth)
        return replace(
            known,
            identity=identity,
            sex=details.sex.value,
            commune_code=unit.code,
            province_code=unit.province_code,
        )

    async def _touch(self, session: AsyncSession, person_id: str) -> Person:
        person = await storage.get_person(session, person_id)
        await storage.save_person(session, person, person.touched())
        return person.touched()
