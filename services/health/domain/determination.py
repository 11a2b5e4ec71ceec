"""Addiction determination (Circular 18/2021/TT-BYT; who may determine: Decree 109/2021).

The result is computed from the six criteria, never typed in: 3 or more met → addicted; exactly 2 without
withdrawal → keep observing; otherwise (0, 1, or 2 including withdrawal) → not addicted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import Enum

from lienthong.dates import not_before, not_in_future
from lienthong.errors import InvalidInput, PreconditionFailed
from services.health.domain.people import Person


class Criterion(Enum):
    CRAVING = "craving"
    LOSS_OF_CONTROL = "loss_of_control"
    TOLERANCE = "tolerance"
    NEGLECT = "neglect"
    USE_DESPITE_HARM = "use_despite_harm"
    WITHDRAWAL = "withdrawal"


class Result(Enum):
    ADDICTED = "addicted"
    NOT_ADDICTED = "not_addicted"
    KEEP_OBSERVING = "keep_observing"


# Law 73/2021 Art. 27(1) cases a-d (commune police) or the person's own request.
LEGAL_CASES = ("police_a", "police_b", "police_c", "police_d", "voluntary")


def assess(criteria: frozenset[Criterion]) -> Result:
    if len(criteria) >= 3:
        return Result.ADDICTED
    if len(criteria) == 2 and Criterion.WITHDRAWAL not in criteria:
        return Result.KEEP_OBSERVING
    return Result.NOT_ADDICTED


@dataclass(frozen=True)
class Facility:
    facility_id: str
    name: str
    licensed: bool


@dataclass(frozen=True)
class Determination:
    determination_id: str
    person_id: str
    legal_case: str
    requested_on: date
    law_version: str
    commune_code: str
    province_code: str
    source_test_id: str | None = None
    facility_id: str | None = None
    observed_on: date | None = None
    criteria: frozenset[Criterion] | None = None
    result: Result | None = None
    concluded_on: date | None = None
    late: bool | None = None

    def due_on(self, max_days: int) -> date:
        return self.requested_on + timedelta(days=max_days)


@dataclass(frozen=True)
class DeterminationRequested:
    person: Person
    determination: Determination


@dataclass(frozen=True)
class DeterminationConcluded:
    person: Person
    determination: Determination


def parse_legal_case(value: str) -> str:
    if value not in LEGAL_CASES:
        raise InvalidInput(
            "legal_case.unknown",
            f"Trường hợp đề nghị {value!r} không hợp lệ; các mã hợp lệ: {', '.join(LEGAL_CASES)}.",
            f"Legal case {value!r} is not valid; valid codes: {', '.join(LEGAL_CASES)}.",
        )
    return value


def parse_criteria(values: list[str]) -> frozenset[Criterion]:
    codes = ", ".join(c.value for c in Criterion)
    parsed = []
    for value in values:
        try:
            parsed.append(Criterion(value))
        except ValueError:
            raise InvalidInput(
                "criteria_met.unknown",
                f"Tiêu chuẩn {value!r} không có trong Thông tư 18/2021; các mã hợp lệ: {codes}.",
                f"Criterion {value!r} is not one of Circular 18/2021's; valid codes: {codes}.",
            ) from None
    if len(parsed) != len(set(parsed)):
        raise InvalidInput(
            "criteria_met.repeated", "Một tiêu chuẩn bị nhập hai lần.", "A criterion is listed twice."
        )
    return frozenset(parsed)


def request(
    person: Person, candidate: Determination, *, today: date
) -> tuple[Person, Determination, DeterminationRequested]:
    not_in_future(candidate.requested_on, today, "requested_on")
    person = person.touched()
    return person, candidate, DeterminationRequested(person, candidate)


def _licensed(facility: Facility) -> None:
    if not facility.licensed:
        raise PreconditionFailed(
            "facility.not_licensed",
            f"Cơ sở {facility.name} ({facility.facility_id}) không được cấp phép xác định tình trạng nghiện.",
            f"Facility {facility.name} ({facility.facility_id}) is not licensed to determine addiction.",
        )


def _open(d: Determination) -> None:
    if d.concluded_on is not None:
        raise PreconditionFailed(
            "determination.already_concluded",
            f"Việc xác định này đã kết luận ngày {d.concluded_on.isoformat()}.",
            f"This determination was already concluded on {d.concluded_on.isoformat()}.",
        )


def record_criteria(
    d: Determination, facility: Facility, *, observed_on: date, criteria: frozenset[Criterion], today: date
) -> Determination:
    _licensed(facility)
    _open(d)
    not_in_future(observed_on, today, "observed_on")
    not_before(observed_on, d.requested_on, "observed_on", "ngày đề nghị", "the request date")
    if d.facility_id and d.facility_id != facility.facility_id:
        raise PreconditionFailed(
            "determination.other_facility",
            f"Việc xác định này đang do cơ sở {d.facility_id} thực hiện.",
            f"This determination is being done by facility {d.facility_id}.",
        )
    return replace(d, facility_id=facility.facility_id, observed_on=observed_on, criteria=criteria)


def conclude(
    person: Person,
    d: Determination,
    facility: Facility,
    *,
    concluded_on: date,
    max_days: int,
    today: date,
) -> tuple[Person, Determination, DeterminationConcluded]:
    _licensed(facility)
    _open(d)
    not_in_future(concluded_on, today, "concluded_on")
    if d.criteria is None or d.observed_on is None:
        raise PreconditionFailed(
            "determination.no_criteria",
            "Chưa ghi nhận kết quả đánh giá 6 tiêu chuẩn: chưa thể kết luận.",
            "The six criteria have not been recorded yet: the determination cannot be concluded.",
        )
    if d.facility_id != facility.facility_id:
        raise PreconditionFailed(
            "determination.other_facility",
            f"Chỉ cơ sở đã đánh giá ({d.facility_id}) mới được kết luận.",
            f"Only the facility that assessed the criteria ({d.facility_id}) may conclude.",
        )
    not_before(concluded_on, d.observed_on, "concluded_on", "ngày đánh giá", "the observation date")
    # Concluding after the maximum duration is still valid, but the delay is on record.
    late = concluded_on > d.due_on(max_days)
    concluded = replace(d, result=assess(d.criteria), concluded_on=concluded_on, late=late)
    person = person.touched()
    return person, concluded, DeterminationConcluded(person, concluded)
