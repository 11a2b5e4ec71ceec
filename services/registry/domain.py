"""Registry rules (Law 73/2021 Ch. IV, Decree 105/2021): people detected using drugs illegally, their
positive tests and the management list. Pure: no I/O. Each decision returns the new state and the domain
event that records it; the handlers store both in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import Enum

from lienthong.cccd import Sex
from lienthong.dated import Dated
from lienthong.dates import VIETNAM_TIME, add_years, age_on, not_in_future
from lienthong.errors import InvalidInput, PreconditionFailed

# The rules an act is judged by, from the date of the act (domain.md §1); acts before 2022 predate this
# system's legal basis and are refused rather than judged by the wrong law.
LAW_IN_FORCE = Dated({"2022-01-01": "law_73_2021", "2026-07-01": "law_120_2025"})

MANAGEMENT_TERM_YEARS = 1  # Art. 23: management lasts one year from the decision

SUBSTANCES = frozenset(
    {
        "heroin",
        "methamphetamine",
        "amphetamine",
        "mdma",
        "ketamine",
        "cannabis",
        "opium",
        "morphine",
        "cocaine",
        "other",
    }
)


class EndReason(Enum):
    """Early ends of management (expiry is computed from the term, never typed in)."""

    ADDICTED = "addicted"
    COMMUNE_EDUCATION = "commune_education"
    REFORM_SCHOOL = "reform_school"
    COMPULSORY_EDUCATION = "compulsory_education"
    IMPRISONED = "imprisoned"
    DIED = "died"
    MISSING = "missing"


class AgeBand(Enum):
    """Decision 127/2009 as amended by 13/2019, at the date of the act."""

    UNDER_14 = "under_14"
    FROM_14_TO_16 = "14_to_16"
    FROM_16_TO_18 = "16_to_18"
    FROM_18_TO_30 = "18_to_30"
    FROM_30 = "30_and_over"


def age_band(date_of_birth: date, day: date) -> AgeBand:
    age = age_on(date_of_birth, day)
    if age < 14:
        return AgeBand.UNDER_14
    if age < 16:
        return AgeBand.FROM_14_TO_16
    if age < 18:
        return AgeBand.FROM_16_TO_18
    if age < 30:
        return AgeBand.FROM_18_TO_30
    return AgeBand.FROM_30


@dataclass(frozen=True)
class Person:
    person_id: str
    citizen_id: str
    full_name: str
    date_of_birth: date
    sex: Sex
    commune_code: str
    province_code: str
    pseudonym: str
    registered_on: date
    version: int = 0


@dataclass(frozen=True)
class DrugTest:
    test_id: str
    person_id: str
    tested_on: date
    substance: str
    place: str
    during_management: bool


@dataclass(frozen=True)
class Management:
    management_id: str
    person_id: str
    decision_number: str
    decided_on: date
    expires_on: date
    commune_code: str
    province_code: str
    law_version: str = "law_73_2021"
    ended_on: date | None = None
    end_reason: EndReason | None = None

    def end(self) -> date:
        """First day no longer under management."""
        return min(self.ended_on, self.expires_on) if self.ended_on else self.expires_on

    def active_on(self, day: date) -> bool:
        return self.decided_on <= day < self.end()


# Domain events: what happened, in the registry's own words. Mapped to protobuf at the edge.
@dataclass(frozen=True)
class PersonRegistered:
    person: Person


@dataclass(frozen=True)
class PositiveTestRecorded:
    person: Person
    test: DrugTest


@dataclass(frozen=True)
class ManagementDecided:
    person: Person
    management: Management


@dataclass(frozen=True)
class ManagementEnded:
    person: Person
    management: Management


def law_in_force(day: date, field: str) -> str:
    try:
        return LAW_IN_FORCE.at(day)
    except ValueError:
        first = LAW_IN_FORCE.changes()[0][0].isoformat()
        raise InvalidInput(
            f"{field}.before_law",
            f"{field} ({day.isoformat()}) trước ngày Luật 73/2021 có hiệu lực ({first}); hệ thống không xét hành vi trước đó.",
            f"{field} ({day.isoformat()}) is before Law 73/2021 took effect ({first}); earlier acts are not judged here.",
        ) from None


def register(person: Person, *, today: date) -> tuple[Person, PersonRegistered]:
    not_in_future(person.date_of_birth, today, "date_of_birth")
    registered = replace(person, registered_on=today, version=1)
    return registered, PersonRegistered(registered)


def record_positive_test(
    person: Person,
    managements: list[Management],
    *,
    test_id: str,
    tested_on: date,
    substance: str,
    place: str,
    today: date,
) -> tuple[Person, DrugTest, PositiveTestRecorded]:
    not_in_future(tested_on, today, "tested_on")
    if tested_on < person.date_of_birth:
        raise InvalidInput(
            "tested_on.before_birth",
            "Ngày xét nghiệm trước ngày sinh của người này.",
            "The test date is before the person's date of birth.",
        )
    if substance not in SUBSTANCES:
        raise InvalidInput(
            "substance.unknown",
            f"Chất ma túy {substance!r} không có trong danh mục: {', '.join(sorted(SUBSTANCES))}.",
            f"Substance {substance!r} is not in the list: {', '.join(sorted(SUBSTANCES))}.",
        )
    # Use again during management is what triggers an addiction-determination request (Art. 27(1)(a)).
    during = any(m.active_on(tested_on) for m in managements)
    test = DrugTest(test_id, person.person_id, tested_on, substance, place, during)
    person = replace(person, version=person.version + 1)
    return person, test, PositiveTestRecorded(person, test)


def issue_management_decision(
    person: Person,
    tests: list[DrugTest],
    managements: list[Management],
    *,
    management_id: str,
    decision_number: str,
    decided_on: date,
    today: date,
) -> tuple[Person, Management, ManagementDecided]:
    not_in_future(decided_on, today, "decided_on")
    if not any(t.tested_on <= decided_on for t in tests):
        raise PreconditionFailed(
            "management.no_positive_test",
            "Chưa có kết quả xét nghiệm dương tính nào trước ngày quyết định: chưa thể đưa vào diện quản lý.",
            "No positive drug test on or before the decision date: the person cannot be put under management.",
        )
    expires_on = add_years(decided_on, MANAGEMENT_TERM_YEARS)
    # Terms of one person never overlap: a second decision while one runs is the typical double entry.
    overlapping = [m for m in managements if m.decided_on < expires_on and decided_on < m.end()]
    if overlapping:
        open_one = overlapping[0]
        raise PreconditionFailed(
            "management.already_open",
            f"Người này đang trong diện quản lý theo quyết định {open_one.decision_number} "
            f"từ {open_one.decided_on.isoformat()} đến {open_one.end().isoformat()}.",
            f"The person is already under management by decision {open_one.decision_number} "
            f"from {open_one.decided_on.isoformat()} until {open_one.end().isoformat()}.",
        )
    management = Management(
        management_id=management_id,
        person_id=person.person_id,
        decision_number=decision_number,
        decided_on=decided_on,
        expires_on=expires_on,
        law_version=law_in_force(decided_on, "decided_on"),
        commune_code=person.commune_code,
        province_code=person.province_code,
    )
    person = replace(person, version=person.version + 1)
    return person, management, ManagementDecided(person, management)


def end_management(
    person: Person, management: Management, *, ended_on: date, reason: str, today: date
) -> tuple[Person, Management, ManagementEnded]:
    not_in_future(ended_on, today, "ended_on")
    try:
        end_reason = EndReason(reason)
    except ValueError:
        codes = ", ".join(r.value for r in EndReason)
        raise InvalidInput(
            "reason.unknown",
            f"Lý do chấm dứt quản lý {reason!r} không hợp lệ; các mã hợp lệ: {codes}. "
            "Hết thời hạn được tính tự động, không cần nhập.",
            f"End reason {reason!r} is not valid; valid codes: {codes}. Expiry is computed, not entered.",
        ) from None
    if management.ended_on is not None:
        raise PreconditionFailed(
            "management.already_ended",
            f"Quyết định quản lý {management.decision_number} đã chấm dứt ngày {management.ended_on.isoformat()}.",
            f"Management decision {management.decision_number} already ended on {management.ended_on.isoformat()}.",
        )
    if not management.decided_on <= ended_on < management.expires_on:
        raise PreconditionFailed(
            "management.not_active",
            f"Ngày {ended_on.isoformat()} người này không trong diện quản lý theo quyết định "
            f"{management.decision_number} ({management.decided_on.isoformat()} – {management.expires_on.isoformat()}).",
            f"On {ended_on.isoformat()} the person is not under management by decision "
            f"{management.decision_number} ({management.decided_on.isoformat()} to {management.expires_on.isoformat()}).",
        )
    ended = replace(management, ended_on=ended_on, end_reason=end_reason)
    person = replace(person, version=person.version + 1)
    return person, ended, ManagementEnded(person, ended)


class FlagKind(Enum):
    """What another department's event obliges the commune police to act on."""

    REHAB_REGISTRATION = "rehab_registration"  # determined addicted: register for rehab (Art. 28)
    COMPULSORY_GROUND_METHADONE = "compulsory_ground_methadone"  # stopped or terminated from methadone
    COMPULSORY_GROUND_RELAPSE = "compulsory_ground_relapse"  # an adult relapsed during aftercare


@dataclass(frozen=True)
class Flag:
    pseudonym: str
    kind: FlagKind
    since: date
    source_event_id: str


def end_on_determined_addicted(
    person: Person, managements: list[Management], *, concluded_on: date, today: date
) -> tuple[Person, Management, ManagementEnded] | None:
    """A person determined addicted leaves the management list (Art. 23): end the running term, if any."""
    running = [m for m in managements if m.ended_on is None and m.active_on(concluded_on)]
    if not running or concluded_on > today:
        return None
    return end_management(
        person, running[0], ended_on=concluded_on, reason=EndReason.ADDICTED.value, today=today
    )


METHADONE_COMPULSORY_GROUNDS = frozenset({"voluntary_stop", "terminated_violation"})


MOVE_REPORT_RULE_FROM = date(2026, 7, 1)  # Law 120/2025: report a change of residence within 24 hours
MOVE_REPORT_HOURS = 24


@dataclass(frozen=True)
class PersonMoved:
    person: Person
    moved_on: date
    from_commune_code: str
    from_province_code: str
    reported_at: datetime
    reported_late: bool
    law_version: str


def record_move(
    person: Person,
    *,
    commune_code: str,
    province_code: str,
    moved_on: date,
    reported_at: datetime,
    law_version: str,
    today: date,
) -> tuple[Person, PersonMoved]:
    """Move the person's residence. Lateness is judged only under the rule in force on the move date. The
    hour of the move is not recorded, so the 24 hours run from the end of the moving day: an alert is
    never raised for a report the law may still allow."""
    not_in_future(moved_on, today, "moved_on")
    if commune_code == person.commune_code:
        raise PreconditionFailed(
            "move.same_commune",
            f"Người này đã cư trú tại xã/phường {commune_code}.",
            f"The person already lives in commune {commune_code}.",
        )
    end_of_day = datetime.combine(moved_on + timedelta(days=1), datetime.min.time(), tzinfo=VIETNAM_TIME)
    late = moved_on >= MOVE_REPORT_RULE_FROM and reported_at > end_of_day + timedelta(hours=MOVE_REPORT_HOURS)
    moved = replace(
        person, commune_code=commune_code, province_code=province_code, version=person.version + 1
    )
    return moved, PersonMoved(
        moved, moved_on, person.commune_code, person.province_code, reported_at, late, law_version
    )
