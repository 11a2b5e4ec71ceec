"""What the alert rules work with: the rule book, the facts known on a date, clocks and alerts. Pure.

Each rule (``domain``) finds *clocks*: an act that started a wait (a completion, a request, a term that
ran out) with the date it should have been answered by. A clock becomes an alert with the law version in
force on the day it started, the owning department to contact, the commune where the person lives (the
unit of their latest act known on ``as_of``) and a message in Vietnamese and English.

Only acts dated on or before ``as_of`` count, so a past date shows the list as it stood then with what is
known now; the result never depends on the order the steps are given in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType

from services.reporting.steps import Step

# The rules in the order a list shows them when everything else is equal.
RULE_NAMES = (
    "completer_without_aftercare",
    "management_term_ended_not_closed",
    "determination_overdue",
    "methadone_dropout",
    "positive_test_in_256a_window",
    "move_reported_late",
    "aftercare_past_term_without_certificate",
)
DEPARTMENTS = ("registry", "health", "rehab", "aftercare")
# Kinds of Art. 256a window (positive_test_in_256a_window), with their words in Vietnamese and English.
WINDOW_KINDS = {
    "methadone": ("điều trị methadone", "methadone treatment"),
    "rehab": ("cai nghiện", "rehab"),
    "aftercare": ("quản lý sau cai nghiện", "aftercare"),
    "management": ("quản lý người sử dụng trái phép chất ma túy", "management as a drug user"),
}
# Names a message template may use.
TEMPLATE_FIELDS = ("as_of", "since", "due", "days_overdue", "record_id", "commune", "law", "detail")


@dataclass(frozen=True)
class Law:
    starts: date
    version: str
    name_vi: str
    name_en: str


@dataclass(frozen=True)
class EndingAct:
    """An act another department records that ends a management term in law (domain.md §3 Registry)."""

    event_type: str
    code: str
    values: frozenset[str]
    label_vi: str
    label_en: str

    def matches(self, step: Step) -> bool:
        return step.event_type == self.event_type and dict(step.codes).get(self.code) in self.values


def _empty() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class Rule:
    name: str
    owner: str
    message_vi: str
    message_en: str
    applies_from: date | None = None  # clocks started earlier raise nothing
    days: int = 0  # the wait allowed after the clock starts
    lookback_days: int = 0  # notices: shown for this many days after the act
    closing_reasons: frozenset[str] = frozenset()  # completer_without_aftercare
    end_reasons: frozenset[str] = frozenset()  # methadone_dropout
    ending_acts: tuple[EndingAct, ...] = ()  # management_term_ended_not_closed
    # positive_test_in_256a_window: window kind -> months after its end that still count.
    after_months: Mapping[str, int] = field(default_factory=_empty)
    # Law version -> days / lookback_days for clocks started under that law.
    by_law: Mapping[str, Mapping[str, int]] = field(default_factory=_empty)

    def number(self, name: str, law: Law) -> int:
        """A threshold as it stands under ``law``: the law's own value if the file gives one."""
        return self.by_law.get(law.version, {}).get(name, getattr(self, name))


@dataclass(frozen=True)
class RuleBook:
    version: str
    laws: tuple[Law, ...]  # by start date, strictly increasing
    rules: Mapping[str, Rule]

    def law_on(self, day: date) -> Law | None:
        """The law in force on ``day``; None before the first one (nothing these rules know applied)."""
        found = None
        for law in self.laws:
            if law.starts <= day:
                found = law
        return found


@dataclass(frozen=True)
class AlertQuery:
    as_of: date
    # Already checked: official codes, communes inside the province, known rule names.
    province_code: str = ""
    commune_codes: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # empty: every rule


@dataclass(frozen=True)
class Clock:
    """What a rule found: the act that started the wait, when it started and when it was due."""

    trigger: Step
    since: date
    due: date
    law: Law
    record_id: str
    detail_vi: str = ""
    detail_en: str = ""


@dataclass(frozen=True)
class Alert:
    rule: str
    law_version: str
    pseudonym: str
    commune_code: str
    commune_name: str
    province_code: str
    since: date
    due: date
    days_overdue: int
    owner_department: str
    message_vi: str
    message_en: str
    record_id: str


def order(step: Step) -> tuple:
    """The order of the acts: by date, then as recorded (the event id breaks the last ties)."""
    return (step.occurred_on, step.recorded_at, step.event_id)


@dataclass
class Facts:
    """The steps known on ``as_of``, indexed the ways the rules look them up."""

    as_of: date
    steps: list[Step]
    by_type: dict[str, list[Step]] = field(default_factory=lambda: defaultdict(list))
    by_person: dict[str, list[Step]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, steps: Iterable[Step], as_of: date) -> Facts:
        # One event delivered twice is one act.
        unique = {s.event_id: s for s in steps if s.pseudonym and s.occurred_on <= as_of}
        facts = cls(as_of, sorted(unique.values(), key=order))
        for step in facts.steps:
            facts.by_type[step.event_type].append(step)
            facts.by_person[step.pseudonym or ""].append(step)
        return facts

    def of_type(self, event_type: str) -> list[Step]:
        return self.by_type.get(event_type, [])

    def person(self, pseudonym: str | None) -> list[Step]:
        return self.by_person.get(pseudonym or "", [])

    def records(self, event_type: str) -> set[str]:
        return {s.record_id for s in self.of_type(event_type)}

    def residence(self, pseudonym: str | None) -> tuple[str, str]:
        """(commune, province) of the person's latest act: where they live as far as anyone knows."""
        latest = self.person(pseudonym)[-1]
        return latest.commune_code, latest.province_code


def code(step: Step, name: str) -> str:
    return dict(step.codes).get(name, "")


def code_date(step: Step, name: str) -> date | None:
    try:
        return date.fromisoformat(code(step, name))
    except ValueError:
        return None


def overdue(rule: Rule, book: RuleBook, since: date, as_of: date) -> tuple[Law, date] | None:
    """For a rule with a wait: the law and due date if the wait is over on ``as_of`` (strictly after due)."""
    law = _law(rule, book, since)
    if law is None:
        return None
    due = since + timedelta(days=rule.number("days", law))
    return (law, due) if as_of > due else None


def recent(rule: Rule, book: RuleBook, since: date, as_of: date) -> Law | None:
    """For a notice: the law if the act is at most ``lookback_days`` old on ``as_of``."""
    law = _law(rule, book, since)
    if law is None or (as_of - since).days > rule.number("lookback_days", law):
        return None
    return law


def _law(rule: Rule, book: RuleBook, since: date) -> Law | None:
    if rule.applies_from is not None and since < rule.applies_from:
        return None
    return book.law_on(since)


def earliest(steps: Iterable[Step]) -> Iterator[Step]:
    """The first step of each record (a record published twice under two event ids counts once)."""
    seen: set[str] = set()
    for step in steps:
        if step.record_id not in seen:
            seen.add(step.record_id)
            yield step
