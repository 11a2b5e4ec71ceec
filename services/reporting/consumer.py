"""Registry events into reporting's read model.

``decode`` is pure: it maps an envelope to a checked fact or raises ``BadEvent`` with the reason, and the
batch consumer dead-letters it. ``apply`` writes one batch of new events in the consumer's transaction.
Nothing but the event is trusted: the unit is the commune the event carries, never a later address.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from google.protobuf.message import DecodeError, Message
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong import units
from lienthong.consumer import Delivered, InvariantBroken
from lienthong.dates import parse_date
from lienthong.envelope import BadEvent, Envelope
from lienthong.errors import InvalidInput
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import events_pb2
from services.reporting import storage

CONSUMER_NAME = "reporting"

_PSEUDONYM = re.compile(r"[0-9]{1,6}:[0-9a-f]{32}", re.ASCII)
_CODE = re.compile(r"[a-z][a-z0-9_]{0,49}", re.ASCII)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", re.ASCII)
_SEX = {common_pb2.SEX_UNSPECIFIED: "unknown", common_pb2.SEX_MALE: "male", common_pb2.SEX_FEMALE: "female"}
_AGE_BAND = {
    common_pb2.AGE_BAND_UNSPECIFIED: "unknown",
    common_pb2.AGE_BAND_UNDER_14: "under_14",
    common_pb2.AGE_BAND_14_TO_16: "14_to_16",
    common_pb2.AGE_BAND_16_TO_18: "16_to_18",
    common_pb2.AGE_BAND_18_TO_30: "18_to_30",
    common_pb2.AGE_BAND_30_AND_OVER: "30_and_over",
}


@dataclass(frozen=True)
class PersonFacts:
    pseudonym: str
    sex: str
    age_band: str
    commune_code: str
    province_code: str


@dataclass(frozen=True)
class Registered:
    person: PersonFacts
    registered_on: date


@dataclass(frozen=True)
class TestedPositive:
    person: PersonFacts
    test_id: str
    tested_on: date
    substance: str
    during_management: bool


@dataclass(frozen=True)
class Decided:
    person: PersonFacts
    management_id: str
    decided_on: date
    expires_on: date


@dataclass(frozen=True)
class Ended:
    person: PersonFacts
    management_id: str
    ended_on: date
    reason: str


Fact = Registered | TestedPositive | Decided | Ended


def _date(value: str, field: str) -> date:
    try:
        return parse_date(value, field=field)
    except InvalidInput as exc:
        raise BadEvent(exc.en) from None


def _match(pattern: re.Pattern, value: str, field: str) -> str:
    if not pattern.fullmatch(value):
        raise BadEvent(f"{field} {value!r} is missing or malformed")
    return value


def _person(envelope: Envelope, message: Any) -> PersonFacts:
    if not message.HasField("person"):
        raise BadEvent("person is missing")
    ref = message.person
    pseudonym = _match(_PSEUDONYM, ref.pseudonym, "person.pseudonym")
    if pseudonym != envelope.person:
        raise BadEvent("person.pseudonym does not match the ce-subject header")
    if ref.sex not in _SEX:
        raise BadEvent(f"person.sex {ref.sex} is not a known value")
    if ref.age_band not in _AGE_BAND:
        raise BadEvent(f"person.age_band {ref.age_band} is not a known value")
    try:
        commune = units.commune(ref.commune_code, field="person.commune_code")
    except InvalidInput as exc:
        raise BadEvent(f"person.commune_code: {exc.en}") from None
    if ref.province_code != commune.province_code:
        raise BadEvent(
            f"person.province_code {ref.province_code!r} is not the province of commune "
            f"{commune.code} ({commune.province_code})"
        )
    return PersonFacts(pseudonym, _SEX[ref.sex], _AGE_BAND[ref.age_band], commune.code, commune.province_code)


def _registered(envelope: Envelope, m: events_pb2.PersonRegistered) -> Registered:
    return Registered(_person(envelope, m), _date(m.registered_on, "registered_on"))


def _tested(envelope: Envelope, m: events_pb2.PositiveDrugTestRecorded) -> TestedPositive:
    return TestedPositive(
        person=_person(envelope, m),
        test_id=_match(_ID, m.test_id, "test_id"),
        tested_on=_date(m.tested_on, "tested_on"),
        substance=_match(_CODE, m.substance, "substance"),
        during_management=m.during_management,
    )


def _decided(envelope: Envelope, m: events_pb2.ManagementDecided) -> Decided:
    fact = Decided(
        person=_person(envelope, m),
        management_id=_match(_ID, m.management_id, "management_id"),
        decided_on=_date(m.decided_on, "decided_on"),
        expires_on=_date(m.expires_on, "expires_on"),
    )
    if fact.expires_on <= fact.decided_on:
        raise BadEvent(f"expires_on {fact.expires_on} is not after decided_on {fact.decided_on}")
    return fact


def _ended(envelope: Envelope, m: events_pb2.ManagementEnded) -> Ended:
    return Ended(
        person=_person(envelope, m),
        management_id=_match(_ID, m.management_id, "management_id"),
        ended_on=_date(m.ended_on, "ended_on"),
        reason=_match(_CODE, m.reason, "reason"),
    )


_DECODERS: dict[str, tuple[type[Message], Callable[[Envelope, Any], Fact]]] = {
    "registry.person.registered.v1": (events_pb2.PersonRegistered, _registered),
    "registry.drug_test.positive_recorded.v1": (events_pb2.PositiveDrugTestRecorded, _tested),
    "registry.management.decided.v1": (events_pb2.ManagementDecided, _decided),
    "registry.management.ended.v1": (events_pb2.ManagementEnded, _ended),
}


# Registry events reporting knows but does not aggregate yet (moves, compulsory dossiers): acknowledged and
# skipped. The stream keeps them, so a rebuild (replaying the stream) picks them up once they are counted.
KNOWN_NOT_AGGREGATED = frozenset(
    {
        "registry.person.moved.v1",
        "registry.compulsory_dossier.opened.v1",
        "registry.compulsory_dossier.submitted.v1",
        "registry.compulsory_dossier.decided.v1",
    }
)


def decode(envelope: Envelope) -> Fact | None:
    if envelope.subject in KNOWN_NOT_AGGREGATED:
        return None
    entry = _DECODERS.get(envelope.subject)
    if entry is None:
        raise BadEvent(f"unknown subject {envelope.subject}: reporting has no decoder for it")
    message_type, build = entry
    message = message_type()
    try:
        message.ParseFromString(envelope.payload)
    except DecodeError as exc:
        raise BadEvent(f"payload is not a {message_type.DESCRIPTOR.full_name}: {exc}") from None
    return build(envelope, message)


async def apply(session: AsyncSession, batch: Sequence[Delivered]) -> None:
    """Write one batch of new events: one statement per table, whatever the batch size."""
    batch = [d for d in batch if d.event is not None]
    people: list[dict] = []
    tests: list[dict] = []
    spells: dict[str, dict] = {}
    await _check_spell_owners(session, batch)
    for delivered in batch:
        fact, version = delivered.event, delivered.envelope.aggregate_version
        match fact:
            case Registered(person=p):
                people.append(
                    {
                        "pseudonym": p.pseudonym,
                        "sex": p.sex,
                        "commune_code": p.commune_code,
                        "registered_on": fact.registered_on,
                    }
                )
            case TestedPositive(person=p):
                tests.append(
                    {
                        "test_id": fact.test_id,
                        "pseudonym": p.pseudonym,
                        "tested_on": fact.tested_on,
                        "commune_code": p.commune_code,
                        "province_code": p.province_code,
                        "sex": p.sex,
                        "age_band": p.age_band,
                        "substance": fact.substance,
                        "during_management": fact.during_management,
                    }
                )
            case Decided(person=p):
                _merge(spells, fact.management_id, p.pseudonym, "decided", version, _decided_part(fact))
            case Ended(person=p):
                part = {"ended_on": fact.ended_on, "end_reason": fact.reason}
                _merge(spells, fact.management_id, p.pseudonym, "ended", version, part)
    await storage.add_people(session, people)
    await storage.add_positive_tests(session, tests)
    await storage.upsert_spells(session, list(spells.values()))
    await storage.record_ingest(session, CONSUMER_NAME, max(d.envelope.time for d in batch))


def _decided_part(fact: Decided) -> dict:
    p = fact.person
    return {
        "commune_code": p.commune_code,
        "province_code": p.province_code,
        "sex": p.sex,
        "age_band": p.age_band,
        "decided_on": fact.decided_on,
        "expires_on": fact.expires_on,
    }


def _merge(
    spells: dict[str, dict], management_id: str, pseudonym: str, part: str, version: int, values: dict
):
    """Fold one event into the batch's row for its spell; within a part, the newest version wins."""
    row = spells.setdefault(management_id, {"management_id": management_id, "pseudonym": pseudonym})
    known = row.get(f"{part}_version")
    if known is None or version >= known:
        row.update(values)
        row[f"{part}_version"] = version


async def _check_spell_owners(session: AsyncSession, batch: Sequence[Delivered]) -> None:
    """A management decision belongs to one person; an event naming another one is dead-lettered."""
    about_spells = [d for d in batch if isinstance(d.event, Decided | Ended)]
    owners = await storage.spell_owners(session, sorted({d.event.management_id for d in about_spells}))
    for delivered in about_spells:
        fact = delivered.event
        owner = owners.setdefault(fact.management_id, fact.person.pseudonym)
        if owner != fact.person.pseudonym:
            raise InvariantBroken(
                delivered.envelope.event_id,
                f"management {fact.management_id} belongs to another person than this event's",
            )
