"""Kinds of rehab, their terms by law version, stages and discharge reasons (Law 73/2021 Arts. 28-33;
Law on Handling Administrative Violations Art. 95; Decree 116/2021). The ranges are settings because
Law 120/2025 is reported to change them (24 months first time, 36 after (?)) and the final text is not
confirmed: the defaults keep Law 73's ranges for both versions until it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from lienthong.errors import InvalidInput


class Kind(Enum):
    COMPULSORY = "compulsory"
    VOLUNTARY_FACILITY = "voluntary_facility"
    VOLUNTARY_FAMILY = "voluntary_family"
    VOLUNTARY_COMMUNITY = "voluntary_community"

    @property
    def compulsory(self) -> bool:
        return self is Kind.COMPULSORY

    @property
    def at_facility(self) -> bool:
        return self in (Kind.COMPULSORY, Kind.VOLUNTARY_FACILITY)


class Stage(Enum):
    """Art. 29: the five stages, in order."""

    INTAKE = "intake"
    DETOX_TREATMENT = "detox_treatment"
    EDUCATION_COUNSELLING = "education_counselling"
    LABOUR_VOCATIONAL = "labour_vocational"
    REINTEGRATION_PREPARATION = "reintegration_preparation"


STAGES = list(Stage)


def stages_required(kind: Kind) -> Stage:
    """The last stage an admission must have reached to complete: all five for compulsory rehab, at least
    the first three for voluntary rehab (Art. 29)."""
    return Stage.REINTEGRATION_PREPARATION if kind.compulsory else Stage.EDUCATION_COUNSELLING


class DischargeReason(Enum):
    COMPLETED = "completed"
    TERM_REDUCED = "term_reduced"
    TRANSFERRED = "transferred"
    ABSCONDED = "absconded"
    SELF_TERMINATED = "self_terminated"
    VIOLATION = "violation"
    TO_PRISON = "to_prison"
    DIED = "died"
    OTHER = "other"

    @property
    def completes(self) -> bool:
        """The person finished rehab (aftercare opens)."""
        return self in (DischargeReason.COMPLETED, DischargeReason.TERM_REDUCED)


# Term ranges in months by the key of ``term_key``; Law 73/2021 values.
LAW_73_TERMS: dict[str, tuple[int, int]] = {
    "voluntary_family": (6, 12),
    "voluntary_community": (6, 12),
    "voluntary_facility": (6, 12),
    "compulsory_adult": (12, 24),
    "compulsory_minor": (6, 12),
}
DEFAULT_TERMS: dict[str, dict[str, tuple[int, int]]] = {
    "law_73_2021": dict(LAW_73_TERMS),
    "law_120_2025": dict(LAW_73_TERMS),
}


@dataclass(frozen=True)
class Rules:
    """Terms by law version and kind, and the reduction of a compulsory term; values come from settings."""

    terms: Mapping[str, Mapping[str, tuple[int, int]]] = field(default_factory=lambda: DEFAULT_TERMS)
    reduction_min_months: int = 3
    reduction_max_months: int = 6

    def term_range(self, law_version: str, kind: Kind, minor: bool) -> tuple[int, int]:
        return tuple(self.terms[law_version][term_key(kind, minor)])


def term_key(kind: Kind, minor: bool) -> str:
    if kind.compulsory:
        return "compulsory_minor" if minor else "compulsory_adult"
    return kind.value


def _parse(enum, value: str, field_name: str):
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(e.value for e in enum)
        raise InvalidInput(
            f"{field_name}.unknown",
            f"{field_name} {value[:40]!r} không có trong danh mục ({known}).",
            f"{field_name} {value[:40]!r} is not one of: {known}.",
        ) from None


def parse_kind(value: str) -> Kind:
    return _parse(Kind, value, "kind")


def parse_stage(value: str) -> Stage:
    return _parse(Stage, value, "to_stage")


def parse_reason(value: str) -> DischargeReason:
    return _parse(DischargeReason, value, "reason")


def check_term(rules: Rules, law_version: str, kind: Kind, minor: bool, months: int) -> None:
    low, high = rules.term_range(law_version, kind, minor)
    if not low <= months <= high:
        who_vi = " (người chưa thành niên)" if kind.compulsory and minor else ""
        who_en = " (minor)" if kind.compulsory and minor else ""
        raise InvalidInput(
            "term_months.out_of_range",
            f"Thời hạn {kind.value}{who_vi} theo {law_version} là {low}-{high} tháng (nhận được {months}).",
            f"The term of {kind.value}{who_en} under {law_version} is {low}-{high} months (got {months}).",
        )
