"""Admissions (RehabEpisode) of every kind: one open per person, the term per law version in force on the
admission date, temporary stay deducted (Decree 116 Art. 44), the five stages only forward, training,
reduction of a compulsory term after half of it (3-6 months), discharge with a reason, and a return after
absconding that reopens the same admission."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import Enum

from lienthong.dates import add_months, age_on, not_before, not_in_future
from lienthong.errors import InvalidInput, PreconditionFailed
from services.rehab.domain.facilities import Facility, check_admits
from services.rehab.domain.people import Person
from services.rehab.domain.terms import (
    DischargeReason,
    Kind,
    Rules,
    Stage,
    check_term,
)


class Status(Enum):
    EXPECTED = "expected"  # a court decision named the facility; not arrived yet
    ADMITTED = "admitted"
    ABSCONDED = "absconded"  # still open: the same admission resumes when the person returns
    DISCHARGED = "discharged"


@dataclass(frozen=True)
class Admission:
    admission_id: str
    person_id: str
    kind: Kind
    law_version: str
    term_months: int
    minor: bool
    # Residence at the admission (or the court decision), for the events.
    commune_code: str
    province_code: str
    facility_code: str | None = None
    # False when a court decision named a facility rehab does not know: kept, flagged on the work list.
    facility_known: bool = True
    status: Status = Status.ADMITTED
    dossier_id: str | None = None
    court_decided_on: date | None = None
    admitted_on: date | None = None
    temporary_stay_days: int = 0
    stage: Stage = Stage.INTAKE
    stage_on: date | None = None
    reduced_months: int = 0
    reduced_on: date | None = None
    absconded_on: date | None = None
    absent_days: int = 0  # days absconded do not count towards the term
    discharged_on: date | None = None
    discharge_reason: DischargeReason | None = None

    @property
    def is_open(self) -> bool:
        return self.status is not Status.DISCHARGED

    def _shifted(self, day: date) -> date:
        return day - timedelta(days=self.temporary_stay_days) + timedelta(days=self.absent_days)

    @property
    def planned_end(self) -> date:
        """First day the person is no longer held: term (less any reduction) from admission, temporary
        stay deducted, days absconded added back."""
        return self._shifted(add_months(self.admitted_on, self.term_months - self.reduced_months))

    @property
    def half_served_on(self) -> date:
        full = add_months(self.admitted_on, self.term_months) - self.admitted_on
        return self._shifted(self.admitted_on + full / 2)


@dataclass(frozen=True)
class AdmissionExpected:
    person: Person
    admission: Admission

    @property
    def on(self) -> date:
        return self.admission.court_decided_on


@dataclass(frozen=True)
class Admitted:
    person: Person
    admission: Admission
    facility_private: bool = False

    @property
    def on(self) -> date:
        return self.admission.admitted_on


@dataclass(frozen=True)
class TrainingGiven:
    person: Person
    admission: Admission
    given_on: date
    trade: str

    @property
    def on(self) -> date:
        return self.given_on


@dataclass(frozen=True)
class Discharged:
    person: Person
    admission: Admission

    @property
    def on(self) -> date:
        return self.admission.discharged_on


@dataclass(frozen=True)
class Returned:
    person: Person
    admission: Admission
    returned_on: date

    @property
    def on(self) -> date:
        return self.returned_on


def refuse(code: str, vi: str, en: str) -> PreconditionFailed:
    return PreconditionFailed(code, vi, en)


def _no_other_open(others: Sequence[Admission], this_id: str | None = None) -> None:
    for other in others:
        if other.is_open and other.admission_id != this_id and other.status is not Status.EXPECTED:
            raise refuse(
                "admission.already_open",
                f"Người này đang có đợt cai nghiện {other.kind.value} chưa kết thúc ({other.admission_id}).",
                f"The person already has an open {other.kind.value} admission ({other.admission_id}).",
            )


def _stay_fits(term_months: int, admitted_on: date, stay_days: int) -> None:
    if stay_days < 0 or stay_days >= (add_months(admitted_on, term_months) - admitted_on).days:
        raise InvalidInput(
            "temporary_stay_days.out_of_range",
            f"Số ngày lưu trú tạm thời ({stay_days}) phải từ 0 và ngắn hơn thời hạn ({term_months} tháng).",
            f"Temporary stay ({stay_days} days) must be 0 or more and shorter than the term "
            f"({term_months} months).",
        )


def admit(
    person: Person,
    others: Sequence[Admission],
    candidate: Admission,
    facility: Facility | None,
    occupancy: int,
    *,
    rules: Rules,
    today: date,
) -> tuple[Person, Admission, Admitted]:
    """A direct admission (voluntary, or compulsory on a decision not received as an event)."""
    on = candidate.admitted_on
    not_in_future(on, today, "admitted_on")
    if person.identity and on < person.identity.date_of_birth:
        not_before(on, person.identity.date_of_birth, "admitted_on", "ngày sinh", "the date of birth")
    if candidate.kind.at_facility != (facility is not None):
        raise InvalidInput(
            "facility_code.kind",
            f"Cai nghiện {candidate.kind.value} "
            + (
                "phải có mã cơ sở."
                if candidate.kind.at_facility
                else "tại gia đình/cộng đồng không có mã cơ sở."
            ),
            f"{candidate.kind.value} rehab "
            + (
                "needs a facility code."
                if candidate.kind.at_facility
                else "at home or in the community has no facility."
            ),
        )
    if candidate.temporary_stay_days and not candidate.kind.compulsory:
        raise InvalidInput(
            "temporary_stay_days.not_compulsory",
            "Chỉ cai nghiện bắt buộc mới trừ thời gian lưu trú tạm thời.",
            "Only compulsory rehab deducts temporary stay.",
        )
    if candidate.kind.compulsory and person.identity and person.band_on(on) == "under_14":
        if age_on(person.identity.date_of_birth, on) < 12:
            raise refuse(
                "admission.under_12",
                "Không áp dụng cai nghiện bắt buộc với người dưới 12 tuổi.",
                "Compulsory rehab does not apply to anyone under 12.",
            )
    check_term(rules, candidate.law_version, candidate.kind, candidate.minor, candidate.term_months)
    _stay_fits(candidate.term_months, on, candidate.temporary_stay_days)
    _no_other_open(others)
    for other in others:
        if other.status is Status.EXPECTED:
            raise refuse(
                "admission.expected_pending",
                f"Người này đang chờ tiếp nhận theo quyết định của Tòa án ({other.admission_id}): "
                "hãy dùng AdmitExpected.",
                f"The person is expected under a court decision ({other.admission_id}): use AdmitExpected.",
            )
    if facility is not None:
        check_admits(facility, candidate.kind, occupancy)
    admission = replace(candidate, status=Status.ADMITTED, stage=Stage.INTAKE, stage_on=on)
    person = person.touched()
    return person, admission, Admitted(person, admission, facility is not None and not facility.public)


def expect(person: Person, candidate: Admission) -> tuple[Person, Admission, AdmissionExpected]:
    """The court's decision as the registry published it: it is the fact, so nothing is re-checked."""
    admission = replace(candidate, status=Status.EXPECTED)
    person = person.touched()
    return person, admission, AdmissionExpected(person, admission)


def admit_expected(
    person: Person,
    admission: Admission,
    others: Sequence[Admission],
    facility: Facility | None,
    occupancy: int,
    *,
    admitted_on: date,
    extra_stay_days: int,
    today: date,
) -> tuple[Person, Admission, Admitted]:
    if admission.status is not Status.EXPECTED:
        raise refuse(
            "admission.not_expected",
            f"Đợt cai nghiện {admission.admission_id} không ở trạng thái chờ tiếp nhận ({admission.status.value}).",
            f"Admission {admission.admission_id} is not awaiting arrival ({admission.status.value}).",
        )
    if facility is None:
        raise refuse(
            "facility.unknown",
            f"Quyết định của Tòa án ghi cơ sở {admission.facility_code!r} chưa được đăng ký: "
            "hãy đăng ký cơ sở trước.",
            f"The court decision names facility {admission.facility_code!r}, which is not registered: "
            "register it first.",
        )
    not_in_future(admitted_on, today, "admitted_on")
    not_before(
        admitted_on, admission.court_decided_on, "admitted_on", "ngày Tòa án quyết định", "the court decision"
    )
    stay = admission.temporary_stay_days + extra_stay_days
    _stay_fits(admission.term_months, admitted_on, stay)
    _no_other_open(others, admission.admission_id)
    check_admits(facility, Kind.COMPULSORY, occupancy)
    admitted = replace(
        admission,
        status=Status.ADMITTED,
        admitted_on=admitted_on,
        temporary_stay_days=stay,
        stage=Stage.INTAKE,
        stage_on=admitted_on,
    )
    person = person.touched()
    return person, admitted, Admitted(person, admitted, not facility.public)


def record_temporary_stay(
    admission: Admission, stays: Sequence[tuple[date, date]], *, start_on: date, end_on: date, today: date
) -> Admission:
    """A stay while the compulsory dossier was prepared (family or facility); ``end_on`` is the day it
    ended and is not counted. Recorded before arrival; at arrival the days are deducted from the term."""
    if not admission.kind.compulsory or admission.status is not Status.EXPECTED:
        raise refuse(
            "temporary_stay.not_expected",
            "Chỉ ghi lưu trú tạm thời cho người đang chờ tiếp nhận cai nghiện bắt buộc; khi tiếp nhận, "
            "khai số ngày lưu trú ở temporary_stay_days.",
            "Temporary stay is recorded only for a person awaiting compulsory admission; at admission, "
            "give the days in temporary_stay_days.",
        )
    not_in_future(end_on, today, "end_on")
    if end_on <= start_on:
        raise InvalidInput(
            "end_on.too_early",
            f"end_on ({end_on.isoformat()}) phải sau start_on ({start_on.isoformat()}).",
            f"end_on ({end_on.isoformat()}) must be after start_on ({start_on.isoformat()}).",
        )
    for start, end in stays:
        if start_on < end and start < end_on:
            raise refuse(
                "temporary_stay.overlap",
                f"Trùng với đợt lưu trú {start.isoformat()} - {end.isoformat()} đã ghi.",
                f"Overlaps the stay {start.isoformat()} - {end.isoformat()} already recorded.",
            )
    return replace(admission, temporary_stay_days=admission.temporary_stay_days + (end_on - start_on).days)
