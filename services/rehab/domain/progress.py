"""What happens during an admission: stages only forward (Art. 29), vocational training at a facility,
reduction of a compulsory term after half of it, discharge with a reason (completion only when the stages
and the term allow it), and the return of a person who absconded, which reopens the same admission."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from lienthong.dates import not_before, not_in_future
from lienthong.errors import InvalidInput
from services.rehab.domain.admissions import (
    Admission,
    Discharged,
    Returned,
    Status,
    TrainingGiven,
    refuse,
)
from services.rehab.domain.facilities import Facility, check_admits
from services.rehab.domain.people import Person
from services.rehab.domain.terms import STAGES, DischargeReason, Rules, Stage, stages_required


def _admitted(admission: Admission) -> None:
    if admission.status is not Status.ADMITTED:
        raise refuse(
            "admission.not_admitted",
            f"Đợt cai nghiện {admission.admission_id} không đang diễn ra ({admission.status.value}).",
            f"Admission {admission.admission_id} is not in progress ({admission.status.value}).",
        )


def _during(admission: Admission, day: date, field: str, today: date) -> None:
    _admitted(admission)
    not_in_future(day, today, field)
    not_before(day, admission.admitted_on, field, "ngày tiếp nhận", "the admission date")


def advance(admission: Admission, to: Stage, *, on: date, today: date) -> Admission:
    _during(admission, on, "on", today)
    index = STAGES.index(admission.stage)
    if index + 1 >= len(STAGES) or STAGES[index + 1] is not to:
        raise refuse(
            "stage.order",
            f"Giai đoạn chỉ tiến lần lượt từng bước; hiện tại là {admission.stage.value}.",
            f"Stages go forward one at a time; the current stage is {admission.stage.value}.",
        )
    not_before(
        on, admission.stage_on, "on", "ngày bắt đầu giai đoạn hiện tại", "the start of the current stage"
    )
    return replace(admission, stage=to, stage_on=on)


def give_training(
    person: Person, admission: Admission, *, given_on: date, trade: str, today: date
) -> tuple[Person, TrainingGiven]:
    _during(admission, given_on, "given_on", today)
    if not admission.kind.at_facility:
        raise refuse(
            "training.not_at_facility",
            "Dạy nghề chỉ ghi nhận cho người cai nghiện tại cơ sở.",
            "Vocational training is recorded only for rehab at a facility.",
        )
    person = person.touched()
    return person, TrainingGiven(person, admission, given_on, trade)


def reduce_term(
    admission: Admission, *, months: int, decided_on: date, rules: Rules, today: date
) -> Admission:
    _during(admission, decided_on, "decided_on", today)
    if not admission.kind.compulsory:
        raise refuse(
            "reduction.not_compulsory",
            "Chỉ giảm thời hạn cho người cai nghiện bắt buộc.",
            "Only a compulsory rehab term can be reduced.",
        )
    if admission.reduced_months:
        raise refuse(
            "reduction.already",
            f"Thời hạn đã được giảm {admission.reduced_months} tháng ngày {admission.reduced_on.isoformat()}.",
            f"The term was already reduced by {admission.reduced_months} months on "
            f"{admission.reduced_on.isoformat()}.",
        )
    low, high = rules.reduction_min_months, rules.reduction_max_months
    if not low <= months <= high or months >= admission.term_months:
        raise InvalidInput(
            "months.out_of_range",
            f"Được giảm {low}-{high} tháng và ít hơn thời hạn ({admission.term_months} tháng); nhận được {months}.",
            f"A reduction is {low}-{high} months and less than the term ({admission.term_months} months); "
            f"got {months}.",
        )
    if decided_on < admission.half_served_on:
        raise refuse(
            "reduction.before_half",
            f"Chỉ được giảm sau khi chấp hành một nửa thời hạn (từ {admission.half_served_on.isoformat()}).",
            f"A reduction is possible only after half the term is served (from "
            f"{admission.half_served_on.isoformat()}).",
        )
    return replace(admission, reduced_months=months, reduced_on=decided_on)


def discharge(
    person: Person, admission: Admission, *, reason: DischargeReason, on: date, today: date
) -> tuple[Person, Admission, Discharged]:
    if admission.status is Status.ABSCONDED:
        # After absconding only an end that is not a completion closes the file (prison, death, ...).
        if reason.completes or reason is DischargeReason.ABSCONDED:
            raise refuse(
                "admission.absconded",
                f"Người này đã bỏ trốn ngày {admission.absconded_on.isoformat()}: ghi nhận trở lại trước.",
                f"The person absconded on {admission.absconded_on.isoformat()}: record the return first.",
            )
        not_in_future(on, today, "discharged_on")
        not_before(on, admission.absconded_on, "discharged_on", "ngày bỏ trốn", "the day of absconding")
    else:
        _during(admission, on, "discharged_on", today)
    if reason is DischargeReason.SELF_TERMINATED and admission.kind.compulsory:
        raise refuse(
            "reason.self_terminated_compulsory",
            "Tự chấm dứt chỉ áp dụng với cai nghiện tự nguyện.",
            "Self-termination applies only to voluntary rehab.",
        )
    if reason is DischargeReason.TERM_REDUCED and not admission.reduced_months:
        raise refuse(
            "reason.not_reduced",
            "Chưa có quyết định giảm thời hạn cho đợt này.",
            "No term reduction was recorded for this admission.",
        )
    if reason.completes:
        needed = stages_required(admission.kind)
        if STAGES.index(admission.stage) < STAGES.index(needed):
            raise refuse(
                "discharge.stages_incomplete",
                f"Cai nghiện {admission.kind.value} phải qua đến giai đoạn {needed.value} mới hoàn thành; "
                f"hiện tại là {admission.stage.value}.",
                f"{admission.kind.value} rehab must reach stage {needed.value} to complete; "
                f"the current stage is {admission.stage.value}.",
            )
        if on < admission.planned_end:
            raise refuse(
                "discharge.term_not_served",
                f"Chưa hết thời hạn: hoàn thành từ ngày {admission.planned_end.isoformat()}.",
                f"The term is not served yet: completion from {admission.planned_end.isoformat()}.",
            )
    if reason is DischargeReason.ABSCONDED:
        ended = replace(admission, status=Status.ABSCONDED, absconded_on=on)
    else:
        ended = replace(admission, status=Status.DISCHARGED)
    ended = replace(ended, discharged_on=on, discharge_reason=reason)
    person = person.touched()
    return person, ended, Discharged(person, ended)


def record_return(
    person: Person,
    admission: Admission,
    facility: Facility | None,
    occupancy: int,
    *,
    returned_on: date,
    today: date,
) -> tuple[Person, Admission, Returned]:
    if admission.status is not Status.ABSCONDED:
        raise refuse(
            "admission.not_absconded",
            f"Đợt cai nghiện {admission.admission_id} không ở trạng thái bỏ trốn.",
            f"Admission {admission.admission_id} is not absconded.",
        )
    not_in_future(returned_on, today, "returned_on")
    not_before(returned_on, admission.absconded_on, "returned_on", "ngày bỏ trốn", "the day of absconding")
    if facility is not None:
        check_admits(facility, admission.kind, occupancy)
    back = replace(
        admission,
        status=Status.ADMITTED,
        absent_days=admission.absent_days + (returned_on - admission.absconded_on).days,
        absconded_on=None,
        discharged_on=None,
        discharge_reason=None,
    )
    person = person.touched()
    return person, back, Returned(person, back, returned_on)
