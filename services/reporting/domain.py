"""The management list over time (indicator 9 of the brief): who is under management in which commune,
counted over a period. Pure: dates in, counts out.

A management spell runs from its decision day D to its effective end E, the first day no longer under
management: the early end if there was one on or before the expiry date, else the expiry date (reason
``expired``). A person is under management on day d iff D <= d < E. Over a period [S, P] (both inclusive):

* at_period_start: under management on the day before S  (D < S <= E)
* new_in_period:   decided in the period                  (S <= D <= P)
* ended_in_period: management stopped in the period      (S <= E <= P), by reason
* at_period_end:   under management on P                  (D <= P < E)

so that ``at_end == at_start + new - ended`` always holds and consecutive periods chain.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from lienthong import units
from lienthong.errors import InvalidInput

EXPIRED = "expired"
TOTAL_LABEL = "Tổng cộng"


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidInput(
                "period.order",
                f"Ngày kết thúc kỳ báo cáo ({self.end}) trước ngày bắt đầu ({self.start}).",
                f"The period ends ({self.end}) before it starts ({self.start}).",
            )


@dataclass(frozen=True)
class Spell:
    """One management decision as reporting knows it: counted in the commune its decision carried."""

    commune_code: str
    province_code: str
    decided_on: date
    expires_on: date
    ended_on: date | None = None
    end_reason: str | None = None

    @property
    def end(self) -> date:
        return spell_end(self.decided_on, self.expires_on, self.ended_on, self.end_reason)[0]

    @property
    def reason(self) -> str:
        return spell_end(self.decided_on, self.expires_on, self.ended_on, self.end_reason)[1]

    def under_management_on(self, day: date) -> bool:
        return self.decided_on <= day < self.end


def spell_end(
    decided_on: date, expires_on: date, ended_on: date | None, end_reason: str | None
) -> tuple[date, str]:
    """Effective end (first day not under management) and its reason.

    An end recorded before the decision contradicts itself; it is read as ending on the decision day (no
    day under management) so the spell still counts as new and ended and the period identity holds
    whatever order the two events arrived in.
    """
    if ended_on is not None and ended_on <= expires_on:
        end, reason = ended_on, end_reason or "unspecified"
    else:
        end, reason = expires_on, EXPIRED
    return max(end, decided_on), reason


@dataclass(frozen=True)
class Counts:
    at_start: int = 0
    new: int = 0
    ended: Mapping[str, int] = field(default_factory=dict)
    at_end: int = 0

    @property
    def ended_total(self) -> int:
        return sum(self.ended.values())

    def __add__(self, other: Counts) -> Counts:
        ended = dict(self.ended)
        for reason, n in other.ended.items():
            ended[reason] = ended.get(reason, 0) + n
        return Counts(self.at_start + other.at_start, self.new + other.new, ended, self.at_end + other.at_end)


def contribution(spell: Spell, period: Period) -> Counts:
    d, e, s, p = spell.decided_on, spell.end, period.start, period.end
    return Counts(
        at_start=int(d < s <= e),
        new=int(s <= d <= p),
        ended={spell.reason: 1} if s <= e <= p else {},
        at_end=int(d <= p < e),
    )


def counts_by_commune(spells: Iterable[Spell], period: Period) -> dict[tuple[str, str], Counts]:
    """Counts per (commune code, province code), only for communes with a spell touching the period."""
    result: dict[tuple[str, str], Counts] = {}
    for spell in spells:
        if spell.decided_on > period.end or spell.end < period.start:
            continue
        key = (spell.commune_code, spell.province_code)
        result[key] = result.get(key, Counts()) + contribution(spell, period)
    return result


def commune_name(code: str) -> str:
    """Official name of a commune, or "" for a code the current list no longer has (kept, not dropped)."""
    try:
        return units.commune(code).name
    except InvalidInput:
        return ""


# Vietnamese alphabetical order: ă, â after a; đ after d; ê after e; ô, ơ after o; ư after u; tones are
# secondary (ngang, huyền, hỏi, ngã, sắc, nặng). Code-point order would put "Ân" after "Yên".
_ALPHABET = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}


def vietnamese_sort_key(text: str) -> tuple:
    letters: list[tuple[int, int]] = []
    tones: list[int] = []
    for char in unicodedata.normalize("NFC", text.lower()):
        parts = unicodedata.normalize("NFD", char)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES))
        tone = next((_TONES[c] for c in parts if c in _TONES), 0)
        rank = _ALPHABET.find(base)
        letters.append((1, rank) if rank >= 0 and len(base) == 1 else (0, ord(base[0])))
        tones.append(tone)
    return (letters, tones, text)


@dataclass(frozen=True)
class ReportRow:
    commune_code: str
    commune_name: str
    province_code: str
    counts: Counts


@dataclass(frozen=True)
class ManagementReport:
    period: Period
    rows: tuple[ReportRow, ...]
    total: ReportRow


def build_report(
    period: Period,
    counts: Mapping[tuple[str, str], Counts],
    *,
    requested: Iterable[str] = (),
    province_code: str = "",
) -> ManagementReport:
    """One row per commune with data, plus a zero row for each requested commune that has none.

    ``requested`` holds official codes only (the edge checks them).
    """
    merged: dict[tuple[str, str], Counts] = dict(counts)
    for code in requested:
        if not any(key[0] == code for key in merged):
            merged[(code, units.commune(code).province_code)] = Counts()
    rows = [
        ReportRow(code, commune_name(code), province, figures) for (code, province), figures in merged.items()
    ]
    rows.sort(key=lambda r: (r.province_code, vietnamese_sort_key(r.commune_name), r.commune_code))
    total = sum((r.counts for r in rows), Counts())
    return ManagementReport(period, tuple(rows), ReportRow("", TOTAL_LABEL, province_code, total))
