"""Compulsory-rehab dossiers (hồ sơ đề nghị đưa vào cơ sở cai nghiện bắt buộc): opened by commune police,
submitted to the court, decided by the court with a term. Pure rules, judged by the law in force on the
date of each act. Terms the amended law may change are marked (?) in domain.md and live here as data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import Enum

from lienthong.dates import age_on, not_in_future
from lienthong.errors import InvalidInput, PreconditionFailed
from services.registry.domain import law_in_force


class Ground(Enum):
    """Grounds for compulsory rehab (Law 73/2021 Art. 32; minors only the first three)."""

    NO_VOLUNTARY_REHAB = "no_voluntary_rehab"  # did not register, or abandoned voluntary rehab
    USE_DURING_VOLUNTARY_REHAB = "use_during_voluntary_rehab"
    METHADONE_REFUSED_OR_STOPPED = "methadone_refused_or_stopped"  # opioid addict: refused/stopped/terminated
    RELAPSE_IN_AFTERCARE = "relapse_in_aftercare"  # adults only


MINOR_GROUNDS = frozenset(
    {Ground.NO_VOLUNTARY_REHAB, Ground.USE_DURING_VOLUNTARY_REHAB, Ground.METHADONE_REFUSED_OR_STOPPED}
)

# Court terms in months by law version and age group. Law 120/2025 terms are reported, not confirmed (?).
TERM_MONTHS = {
    ("law_73_2021", "adult"): (12, 24),
    ("law_73_2021", "minor"): (6, 12),
    ("law_120_2025", "adult"): (12, 24),
    ("law_120_2025", "minor"): (6, 12),
}
MINOR_FROM, ADULT_FROM = 12, 18


class Status(Enum):
    OPENED = "opened"
    SUBMITTED = "submitted"
    GRANTED = "granted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Dossier:
    dossier_id: str
    person_id: str
    ground: Ground
    opened_on: date
    law_version: str
    minor: bool
    status: Status = Status.OPENED
    submitted_on: date | None = None
    decided_on: date | None = None
    term_months: int | None = None
    facility_code: str | None = None

    @property
    def open(self) -> bool:
        return self.status in {Status.OPENED, Status.SUBMITTED}


def open_dossier(
    *,
    dossier_id: str,
    person_id: str,
    date_of_birth: date,
    ground: str,
    opened_on: date,
    existing: list[Dossier],
    today: date,
) -> Dossier:
    not_in_future(opened_on, today, "opened_on")
    try:
        chosen = Ground(ground)
    except ValueError:
        codes = ", ".join(g.value for g in Ground)
        raise InvalidInput(
            "ground.unknown",
            f"Căn cứ {ground!r} không hợp lệ; các mã: {codes}.",
            f"Ground {ground!r} is not valid; codes: {codes}.",
        ) from None
    age = age_on(date_of_birth, opened_on)
    if age < MINOR_FROM:
        raise PreconditionFailed(
            "dossier.under_12",
            "Không áp dụng biện pháp cai nghiện bắt buộc với người dưới 12 tuổi.",
            "Compulsory rehab does not apply to a person under 12.",
        )
    minor = age < ADULT_FROM
    if minor and chosen not in MINOR_GROUNDS:
        raise PreconditionFailed(
            "dossier.ground_not_for_minors",
            f"Người từ 12 đến dưới 18 tuổi không thể bị đề nghị cai nghiện bắt buộc với căn cứ {chosen.value}.",
            f"A person aged 12 to under 18 cannot be proposed for compulsory rehab on ground {chosen.value}.",
        )
    if any(d.open for d in existing):
        raise PreconditionFailed(
            "dossier.already_open",
            "Người này đã có hồ sơ đề nghị đang xử lý.",
            "This person already has a dossier in progress.",
        )
    return Dossier(dossier_id, person_id, chosen, opened_on, law_in_force(opened_on, "opened_on"), minor)


def submit(dossier: Dossier, *, submitted_on: date, today: date) -> Dossier:
    not_in_future(submitted_on, today, "submitted_on")
    if dossier.status is not Status.OPENED:
        raise PreconditionFailed(
            "dossier.not_opened",
            f"Hồ sơ đang ở trạng thái {dossier.status.value}, không thể nộp.",
            f"The dossier is {dossier.status.value}; only an opened dossier can be submitted.",
        )
    if submitted_on < dossier.opened_on:
        raise InvalidInput(
            "submitted_on.before_opened",
            "Ngày nộp trước ngày lập hồ sơ.",
            "The submission date is before the dossier was opened.",
        )
    return replace(dossier, status=Status.SUBMITTED, submitted_on=submitted_on)


def decide(
    dossier: Dossier, *, decided_on: date, granted: bool, term_months: int, facility_code: str, today: date
) -> Dossier:
    not_in_future(decided_on, today, "decided_on")
    if dossier.status is not Status.SUBMITTED:
        raise PreconditionFailed(
            "dossier.not_submitted",
            "Tòa án chỉ quyết định hồ sơ đã nộp.",
            "The court decides only a submitted dossier.",
        )
    if decided_on < dossier.submitted_on:
        raise InvalidInput(
            "decided_on.before_submitted",
            "Ngày quyết định trước ngày nộp hồ sơ.",
            "The decision date is before the submission date.",
        )
    if not granted:
        return replace(dossier, status=Status.REJECTED, decided_on=decided_on)
    law = law_in_force(decided_on, "decided_on")
    low, high = TERM_MONTHS[(law, "minor" if dossier.minor else "adult")]
    if not low <= term_months <= high:
        who = ("người chưa thành niên", "a minor") if dossier.minor else ("người thành niên", "an adult")
        raise InvalidInput(
            "term_months.out_of_range",
            f"Thời hạn cai nghiện bắt buộc cho {who[0]} theo {law} là {low}-{high} tháng.",
            f"The compulsory term for {who[1]} under {law} is {low} to {high} months.",
        )
    if not facility_code.strip():
        raise InvalidInput(
            "facility_code.required",
            "Quyết định phải nêu cơ sở cai nghiện.",
            "The decision must name the rehab facility.",
        )
    return replace(
        dossier,
        status=Status.GRANTED,
        decided_on=decided_on,
        term_months=term_months,
        facility_code=facility_code.strip(),
    )


@dataclass(frozen=True)
class DossierChanged:
    """Domain event: a dossier was opened, submitted or decided (``dossier.status`` says which)."""

    person: object  # services.registry.domain.Person, after its version bump
    dossier: Dossier
