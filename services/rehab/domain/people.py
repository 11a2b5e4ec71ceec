"""People as rehab knows them, dated settings (law version, operating agency) and shared date checks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from lienthong.agebands import age_band
from lienthong.dated import Dated
from lienthong.errors import InvalidInput

# Which drug law an act is judged by, from the date of the act (domain.md §1).
LAW_VERSIONS: dict[str, str] = {"2022-01-01": "law_73_2021", "2026-07-01": "law_120_2025"}
# Who operates rehab (domain.md §1): Labour (LĐ-TB&XH) until 2025-02-28, the Police from 2025-03-01.
OPERATORS: dict[str, str] = {"2022-01-01": "labour", "2025-03-01": "police"}

UNKNOWN = "unknown"
MINOR_BANDS = ("under_14", "14_to_16", "16_to_18")


def in_force(dated: Dated[str], day: date, field: str) -> str:
    """The dated value on ``day``; a date before the first one is refused as input, not a crash."""
    try:
        return dated.at(day)
    except ValueError:
        first = dated.changes()[0][0].isoformat()
        raise InvalidInput(
            f"{field}.before_law",
            f"{field} ({day.isoformat()}) trước ngày luật áp dụng cho hồ sơ cai nghiện có hiệu lực ({first}).",
            f"{field} ({day.isoformat()}) is before the first law rehab records are judged by ({first}).",
        ) from None


@dataclass(frozen=True)
class Identity:
    """What the person or their file tells rehab; never leaves rehab."""

    citizen_id: str
    full_name: str
    date_of_birth: date


@dataclass(frozen=True)
class Person:
    """Known by pseudonym; ``identity`` is None while rehab knows them only from the registry's court
    decision, and then ``age_band`` is the band that event carried."""

    person_id: str
    pseudonym: str
    sex: str  # male, female or unknown
    commune_code: str
    province_code: str
    identity: Identity | None = None
    age_band: str = UNKNOWN
    version: int = 0

    def band_on(self, day: date) -> str:
        return age_band(self.identity.date_of_birth, day) if self.identity else self.age_band

    def touched(self) -> Person:
        return replace(self, version=self.version + 1)
