"""Relapse (tái nghiện, Decree 116/2021 Art. 3(2)): use again reported (suspected, kept in aftercare), then
confirmed by an addiction determination. For an adult in aftercare a confirmed relapse is a ground for a
compulsory-rehab dossier (Law 73/2021 Art. 32(4)), so the event carries the adult flag."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from services.aftercare.domain.cases import Case, check_during
from services.aftercare.domain.common import Person


@dataclass(frozen=True)
class Relapse:
    relapse_id: str
    case_id: str
    suspected_on: date | None = None
    determined_on: date | None = None


@dataclass(frozen=True)
class RelapseConfirmed:
    person: Person
    case: Case
    on: date


def suspect_relapse(case: Case, *, relapse_id: str, suspected_on: date, today: date) -> Relapse:
    check_during(case, suspected_on, "suspected_on", today)
    return Relapse(relapse_id, case.case_id, suspected_on=suspected_on)


def confirm_relapse(
    person: Person, case: Case, relapses: list[Relapse], *, relapse_id: str, determined_on: date, today: date
) -> tuple[Person, Relapse, RelapseConfirmed]:
    """Relapse (Decree 116 Art. 3(2)) needs a determination; the latest open suspicion not after it is
    the one confirmed, or a new relapse is recorded when nobody reported a suspicion first."""
    check_during(case, determined_on, "determined_on", today)
    open_ones = [
        r for r in relapses if r.determined_on is None and r.suspected_on and r.suspected_on <= determined_on
    ]
    if open_ones:
        relapse = replace(max(open_ones, key=lambda r: r.suspected_on), determined_on=determined_on)
    else:
        relapse = Relapse(relapse_id, case.case_id, determined_on=determined_on)
    person = person.touched()
    return person, relapse, RelapseConfirmed(person, case, determined_on)
