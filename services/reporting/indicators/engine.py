"""Indicator values from steps: which facts count, per group, for a period. Pure.

A counted item is a step (an act) or, for a spell, the step that opened it; its sex, age band and commune
are those on the date of that act, so a later move never rewrites an earlier period. People are counted
once per group and once in the total, even when they appear in several groups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from lienthong.dates import add_years
from services.reporting.domain import Period
from services.reporting.indicators.catalogue import Indicator, Measure, Selector, SpellRule
from services.reporting.steps import Step

TOTAL = ""


@dataclass(frozen=True)
class Value:
    group: str  # the breakdown value; TOTAL for the whole unit
    numerator: int
    denominator: int | None = None  # None for a count

    @property
    def value(self) -> float | None:
        if self.denominator is None:
            return float(self.numerator)
        return 100.0 * self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class Result:
    indicator_id: str
    values: tuple[Value, ...]
    previous: tuple[Value, ...] = ()

    def total(self) -> Value:
        return self.values[0]

    def previous_of(self, group: str) -> Value | None:
        return next((v for v in self.previous if v.group == group), None)


class Facts:
    """Steps indexed once for every indicator of one request."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps = sorted(steps, key=lambda s: (s.occurred_on, s.recorded_at, s.event_id))
        self.codes = {s.event_id: dict(s.codes) for s in self.steps}
        self.by_type: dict[str, list[Step]] = defaultdict(list)
        for step in self.steps:
            self.by_type[step.event_type].append(step)

    def matching(self, selectors: Sequence[Selector], period: Period | None = None) -> list[Step]:
        found = []
        for selector in selectors:
            for step in self.by_type.get(selector.event, ()):
                if period and not period.start <= step.occurred_on <= period.end:
                    continue
                if selector.matches(step.event_type, self.codes[step.event_id]):
                    found.append(step)
        return found


def compute(
    indicator: Indicator,
    facts: Facts,
    period: Period,
    *,
    breakdown: str = "",
    compare_previous_year: bool = False,
) -> Result:
    values = _values(indicator, facts, period, breakdown)
    previous: tuple[Value, ...] = ()
    if compare_previous_year:
        earlier = Period(add_years(period.start, -1), add_years(period.end, -1))
        previous = _values(indicator, facts, earlier, breakdown)
    return Result(indicator.indicator_id, values, previous)


def _values(indicator: Indicator, facts: Facts, period: Period, breakdown: str) -> tuple[Value, ...]:
    numerator = _grouped(indicator, items(indicator.numerator, facts, period), facts, breakdown)
    if indicator.denominator is None:
        return tuple(Value(group, n) for group, n in numerator)
    denominator = dict(_grouped(indicator, items(indicator.denominator, facts, period), facts, breakdown))
    groups = list(denominator) + [g for g, _ in numerator if g not in denominator]
    counted = dict(numerator)
    return tuple(Value(group, counted.get(group, 0), denominator.get(group, 0)) for group in groups)


def items(measure: Measure, facts: Facts, period: Period) -> list[Step]:
    """The acts (or spell openings) a measure counts in a period."""
    if measure.select:
        found = facts.matching(measure.select, period)
    else:
        found = [step for rule in measure.spells for step in _open_spells(rule, facts, period)]
    if measure.followed_by:
        rule = measure.followed_by
        later = defaultdict(list)
        for step in facts.matching(rule.select):
            later[step.pseudonym].append(step.occurred_on)
        found = [
            s
            for s in found
            if any(
                s.occurred_on <= d <= s.occurred_on + timedelta(days=rule.within_days)
                for d in later[s.pseudonym]
            )
        ]
    if measure.with_step:
        people = {s.pseudonym for s in facts.matching(measure.with_step, period)}
        found = [s for s in found if s.pseudonym in people]
    return found


def spell_end(start: Step, end: Step | None, planned: date | None) -> date | None:
    """The first day the record is no longer open: the end act if it came by the planned end, else the
    planned end; never before the start. None while open with no planned end."""
    if end is not None and (planned is None or end.occurred_on <= planned):
        finish = end.occurred_on
    else:
        finish = planned
    return max(finish, start.occurred_on) if finish else None


def _open_spells(rule: SpellRule, facts: Facts, period: Period) -> list[Step]:
    ends: dict[str, Step] = {}
    for event in rule.end:
        for step in facts.by_type.get(event, ()):
            known = ends.get(step.record_id)
            # A corrected end replaces the earlier one: the one recorded last wins.
            if known is None or (step.recorded_at, step.event_id) > (known.recorded_at, known.event_id):
                ends[step.record_id] = step
    found = []
    for event in rule.start:
        for start in facts.by_type.get(event, ()):
            planned = None
            if rule.planned_end:
                value = facts.codes[start.event_id].get(rule.planned_end)
                planned = date.fromisoformat(value) if value else None
            finish = spell_end(start, ends.get(start.record_id), planned)
            if _open(rule.at, start.occurred_on, finish, period):
                found.append(start)
    return found


def _open(at: str, begun: date, finish: date | None, period: Period) -> bool:
    # The same rule as the management report: open on day d iff begun <= d < finish.
    if at == "start":  # open on the day before the period (so that periods chain)
        return begun < period.start and (finish is None or finish >= period.start)
    if at == "end":
        return begun <= period.end and (finish is None or finish > period.end)
    return begun <= period.end and (finish is None or finish > max(begun, period.start))


def group_of(step: Step, codes: dict[str, str], breakdown: str) -> str:
    if breakdown == "sex":
        return step.sex or "unknown"
    if breakdown == "age_band":
        return step.age_band or "unknown"
    if breakdown == "commune":
        return step.commune_code
    return codes.get(breakdown, "")


def _key(indicator: Indicator, step: Step):
    if indicator.counts == "people":
        return step.pseudonym
    if indicator.counts == "communes":
        return step.commune_code
    return step.event_id


def _grouped(indicator: Indicator, found: list[Step], facts: Facts, breakdown: str) -> list[tuple[str, int]]:
    total: set = set()
    groups: dict[str, set] = defaultdict(set)
    for step in found:
        key = _key(indicator, step)
        if key is None:  # an act about a commune does not count as a person
            continue
        total.add(key)
        if breakdown:
            groups[group_of(step, facts.codes[step.event_id], breakdown)].add(key)
    return [(TOTAL, len(total))] + [(group, len(keys)) for group, keys in sorted(groups.items())]


def event_types(indicators: Iterable[Indicator]) -> set[str]:
    return {event for indicator in indicators for m in indicator.measures() for event in m.event_types()}


def reach_days(indicators: Iterable[Indicator]) -> int:
    return max((m.reach_days for i in indicators for m in i.measures()), default=0)
