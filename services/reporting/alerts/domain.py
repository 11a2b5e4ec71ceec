"""The seven alert rules, as of a date, from the steps alone. Pure: steps and a rule book in, alerts out.

Two kinds of rule. A *wait* (rules 1, 2, 3, 7) raises an alert once the day after its due date has come
and nothing has answered it; a later act that answers it (a placement, a conclusion, a certificate) ends
the alert whatever order the events arrived in. A *notice* (rules 4, 5, 6) reports an act the owner must
follow up and stays on the list for ``lookback_days`` after the act.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import date, timedelta

from lienthong.dates import add_months
from services.reporting.alerts.model import (
    RULE_NAMES,
    WINDOW_KINDS,
    Alert,
    AlertQuery,
    Clock,
    Facts,
    Rule,
    RuleBook,
    code,
    code_date,
    earliest,
    order,
    overdue,
    recent,
)
from services.reporting.domain import commune_name, vietnamese_sort_key
from services.reporting.steps import Step

REHAB_DISCHARGED = "rehab.admission.discharged.v1"
REHAB_ADMITTED = "rehab.admission.admitted.v1"
METHADONE_ENROLLED = "health.methadone.enrolled.v1"
METHADONE_ENDED = "health.methadone.ended.v1"
DETERMINATION_REQUESTED = "health.determination.requested.v1"
DETERMINATION_CONCLUDED = "health.determination.concluded.v1"
CASE_PLACED = "aftercare.case.placed.v1"
CASE_CLOSED = "aftercare.case.closed.v1"
MANAGEMENT_DECIDED = "registry.management.decided.v1"
MANAGEMENT_ENDED = "registry.management.ended.v1"
POSITIVE_TEST = "registry.drug_test.positive_recorded.v1"
MOVED = "registry.person.moved.v1"

# Words for the details of a message (vocabulary, not thresholds: those are in rules.toml).
_COMPLETED = {REHAB_DISCHARGED: ("cai nghiện", "rehab"), METHADONE_ENDED: ("điều trị methadone", "methadone")}
_METHADONE_END = {
    "dropped_out": ("bỏ điều trị", "dropped out"),
    "voluntary_stop": ("tự ý ngừng điều trị", "stopped of their own accord"),
    "terminated_violation": ("bị chấm dứt điều trị do vi phạm", "terminated for violation"),
}
# A discharge as absconded leaves the person under the rehab measure: only another discharge ends it.
_STILL_IN_REHAB = "absconded"


def completer_without_aftercare(facts: Facts, rule: Rule, book: RuleBook) -> Iterator[Clock]:
    """Rule 1: a completion of rehab or methadone with no aftercare decision within ``days``."""
    completions = [*earliest(s for s in facts.of_type(REHAB_DISCHARGED) if code(s, "completed") == "true")]
    completions += earliest(s for s in facts.of_type(METHADONE_ENDED) if code(s, "reason") == "completed")
    for step in completions:
        found = overdue(rule, book, step.occurred_on, facts.as_of)
        if found is None:
            continue
        answered = any(
            (
                s.event_type == CASE_PLACED
                or (s.event_type == CASE_CLOSED and code(s, "reason") in rule.closing_reasons)
            )
            and s.occurred_on >= step.occurred_on
            for s in facts.person(step.pseudonym)
        )
        if not answered:
            vi, en = _COMPLETED[step.event_type]
            yield Clock(step, step.occurred_on, found[1], found[0], step.record_id, vi, en)


def management_term_ended_not_closed(facts: Facts, rule: Rule, book: RuleBook) -> Iterator[Clock]:
    """Rule 2: a term another department's act ended in law (determined addicted, imprisoned, died) while
    the registry still has it running: no early end recorded and no later decision for the person."""
    ended = facts.records(MANAGEMENT_ENDED)
    for decision in _latest_per_record(facts.of_type(MANAGEMENT_DECIDED)):
        expires_on = code_date(decision, "expires_on")
        if decision.record_id in ended or expires_on is None:
            continue
        path = facts.person(decision.pseudonym)
        if any(s.event_type == MANAGEMENT_DECIDED and s.occurred_on > decision.occurred_on for s in path):
            continue
        acts = [
            (s, act)
            for s in path
            for act in rule.ending_acts
            if act.matches(s) and decision.occurred_on <= s.occurred_on < expires_on
        ]
        if not acts:
            continue
        step, act = acts[0]
        found = overdue(rule, book, step.occurred_on, facts.as_of)
        if found is not None:
            yield Clock(
                step, step.occurred_on, found[1], found[0], decision.record_id, act.label_vi, act.label_en
            )


def determination_overdue(facts: Facts, rule: Rule, book: RuleBook) -> Iterator[Clock]:
    """Rule 3: a determination requested and not concluded within ``days``."""
    concluded = facts.records(DETERMINATION_CONCLUDED)
    for step in earliest(facts.of_type(DETERMINATION_REQUESTED)):
        if step.record_id in concluded:
            continue
        found = overdue(rule, book, step.occurred_on, facts.as_of)
        if found is not None:
            yield Clock(step, step.occurred_on, found[1], found[0], step.record_id)


def methadone_dropout(facts: Facts, rule: Rule, book: RuleBook) -> Iterator[Clock]:
    """Rule 4: methadone ended by one of ``end_reasons`` in the last ``lookback_days``, and not back."""
    for step in earliest(facts.of_type(METHADONE_ENDED)):
        reason = code(step, "reason")
        law = recent(rule, book, step.occurred_on, facts.as_of) if reason in rule.end_reasons else None
        if law is None:
            continue
        back = any(
            s.event_type == METHADONE_ENROLLED
            and s.record_id != step.record_id
            and s.occurred_on >= step.occurred_on
            for s in facts.person(step.pseudonym)
        )
        if not back:
            vi, en = _METHADONE_END.get(reason, (reason, reason))
            yield Clock(step, step.occurred_on, step.occurred_on, law, step.record_id, vi, en)


def positive_test_in_256a_window(facts: Facts, rule: Rule, book: RuleBook) -> Iterator[Clock]:
    """Rule 5: a positive test during methadone, rehab or aftercare or within ``after_months`` after one
    ended (Criminal Code Art. 256a, the windows of ``after_months``), in the last ``lookback_days``."""
    for test in earliest(facts.of_type(POSITIVE_TEST)):
        law = recent(rule, book, test.occurred_on, facts.as_of)
        if law is None:
            continue
        found = _window(facts, rule, test)
        if found is not None:
            yield Clock(test, test.occurred_on, test.occurred_on, law, test.record_id, *found)


def move_reported_late(facts: Facts, rule: Rule, book: RuleBook) -> Iterator[Clock]:
    """Rule 6: a change of residence reported after the deadline (Law 120/2025), in the last ``lookback_days``."""
    for step in facts.of_type(MOVED):
        law = (
            recent(rule, book, step.occurred_on, facts.as_of)
            if code(step, "reported_late") == "true"
            else None
        )
        if law is not None:
            due = step.occurred_on + timedelta(days=rule.number("days", law))
            yield Clock(step, step.occurred_on, due, law, step.record_id)


def aftercare_past_term_without_certificate(facts: Facts, rule: Rule, book: RuleBook) -> Iterator[Clock]:
    """Rule 7: a placed aftercare case whose term has ended (``ends_on``) and that is not closed."""
    closed = facts.records(CASE_CLOSED)
    for step in _latest_per_record(facts.of_type(CASE_PLACED)):
        ends_on = code_date(step, "ends_on")
        if step.record_id in closed or ends_on is None:
            continue
        found = overdue(rule, book, ends_on, facts.as_of)
        if found is not None:
            yield Clock(step, ends_on, found[1], found[0], step.record_id)


CHECKS = {
    "completer_without_aftercare": completer_without_aftercare,
    "management_term_ended_not_closed": management_term_ended_not_closed,
    "determination_overdue": determination_overdue,
    "methadone_dropout": methadone_dropout,
    "positive_test_in_256a_window": positive_test_in_256a_window,
    "move_reported_late": move_reported_late,
    "aftercare_past_term_without_certificate": aftercare_past_term_without_certificate,
}
assert tuple(CHECKS) == RULE_NAMES


def _latest_per_record(steps: Iterable[Step]) -> list[Step]:
    latest = {s.record_id: s for s in steps}  # steps come in the order of the acts: the last one wins
    return sorted(latest.values(), key=order)


def _windows(facts: Facts, test: Step) -> Iterator[tuple[str, str, date, date | None]]:
    """(kind, record, start, end or None while open) of every window of the tested person."""
    path = facts.person(test.pseudonym)

    def starts(event_type: str) -> list[Step]:
        return _latest_per_record(s for s in path if s.event_type == event_type)

    def last_end(event_type: str, record: str, keep=lambda step: True) -> date | None:
        ends = [
            s.occurred_on for s in path if s.event_type == event_type and s.record_id == record and keep(s)
        ]
        return ends[-1] if ends else None

    def first_of(*days: date | None) -> date | None:
        return min((d for d in days if d is not None), default=None)

    for s in starts(METHADONE_ENROLLED):
        yield "methadone", s.record_id, s.occurred_on, last_end(METHADONE_ENDED, s.record_id)
    for s in starts(REHAB_ADMITTED):
        final = last_end(REHAB_DISCHARGED, s.record_id, lambda d: code(d, "reason") != _STILL_IN_REHAB)
        yield "rehab", s.record_id, s.occurred_on, final
    for s in starts(CASE_PLACED):
        ends = first_of(last_end(CASE_CLOSED, s.record_id), code_date(s, "ends_on"))
        yield "aftercare", s.record_id, s.occurred_on, ends
    for s in starts(MANAGEMENT_DECIDED):
        ends = first_of(last_end(MANAGEMENT_ENDED, s.record_id), code_date(s, "expires_on"))
        yield "management", s.record_id, s.occurred_on, ends


def _window(facts: Facts, rule: Rule, test: Step) -> tuple[str, str] | None:
    """The message detail naming the window the test fell in: during one first, else the latest after."""
    tested = test.occurred_on
    during, after = [], []
    for kind, record, start, end in _windows(facts, test):
        if kind not in rule.after_months or tested < start:
            continue
        if end is None or tested < end:
            during.append((start, kind, record))
        elif tested < add_months(end, rule.after_months[kind]):
            after.append((end, kind, record))
    vi_en = None
    if during:
        _, kind, record = max(during)
        vi, en = WINDOW_KINDS[kind]
        vi_en = (f"trong thời gian {vi} ({record})", f"during {en} ({record})")
    elif after:
        end, kind, record = max(after)
        vi, en = WINDOW_KINDS[kind]
        months = rule.after_months[kind]
        vi_en = (
            f"trong {months} tháng sau khi kết thúc {vi} ({record}) ngày {end.isoformat()}",
            f"within {months} months after {en} ({record}) ended on {end.isoformat()}",
        )
    return vi_en


def evaluate(steps: Iterable[Step], book: RuleBook, query: AlertQuery) -> list[Alert]:
    """Every alert raised on ``query.as_of`` in the unit, sorted by commune, then most overdue first."""
    facts = Facts.of(steps, query.as_of)
    alerts = []
    for name in RULE_NAMES:
        if query.rules and name not in query.rules:
            continue
        rule = book.rules[name]
        for clock in CHECKS[name](facts, rule, book):
            alert = _alert(rule, clock, facts)
            if _inside(alert, query.province_code, query.commune_codes):
                alerts.append(alert)
    return sorted(alerts, key=_sort_key)


def _alert(rule: Rule, clock: Clock, facts: Facts) -> Alert:
    commune, province = facts.residence(clock.trigger.pseudonym)
    name = commune_name(commune)
    days_overdue = max((facts.as_of - clock.due).days, 0)
    values = {
        "as_of": facts.as_of.isoformat(),
        "since": clock.since.isoformat(),
        "due": clock.due.isoformat(),
        "days_overdue": days_overdue,
        "record_id": clock.record_id,
        "commune": name or commune,
    }
    return Alert(
        rule=rule.name,
        law_version=clock.law.version,
        pseudonym=clock.trigger.pseudonym or "",
        commune_code=commune,
        commune_name=name,
        province_code=province,
        since=clock.since,
        due=clock.due,
        days_overdue=days_overdue,
        owner_department=rule.owner,
        message_vi=rule.message_vi.format(**values, law=clock.law.name_vi, detail=clock.detail_vi),
        message_en=rule.message_en.format(**values, law=clock.law.name_en, detail=clock.detail_en),
        record_id=clock.record_id,
    )


def _inside(alert: Alert, province_code: str, commune_codes: Collection[str]) -> bool:
    if province_code and alert.province_code != province_code:
        return False
    return not commune_codes or alert.commune_code in commune_codes


def _sort_key(alert: Alert) -> tuple:
    return (
        alert.province_code,
        vietnamese_sort_key(alert.commune_name),
        alert.commune_code,
        -alert.days_overdue,
        RULE_NAMES.index(alert.rule),
        alert.since,
        alert.pseudonym,
        alert.record_id,
    )
