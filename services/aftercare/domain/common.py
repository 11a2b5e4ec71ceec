"""What every aftercare rule shares: people known only by pseudonym, the dated law and operator, date
checks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from lienthong.dated import Dated
from lienthong.errors import InvalidInput

# Which drug law an act is judged by, from its date (domain.md §1).
LAW_VERSIONS: dict[str, str] = {"2022-01-01": "law_73_2021", "2026-07-01": "law_120_2025"}
# Who operates aftercare (domain.md §1, Decree 02/2025): Labour until 2025-02-28, the Police from 2025-03-01.
OPERATORS: dict[str, str] = {"2022-01-01": "labour", "2025-03-01": "police"}

UNKNOWN = "unknown"
MINOR_BANDS = frozenset({"under_14", "14_to_16", "16_to_18"})


def is_adult(age_band: str) -> bool:
    """An unknown band counts as adult: it gives the longer compulsory term, so nobody leaves early and a
    relapse is never hidden from the registry."""
    return age_band not in MINOR_BANDS


def dated_value(values: Dated[str], day: date, field: str, what_vi: str, what_en: str) -> str:
    """The value in force on ``day`` (law version, operating agency); refused before the first one."""
    try:
        return values.at(day)
    except ValueError:
        first = values.changes()[0][0].isoformat()
        raise InvalidInput(
            f"{field}.before_law",
            f"{field} ({day.isoformat()}) trước ngày {what_vi} ({first}).",
            f"{field} ({day.isoformat()}) is before {what_en} ({first}).",
        ) from None


@dataclass(frozen=True)
class Person:
    """Aftercare never sees citizen IDs or names: it knows people by pseudonym from the completion event.
    ``age_band`` and ``sex`` are those the latest event carried."""

    person_id: str
    pseudonym: str
    sex: str  # male, female or unknown
    age_band: str = UNKNOWN
    version: int = 0

    def touched(self) -> Person:
        return replace(self, version=self.version + 1)


def parse_code(value: str, codes: tuple[str, ...], field: str, what_vi: str, what_en: str) -> str:
    code = value.strip().lower()
    if code not in codes:
        listed = ", ".join(codes)
        raise InvalidInput(
            f"{field}.unknown",
            f"{what_vi} {value[:60]!r} không hợp lệ; các mã hợp lệ: {listed}.",
            f"{what_en} {value[:60]!r} is not valid; valid codes: {listed}.",
        )
    return code
