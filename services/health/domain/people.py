"""People as health knows them, the law in force by date, and checks shared by every rule."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from lienthong.agebands import age_band
from lienthong.dated import Dated
from lienthong.dates import not_before
from lienthong.errors import InvalidInput

# Which drug law a health record is judged by, from the date of the act (domain.md §1).
LAW_VERSIONS: dict[str, str] = {"2022-01-01": "law_73_2021", "2026-07-01": "law_120_2025"}

UNKNOWN = "unknown"


def law_version(laws: Dated[str], day: date, field: str) -> str:
    try:
        return laws.at(day)
    except ValueError:
        first = laws.changes()[0][0].isoformat()
        raise InvalidInput(
            f"{field}.before_law",
            f"{field} ({day.isoformat()}) trước ngày luật áp dụng cho hồ sơ y tế có hiệu lực ({first}).",
            f"{field} ({day.isoformat()}) is before the first law health records are judged by ({first}).",
        ) from None


@dataclass(frozen=True)
class Identity:
    """What the person tells health in person; never leaves health."""

    citizen_id: str
    full_name: str
    date_of_birth: date


@dataclass(frozen=True)
class Person:
    """Known by pseudonym; ``identity`` is None while health knows them only from another department's
    event, and then ``age_band`` is the band that event carried."""

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


def not_before_birth(person: Person, day: date, field: str) -> None:
    if person.identity and day < person.identity.date_of_birth:
        not_before(day, person.identity.date_of_birth, field, "ngày sinh", "the date of birth")
