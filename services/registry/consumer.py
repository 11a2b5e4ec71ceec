"""What the registry does with the health department's events (domain.md §4).

- determined addicted → the running management term ends (reason ``addicted``) and the person is flagged
  for rehab registration;
- methadone stopped voluntarily or terminated for violation → flagged as a ground for a compulsory-rehab
  dossier;
- (from aftercare) an adult's relapse confirmed → flagged as a ground for a compulsory-rehab dossier.

Other health events are acknowledged and ignored: the registry has no business with them. A person the
registry has never registered (someone who went to health on their own) is flagged by pseudonym only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong.consumer import Delivered
from lienthong.dates import parse_date, today_in_vietnam
from lienthong.envelope import BadEvent, Envelope
from lienthong.errors import InvalidInput
from lienthong.outbox import add_to_outbox
from lienthong_contracts.aftercare.v1 import events_pb2 as aftercare_events
from lienthong_contracts.health.v1 import events_pb2 as health_events
from services.registry import domain, storage
from services.registry.event_mapping import to_envelope

CONSUMER_NAME = "registry"
SOURCE_STREAM = "HEALTH"
FILTER = "health.>"
# Aftercare: only a confirmed relapse concerns the registry.
AFTERCARE_CONSUMER = "registry-aftercare"
AFTERCARE_STREAM = "AFTERCARE"
AFTERCARE_FILTER = "aftercare.relapse.confirmed.v1"
_PSEUDONYM = re.compile(r"[0-9]{1,6}:[0-9a-f]{32}", re.ASCII)


@dataclass(frozen=True)
class DeterminedAddicted:
    pseudonym: str
    concluded_on: date


@dataclass(frozen=True)
class AdultRelapsed:
    pseudonym: str
    determined_on: date


@dataclass(frozen=True)
class MethadoneStopped:
    pseudonym: str
    ended_on: date
    reason: str


def _checked(envelope: Envelope, message, date_field: str) -> tuple[str, date]:
    try:
        message.ParseFromString(envelope.payload)
    except DecodeError as exc:
        raise BadEvent(f"payload is not a {type(message).__name__}: {exc}") from None
    pseudonym = message.person.pseudonym
    if not _PSEUDONYM.fullmatch(pseudonym) or pseudonym != envelope.person:
        raise BadEvent("person.pseudonym is malformed or does not match ce-subject")
    try:
        day = parse_date(getattr(message, date_field), field=date_field)
    except InvalidInput as exc:
        raise BadEvent(exc.en) from None
    return pseudonym, day


def decode(envelope: Envelope) -> DeterminedAddicted | MethadoneStopped | AdultRelapsed | None:
    if envelope.subject == AFTERCARE_FILTER:
        message = aftercare_events.RelapseConfirmed()
        pseudonym, day = _checked(envelope, message, "determined_on")
        return AdultRelapsed(pseudonym, day) if message.adult else None
    if not envelope.subject.startswith("health."):
        raise BadEvent(f"subject {envelope.subject} is not a health event")
    if envelope.subject == "health.determination.concluded.v1":
        message = health_events.DeterminationConcluded()
        pseudonym, day = _checked(envelope, message, "concluded_on")
        if message.result == health_events.DETERMINATION_RESULT_ADDICTED:
            return DeterminedAddicted(pseudonym, day)
        return None
    if envelope.subject == "health.methadone.ended.v1":
        message = health_events.MethadoneEnded()
        pseudonym, day = _checked(envelope, message, "ended_on")
        if message.reason in domain.METHADONE_COMPULSORY_GROUNDS:
            return MethadoneStopped(pseudonym, day, message.reason)
        return None
    return None  # a health event the registry has no business with


@dataclass
class DepartmentEvents:
    agency: str
    clock: Callable[[], date] = today_in_vietnam

    async def apply(self, session: AsyncSession, batch: Sequence[Delivered]) -> None:
        for delivered in batch:
            match delivered.event:
                case DeterminedAddicted(pseudonym, concluded_on):
                    await storage.raise_flag(
                        session,
                        domain.Flag(
                            pseudonym,
                            domain.FlagKind.REHAB_REGISTRATION,
                            concluded_on,
                            delivered.envelope.event_id,
                        ),
                    )
                    await self._end_management(session, pseudonym, concluded_on)
                case AdultRelapsed(pseudonym, determined_on):
                    await storage.raise_flag(
                        session,
                        domain.Flag(
                            pseudonym,
                            domain.FlagKind.COMPULSORY_GROUND_RELAPSE,
                            determined_on,
                            delivered.envelope.event_id,
                        ),
                    )
                case MethadoneStopped(pseudonym, ended_on, _):
                    await storage.raise_flag(
                        session,
                        domain.Flag(
                            pseudonym,
                            domain.FlagKind.COMPULSORY_GROUND_METHADONE,
                            ended_on,
                            delivered.envelope.event_id,
                        ),
                    )

    async def _end_management(self, session: AsyncSession, pseudonym: str, concluded_on: date) -> None:
        person = await storage.find_person_by_pseudonym(session, pseudonym)
        if person is None:
            return
        decided = domain.end_on_determined_addicted(
            person,
            await storage.managements_of(session, person.person_id),
            concluded_on=concluded_on,
            today=self.clock(),
        )
        if decided is None:
            return
        person_after, ended, event = decided
        await storage.save_person_version(session, person, person_after)
        await storage.save_management_end(session, ended)
        await add_to_outbox(session, to_envelope(event, agency=self.agency))
