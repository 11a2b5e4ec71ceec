"""Every department's events into reporting's read model.

``decode`` is pure: it maps an envelope to a step of a person's path (``steps``), plus the fact the
management report needs for registry events, or raises ``BadEvent`` with the reason, and the batch
consumer dead-letters it. ``applier`` writes one batch of new events in the consumer's transaction.
Nothing but the event is trusted: the unit is the commune the event carries, never a later address.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lienthong.consumer import Delivered, InvariantBroken
from lienthong.envelope import BadEvent, Envelope
from services.reporting import storage
from services.reporting.steps import Step, date_field, parse

_CODE = re.compile(r"[a-z][a-z0-9_]{0,49}", re.ASCII)


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


@dataclass(frozen=True)
class Decoded:
    step: Step
    fact: Fact | None  # what the management report counts; None for the other acts


def _person(step: Step) -> PersonFacts:
    return PersonFacts(step.pseudonym, step.sex, step.age_band, step.commune_code, step.province_code)


def _code(step: Step, name: str) -> str:
    value = dict(step.codes)[name]
    if not _CODE.fullmatch(value):
        raise BadEvent(f"{name} {value!r} is missing or malformed")
    return value


def _registered(step: Step, _m: Any) -> Registered:
    return Registered(_person(step), step.occurred_on)


def _tested(step: Step, m: Any) -> TestedPositive:
    return TestedPositive(
        _person(step), step.record_id, step.occurred_on, _code(step, "substance"), m.during_management
    )


def _decided(step: Step, m: Any) -> Decided:
    fact = Decided(_person(step), step.record_id, step.occurred_on, date_field(m, "expires_on"))
    if fact.expires_on <= fact.decided_on:
        raise BadEvent(f"expires_on {fact.expires_on} is not after decided_on {fact.decided_on}")
    return fact


def _ended(step: Step, _m: Any) -> Ended:
    return Ended(_person(step), step.record_id, step.occurred_on, _code(step, "reason"))


_FACTS: dict[str, Callable[[Step, Any], Fact]] = {
    "registry.person.registered.v1": _registered,
    "registry.drug_test.positive_recorded.v1": _tested,
    "registry.management.decided.v1": _decided,
    "registry.management.ended.v1": _ended,
}


def decode(envelope: Envelope) -> Decoded:
    step, message = parse(envelope)
    build = _FACTS.get(envelope.subject)
    return Decoded(step, build(step, message) if build else None)


def applier(consumer: str) -> Callable[[AsyncSession, Sequence[Delivered]], Awaitable[None]]:
    async def apply_batch(session: AsyncSession, batch: Sequence[Delivered]) -> None:
        await apply(session, batch, consumer=consumer)

    return apply_batch


async def apply(session: AsyncSession, batch: Sequence[Delivered], *, consumer: str) -> None:
    """Write one batch of new events: one statement per table, whatever the batch size."""
    batch = [d for d in batch if d.event is not None]
    if not batch:
        return
    await storage.add_steps(session, [d.event.step for d in batch])
    people: list[dict] = []
    tests: list[dict] = []
    spells: dict[str, dict] = {}
    await _check_spell_owners(session, batch)
    for delivered in batch:
        fact, version = delivered.event.fact, delivered.envelope.aggregate_version
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
    await storage.record_ingest(session, consumer, max(d.envelope.time for d in batch))


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
    about_spells = [d for d in batch if isinstance(d.event.fact, Decided | Ended)]
    owners = await storage.spell_owners(session, sorted({d.event.fact.management_id for d in about_spells}))
    for delivered in about_spells:
        fact = delivered.event.fact
        owner = owners.setdefault(fact.management_id, fact.person.pseudonym)
        if owner != fact.person.pseudonym:
            raise InvariantBroken(
                delivered.envelope.event_id,
                f"management {fact.management_id} belongs to another person than this event's",
            )
