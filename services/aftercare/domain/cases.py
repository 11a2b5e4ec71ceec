"""Aftercare cases (Law 73/2021 Art. 40; Decree 116/2021 Ch. VI): opened pending placement when a
completion arrives, placed by the commune chairman, supported, relapse, certificate at expiry, transfer.

A case is one stay in aftercare at one commune. Its term is fixed at opening from the source and the age
band at completion, and always counted from the completion date: neither a late commune decision nor a
move lengthens it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import Enum

from lienthong.dates import add_months, not_before, not_in_future
from lienthong.errors import PreconditionFailed
from services.aftercare.domain.common import Person, is_adult, parse_code

REHAB, METHADONE = "rehab", "methadone"
REHAB_KINDS = ("compulsory", "voluntary_facility", "voluntary_family", "voluntary_community")
CARETAKER_KINDS = ("person", "organisation")
SUPPORT_KINDS = (
    "schooling",
    "vocational_training",
    "loan",
    "job_placement",
    "counselling",
    "medical_psychological",
)
# Schooling support is for ages 12-18 (domain.md §3). Aftercare knows only the age band: under_14 is
# accepted because nobody younger than 12 goes through rehab (Law 73/2021 Art. 33 starts at 12).
SCHOOL_BANDS = frozenset({"under_14", "14_to_16", "16_to_18"})
CLOSE_REASONS = ("relapse_to_rehab", "died", "other")  # the others have their own commands


class Status(Enum):
    PENDING = "pending_placement"
    PLACED = "placed"
    CLOSED = "closed"


@dataclass(frozen=True)
class Terms:
    """Aftercare terms in months (Art. 40); settings, since Law 120/2025 may change them."""

    voluntary_months: int = 12
    methadone_months: int = 12
    compulsory_minor_months: int = 12
    compulsory_adult_months: int = 24

    def months(self, source_kind: str, age_band: str) -> int:
        if source_kind == METHADONE:
            return self.methadone_months
        if source_kind == "compulsory":
            return self.compulsory_adult_months if is_adult(age_band) else self.compulsory_minor_months
        return self.voluntary_months


@dataclass(frozen=True)
class Completion:
    """A completion another department published: finished rehab or methadone."""

    source: str  # rehab or methadone
    source_kind: str  # a rehab kind, or methadone
    source_id: str  # "rehab:<admission id>" or "methadone:<episode id>": one case per completion
    completed_on: date
    pseudonym: str
    sex: str
    age_band: str
    commune_code: str
    province_code: str


@dataclass(frozen=True)
class Case:
    case_id: str
    person_id: str
    source: str
    source_kind: str
    completed_on: date
    age_band: str  # at completion: decides the term and the schooling rule
    term_months: int
    commune_code: str
    province_code: str
    law_version: str
    opened_on: date  # completion date, or the move date for a case opened by a transfer
    source_id: str | None = None  # None for a case opened by a transfer
    transferred_from: str | None = None
    status: Status = Status.PENDING
    decided_on: date | None = None
    decision_number: str | None = None
    caretaker_kind: str | None = None
    caretaker_name: str | None = None
    closed_on: date | None = None
    close_reason: str | None = None

    @property
    def ends_on(self) -> date:
        """First day after the term, counted from completion."""
        return add_months(self.completed_on, self.term_months)

    @property
    def adult(self) -> bool:
        return is_adult(self.age_band)

    @property
    def is_open(self) -> bool:
        return self.status is not Status.CLOSED


# Domain events; ``on`` is the date of the act, which decides the operating agency.
@dataclass(frozen=True)
class CaseOpened:
    person: Person
    case: Case

    @property
    def on(self) -> date:
        return self.case.opened_on


@dataclass(frozen=True)
class CasePlaced:
    person: Person
    case: Case

    @property
    def on(self) -> date:
        return self.case.decided_on


@dataclass(frozen=True)
class SupportGiven:
    person: Person
    case: Case
    on: date
    kind: str


@dataclass(frozen=True)
class CaseClosed:
    person: Person
    case: Case

    @property
    def on(self) -> date:
        return self.case.closed_on


def open_case(person: Person, case: Case) -> tuple[Person, Case, CaseOpened]:
    person = person.touched()
    return person, case, CaseOpened(person, case)


def _open(case: Case) -> None:
    if not case.is_open:
        raise PreconditionFailed(
            "case.closed",
            f"Hồ sơ quản lý sau cai đã đóng ngày {case.closed_on.isoformat()} ({case.close_reason}).",
            f"The aftercare case was closed on {case.closed_on.isoformat()} ({case.close_reason}).",
        )


def check_during(case: Case, day: date, field: str, today: date) -> None:
    _open(case)
    not_in_future(day, today, field)
    not_before(day, case.completed_on, field, "ngày hoàn thành cai nghiện/điều trị", "the completion date")


def place(
    person: Person,
    case: Case,
    *,
    decided_on: date,
    decision_number: str,
    caretaker_kind: str,
    caretaker_name: str,
    today: date,
) -> tuple[Person, Case, CasePlaced]:
    check_during(case, decided_on, "decided_on", today)
    kind = parse_code(
        caretaker_kind, CARETAKER_KINDS, "caretaker_kind", "Loại người được giao", "Caretaker kind"
    )
    if case.status is not Status.PENDING:
        raise PreconditionFailed(
            "case.already_placed",
            f"Đã có quyết định quản lý sau cai ngày {case.decided_on.isoformat()}.",
            f"The commune already decided aftercare on {case.decided_on.isoformat()}.",
        )
    placed = replace(
        case,
        status=Status.PLACED,
        decided_on=decided_on,
        decision_number=decision_number,
        caretaker_kind=kind,
        caretaker_name=caretaker_name,
    )
    person = person.touched()
    return person, placed, CasePlaced(person, placed)


def give_support(person: Person, case: Case, *, given_on: date, kind: str, today: date):
    check_during(case, given_on, "given_on", today)
    kind = parse_code(kind, SUPPORT_KINDS, "kind", "Loại hỗ trợ", "Support kind")
    if kind == "schooling" and case.age_band not in SCHOOL_BANDS:
        raise PreconditionFailed(
            "support.schooling_age",
            f"Hỗ trợ học văn hóa chỉ dành cho người từ 12 đến dưới 18 tuổi (nhóm tuổi: {case.age_band}).",
            f"Schooling support is only for ages 12 to 18 (age band: {case.age_band}).",
        )
    person = person.touched()
    return person, SupportGiven(person, case, given_on, kind)


def _closed(person: Person, case: Case, reason: str, on: date) -> tuple[Person, Case, CaseClosed]:
    closed = replace(case, status=Status.CLOSED, closed_on=on, close_reason=reason)
    person = person.touched()
    return person, closed, CaseClosed(person, closed)


def certify(person: Person, case: Case, *, issued_on: date, today: date):
    """Completion certificate (Decree 116 Art. 81): only for a placed case whose term has ended."""
    check_during(case, issued_on, "issued_on", today)
    if case.status is not Status.PLACED:
        raise PreconditionFailed(
            "case.not_placed",
            "Chưa có quyết định quản lý sau cai của xã nên chưa thể cấp giấy chứng nhận hoàn thành.",
            "The commune has not placed this case yet, so no completion certificate can be issued.",
        )
    if issued_on < case.ends_on:
        raise PreconditionFailed(
            "certificate.before_expiry",
            f"Thời hạn quản lý sau cai ({case.term_months} tháng) kết thúc ngày "
            f"{case.ends_on.isoformat()}; chưa thể cấp giấy chứng nhận ngày {issued_on.isoformat()}.",
            f"The aftercare term ({case.term_months} months) ends on {case.ends_on.isoformat()}; "
            f"no certificate can be issued on {issued_on.isoformat()}.",
        )
    return _closed(person, case, "completed_certificate", issued_on)


def close(person: Person, case: Case, *, reason: str, closed_on: date, today: date):
    reason = parse_code(reason, CLOSE_REASONS, "reason", "Lý do kết thúc", "Close reason")
    check_during(case, closed_on, "closed_on", today)
    return _closed(person, case, reason, closed_on)


def transfer(
    person: Person,
    case: Case,
    *,
    new_case_id: str,
    moved_on: date,
    commune_code: str,
    province_code: str,
    law_version: str,
    today: date,
) -> tuple[Person, Case, Case, list]:
    """A move: this commune closes the case; the new commune gets a pending case with the same term,
    still counted from completion."""
    check_during(case, moved_on, "moved_on", today)
    if commune_code == case.commune_code:
        raise PreconditionFailed(
            "transfer.same_commune",
            f"Người này đang được quản lý sau cai tại chính xã {commune_code}.",
            f"The person's aftercare is already at commune {commune_code}.",
        )
    person, closed, closed_event = _closed(person, case, "transferred_out", moved_on)
    opened = Case(
        case_id=new_case_id,
        person_id=case.person_id,
        source=case.source,
        source_kind=case.source_kind,
        completed_on=case.completed_on,
        age_band=case.age_band,
        term_months=case.term_months,
        commune_code=commune_code,
        province_code=province_code,
        law_version=law_version,
        opened_on=moved_on,
        transferred_from=case.case_id,
    )
    person = person.touched()
    return person, closed, opened, [closed_event, CaseOpened(person, opened)]


def waiting(case: Case, as_of: date, alert_days: int) -> tuple[int, bool]:
    """Days a pending case has waited for the commune's decision, and whether that is past the alert
    (plans require 100% of completers placed)."""
    days = max((as_of - case.opened_on).days, 0)
    return days, days > alert_days
