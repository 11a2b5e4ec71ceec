"""The indicator catalogue: a versioned TOML file read and checked into frozen definitions.

Every name in the file is checked against what reporting keeps (``steps.CATALOGUE``): an unknown event
type, code or breakdown is refused with the place it was found, so a typo never silently counts zero.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from services.reporting.steps import CATALOGUE as STEP_SHAPES

DEFAULT_PATH = Path(__file__).with_name("catalogue.toml")
COUNTS = ("people", "events", "communes")
SPELL_AT = ("start", "end", "during")
UNIT_BREAKDOWNS = ("sex", "age_band", "commune")


class CatalogueError(ValueError):
    """The catalogue (or a plan naming it) is wrong; the message says where."""


@dataclass(frozen=True)
class Selector:
    event: str
    where: tuple[tuple[str, frozenset[str]], ...] = ()

    def matches(self, event_type: str, codes: dict[str, str]) -> bool:
        return event_type == self.event and all(codes.get(name) in values for name, values in self.where)


@dataclass(frozen=True)
class SpellRule:
    start: frozenset[str]
    end: frozenset[str]
    planned_end: str | None
    at: str


@dataclass(frozen=True)
class FollowedBy:
    select: tuple[Selector, ...]
    within_days: int


@dataclass(frozen=True)
class Measure:
    select: tuple[Selector, ...] = ()
    spells: tuple[SpellRule, ...] = ()
    followed_by: FollowedBy | None = None
    with_step: tuple[Selector, ...] = ()

    def event_types(self) -> set[str]:
        types = {s.event for s in self.select} | {s.event for s in self.with_step}
        for spell in self.spells:
            types |= spell.start | spell.end
        if self.followed_by:
            types |= {s.event for s in self.followed_by.select}
        return types

    @property
    def reach_days(self) -> int:
        """How far after the period a fact can still count (a follow-up inside the window)."""
        return self.followed_by.within_days if self.followed_by else 0


@dataclass(frozen=True)
class Indicator:
    indicator_id: str
    ref: str
    name_vi: str
    name_en: str
    counts: str
    breakdowns: tuple[str, ...]
    numerator: Measure
    denominator: Measure | None = None

    @property
    def kind(self) -> str:
        return "share" if self.denominator else "count"

    def measures(self) -> tuple[Measure, ...]:
        return (self.numerator,) if self.denominator is None else (self.numerator, self.denominator)


@dataclass(frozen=True)
class Catalogue:
    version: str
    indicators: dict[str, Indicator]

    def get(self, indicator_id: str) -> Indicator:
        try:
            return self.indicators[indicator_id]
        except KeyError:
            raise CatalogueError(f"unknown indicator {indicator_id!r}") from None


def load(path: Path = DEFAULT_PATH) -> Catalogue:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path.name}: not valid TOML: {exc}") from None
    return parse(data, source=path.name)


def parse(data: dict[str, Any], *, source: str = "catalogue") -> Catalogue:
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise CatalogueError(f"{source}: `version` must be a non-empty string")
    indicators: dict[str, Indicator] = {}
    for index, item in enumerate(_list(data, "indicator", source)):
        where = f"{source}: indicator[{index}]"
        indicator = _indicator(item, where)
        if indicator.indicator_id in indicators:
            raise CatalogueError(f"{where}: id {indicator.indicator_id!r} is used twice")
        indicators[indicator.indicator_id] = indicator
    if not indicators:
        raise CatalogueError(f"{source}: no [[indicator]] tables")
    return Catalogue(version, indicators)


def _list(data: dict, key: str, where: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: `{key}` must be a list")
    return value


def _text(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: `{key}` must be a non-empty string")
    return value


def _indicator(item: dict, where: str) -> Indicator:
    indicator_id = _text(item, "id", where)
    where = f"{where} {indicator_id!r}"
    name = item.get("name")
    if not isinstance(name, dict):
        raise CatalogueError(f"{where}: `name` must have `vi` and `en`")
    counts = item.get("counts")
    if counts not in COUNTS:
        raise CatalogueError(f"{where}: `counts` must be one of {', '.join(COUNTS)}, not {counts!r}")
    if "numerator" not in item:
        raise CatalogueError(f"{where}: `numerator` is missing")
    numerator = _measure(item["numerator"], f"{where}: numerator")
    denominator = _measure(item["denominator"], f"{where}: denominator") if "denominator" in item else None
    breakdowns = tuple(_list(item, "breakdowns", where))
    indicator = Indicator(
        indicator_id=indicator_id,
        ref=str(item.get("ref", "")),
        name_vi=_text(name, "vi", f"{where}: name"),
        name_en=_text(name, "en", f"{where}: name"),
        counts=counts,
        breakdowns=breakdowns,
        numerator=numerator,
        denominator=denominator,
    )
    for breakdown in breakdowns:
        if breakdown not in UNIT_BREAKDOWNS and not _code_everywhere(indicator, breakdown):
            raise CatalogueError(
                f"{where}: breakdown {breakdown!r} is neither one of {', '.join(UNIT_BREAKDOWNS)} "
                "nor a code every counted event carries"
            )
    return indicator


def _code_everywhere(indicator: Indicator, code: str) -> bool:
    counted = [s.event for m in indicator.measures() for s in m.select]
    counted += [e for m in indicator.measures() for spell in m.spells for e in spell.start]
    return bool(counted) and all(code in STEP_SHAPES[event].codes for event in counted)


def _measure(item: Any, where: str) -> Measure:
    if not isinstance(item, dict):
        raise CatalogueError(f"{where}: must be a table")
    unknown = set(item) - {"select", "spell", "followed_by", "with_step"}
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    select = _selectors(item.get("select", []), f"{where}.select")
    spells_raw = item.get("spell", [])
    spells = tuple(
        _spell(s, f"{where}.spell[{i}]")
        for i, s in enumerate(spells_raw if isinstance(spells_raw, list) else [spells_raw])
    )
    if bool(select) == bool(spells):
        raise CatalogueError(f"{where}: needs exactly one of `select` or `spell`")
    followed = item.get("followed_by")
    followed_by = None
    if followed is not None:
        days = followed.get("within_days") if isinstance(followed, dict) else None
        if not isinstance(days, int) or isinstance(days, bool) or not 0 < days <= 3660:
            raise CatalogueError(
                f"{where}.followed_by: `within_days` must be a whole number of days, 1 to 3660"
            )
        followed_by = FollowedBy(_selectors(followed.get("select", []), f"{where}.followed_by.select"), days)
        if not followed_by.select:
            raise CatalogueError(f"{where}.followed_by: `select` is empty")
    return Measure(select, spells, followed_by, _selectors(item.get("with_step", []), f"{where}.with_step"))


def _selectors(items: Any, where: str) -> tuple[Selector, ...]:
    if not isinstance(items, list):
        raise CatalogueError(f"{where}: must be a list of {{ event = …, where = … }}")
    return tuple(_selector(item, f"{where}[{i}]") for i, item in enumerate(items))


def _event(value: Any, where: str) -> str:
    if value not in STEP_SHAPES:
        raise CatalogueError(f"{where}: {value!r} is not an event type reporting keeps")
    return value


def _selector(item: Any, where: str) -> Selector:
    if not isinstance(item, dict):
        raise CatalogueError(f"{where}: must be a table")
    event = _event(item.get("event"), f"{where}.event")
    conditions = item.get("where", {})
    if not isinstance(conditions, dict):
        raise CatalogueError(f"{where}.where: must be a table of code = [values]")
    checked = []
    for code, values in sorted(conditions.items()):
        if code not in STEP_SHAPES[event].codes:
            raise CatalogueError(
                f"{where}.where: {event} carries no code {code!r} (it carries {', '.join(STEP_SHAPES[event].codes) or 'none'})"
            )
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise CatalogueError(f"{where}.where.{code}: must be a non-empty list of strings")
        checked.append((code, frozenset(values)))
    return Selector(event, tuple(checked))


def _spell(item: Any, where: str) -> SpellRule:
    if not isinstance(item, dict):
        raise CatalogueError(f"{where}: must be a table")
    start = frozenset(_event(e, f"{where}.start") for e in item.get("start", []))
    end = frozenset(_event(e, f"{where}.end") for e in item.get("end", []))
    if not start:
        raise CatalogueError(f"{where}: `start` is empty")
    planned_end = item.get("planned_end")
    if planned_end is not None and not all(planned_end in STEP_SHAPES[e].codes for e in start):
        raise CatalogueError(f"{where}: planned_end {planned_end!r} is not a code of every start event")
    at = item.get("at")
    if at not in SPELL_AT:
        raise CatalogueError(f"{where}: `at` must be one of {', '.join(SPELL_AT)}, not {at!r}")
    return SpellRule(start, end, planned_end, at)


def check_date(value: Any, where: str) -> date:
    """Dates in data files: TOML dates, or ISO text."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CatalogueError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None
