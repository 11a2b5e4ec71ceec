"""Methadone (opioid substitution) treatment, Decree 90/2016: one open episode per person, phases only
forward, and ends whose conditions the rules check (termination for violation, dropout) rather than
trusting what was typed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import Enum

from lienthong.dates import add_months, not_before, not_in_future
from lienthong.errors import InvalidInput, PreconditionFailed
from services.health.domain.people import Person


class Phase(Enum):
    INDUCTION = "induction"
    TITRATION = "titration"
    MAINTENANCE = "maintenance"
    TAPERING = "tapering"
    COMPLETED = "completed"


PHASES = list(Phase)


class EndReason(Enum):
    COMPLETED = "completed"
    VOLUNTARY_STOP = "voluntary_stop"
    TERMINATED_VIOLATION = "terminated_violation"
    DROPPED_OUT = "dropped_out"
    TRANSFERRED = "transferred"
    DIED = "died"


BREACH_KINDS = ("diversion", "violence", "other_drug_use", "offence", "missed_appointments", "other")


@dataclass(frozen=True)
class Rules:
    """Thresholds the decree leaves to practice; values come from settings."""

    breaches_for_termination: int = 2
    breach_window_months: int = 6
    positive_tests_for_termination: int = 2
    test_window_months: int = 12
    dropout_days: int = 30
    max_take_home_days: int = 7


@dataclass(frozen=True)
class Episode:
    episode_id: str
    person_id: str
    enrolled_on: date
    law_version: str
    commune_code: str
    province_code: str
    phase: Phase = Phase.INDUCTION
    maintenance_on: date | None = None
    # First day no dose covers; doses and take-home doses move it forward, never back.
    covered_until: date | None = None
    ended_on: date | None = None
    end_reason: EndReason | None = None

    @property
    def is_open(self) -> bool:
        return self.ended_on is None


@dataclass(frozen=True)
class OpioidTest:
    tested_on: date
    positive: bool


@dataclass(frozen=True)
class MethadoneEnrolled:
    person: Person
    episode: Episode


@dataclass(frozen=True)
class MethadoneEnded:
    person: Person
    episode: Episode


def enrol(
    person: Person, episodes: Sequence[Episode], candidate: Episode, *, today: date
) -> tuple[Person, Episode, MethadoneEnrolled]:
    not_in_future(candidate.enrolled_on, today, "enrolled_on")
    open_ones = [e for e in episodes if e.is_open]
    if open_ones:
        raise PreconditionFailed(
            "methadone.already_open",
            f"Người này đang điều trị methadone từ {open_ones[0].enrolled_on.isoformat()}: "
            "mỗi người chỉ có một đợt điều trị đang mở.",
            f"The person is already in methadone treatment since {open_ones[0].enrolled_on.isoformat()}: "
            "one open episode per person.",
        )
    episode = replace(candidate, covered_until=candidate.enrolled_on)
    person = person.touched()
    return person, episode, MethadoneEnrolled(person, episode)


def _still_open(episode: Episode) -> None:
    if not episode.is_open:
        raise PreconditionFailed(
            "methadone.ended",
            f"Đợt điều trị đã kết thúc ngày {episode.ended_on.isoformat()} ({episode.end_reason.value}).",
            f"The episode ended on {episode.ended_on.isoformat()} ({episode.end_reason.value}).",
        )


def _during(episode: Episode, day: date, field: str, today: date) -> None:
    _still_open(episode)
    not_in_future(day, today, field)
    not_before(day, episode.enrolled_on, field, "ngày bắt đầu điều trị", "the enrolment date")


def parse_phase(value: str) -> Phase:
    try:
        return Phase(value)
    except ValueError:
        codes = ", ".join(p.value for p in PHASES)
        raise InvalidInput(
            "to_phase.unknown",
            f"Giai đoạn {value!r} không hợp lệ; các mã hợp lệ: {codes}.",
            f"Phase {value!r} is not valid; valid codes: {codes}.",
        ) from None


def advance(episode: Episode, to: Phase, *, on: date, today: date) -> Episode:
    """One step forward; completion (from tapering) is an end, see :func:`end`."""
    _during(episode, on, "on", today)
    expected = PHASES[PHASES.index(episode.phase) + 1]
    if to is not expected or to is Phase.COMPLETED:
        raise PreconditionFailed(
            "methadone.phase_order",
            f"Từ giai đoạn {episode.phase.value} chỉ được chuyển sang {expected.value}"
            + (" (kết thúc đợt điều trị với lý do completed)." if expected is Phase.COMPLETED else "."),
            f"From phase {episode.phase.value} the only next phase is {expected.value}"
            + (" (end the episode with reason completed)." if expected is Phase.COMPLETED else "."),
        )
    maintenance_on = on if to is Phase.MAINTENANCE else episode.maintenance_on
    return replace(episode, phase=to, maintenance_on=maintenance_on)


def record_dose(episode: Episode, *, taken_on: date, days_covered: int, rules: Rules, today: date) -> Episode:
    _during(episode, taken_on, "taken_on", today)
    if not 1 <= days_covered <= rules.max_take_home_days:
        raise InvalidInput(
            "days_covered.out_of_range",
            f"Số ngày của một liều phải từ 1 đến {rules.max_take_home_days} (nhận được {days_covered}).",
            f"A dose covers 1 to {rules.max_take_home_days} days (got {days_covered}).",
        )
    until = max(episode.covered_until or episode.enrolled_on, taken_on + timedelta(days=days_covered))
    return replace(episode, covered_until=until)


def check_breach(episode: Episode, *, occurred_on: date, kind: str, today: date) -> None:
    _during(episode, occurred_on, "occurred_on", today)
    if kind not in BREACH_KINDS:
        raise InvalidInput(
            "kind.unknown",
            f"Loại vi phạm {kind!r} không hợp lệ; các mã hợp lệ: {', '.join(BREACH_KINDS)}.",
            f"Breach kind {kind!r} is not valid; valid codes: {', '.join(BREACH_KINDS)}.",
        )


def check_test(episode: Episode, *, tested_on: date, today: date) -> None:
    _during(episode, tested_on, "tested_on", today)


def breaches_in_window(breaches: Sequence[date], on: date, rules: Rules) -> int:
    """Breaches in the ``breach_window_months`` up to and including ``on`` (its first day included)."""
    start = add_months(on, -rules.breach_window_months)
    return sum(1 for day in breaches if start <= day <= on)


def longest_positive_run(episode: Episode, tests: Sequence[OpioidTest], on: date, rules: Rules) -> int:
    """Longest run of consecutive positive tests within ``test_window_months`` after maintenance began."""
    if episode.maintenance_on is None:
        return 0
    window_end = add_months(episode.maintenance_on, rules.test_window_months)
    best = run = 0
    for test in sorted(tests, key=lambda t: t.tested_on):
        if not episode.maintenance_on <= test.tested_on < window_end or test.tested_on > on:
            continue
        run = run + 1 if test.positive else 0
        best = max(best, run)
    return best


def dropout_date(episode: Episode, rules: Rules) -> date:
    """The day the episode counts as dropped out: ``dropout_days`` missed days after the last cover."""
    return (episode.covered_until or episode.enrolled_on) + timedelta(days=rules.dropout_days)


def parse_end_reason(value: str) -> EndReason:
    try:
        reason = EndReason(value)
    except ValueError:
        reason = None
    if reason is None or reason is EndReason.DROPPED_OUT:
        codes = ", ".join(r.value for r in EndReason if r is not EndReason.DROPPED_OUT)
        raise InvalidInput(
            "reason.unknown",
            f"Lý do kết thúc {value!r} không hợp lệ; các mã hợp lệ: {codes}. Bỏ trị được tính tự động.",
            f"End reason {value!r} is not valid; valid codes: {codes}. Dropout is computed, not entered.",
        )
    return reason


def end(
    person: Person,
    episode: Episode,
    *,
    reason: EndReason,
    ended_on: date,
    breaches: Sequence[date],
    tests: Sequence[OpioidTest],
    rules: Rules,
    today: date,
) -> tuple[Person, Episode, MethadoneEnded]:
    _during(episode, ended_on, "ended_on", today)
    if reason is EndReason.COMPLETED and episode.phase is not Phase.TAPERING:
        raise PreconditionFailed(
            "methadone.not_tapering",
            f"Chỉ hoàn thành điều trị được từ giai đoạn giảm liều; hiện ở giai đoạn {episode.phase.value}.",
            f"Treatment can be completed only from the tapering phase; it is in {episode.phase.value}.",
        )
    if reason is EndReason.TERMINATED_VIOLATION:
        found = breaches_in_window(breaches, ended_on, rules)
        run = longest_positive_run(episode, tests, ended_on, rules)
        if found < rules.breaches_for_termination and run < rules.positive_tests_for_termination:
            raise PreconditionFailed(
                "methadone.termination_not_allowed",
                f"Chưa đủ căn cứ chấm dứt vì vi phạm: cần ít nhất {rules.breaches_for_termination} vi phạm "
                f"trong {rules.breach_window_months} tháng (có {found}) hoặc "
                f"{rules.positive_tests_for_termination} lần liên tiếp dương tính với chất dạng thuốc phiện "
                f"trong {rules.test_window_months} tháng sau giai đoạn duy trì (có {run}).",
                f"Termination for violation is not allowed: it needs at least {rules.breaches_for_termination} "
                f"protocol breaches within {rules.breach_window_months} months (found {found}) or "
                f"{rules.positive_tests_for_termination} consecutive opioid-positive tests within "
                f"{rules.test_window_months} months after reaching maintenance (found {run}).",
            )
    return _ended(person, episode, reason, ended_on)


def _ended(person: Person, episode: Episode, reason: EndReason, on: date):
    phase = Phase.COMPLETED if reason is EndReason.COMPLETED else episode.phase
    ended = replace(episode, ended_on=on, end_reason=reason, phase=phase)
    person = person.touched()
    return person, ended, MethadoneEnded(person, ended)


def drop_out(
    person: Person, episode: Episode, *, as_of: date, rules: Rules
) -> tuple[Person, Episode, MethadoneEnded] | None:
    """Ended as dropped out on :func:`dropout_date` if that day has come by ``as_of``; else None."""
    if not episode.is_open:
        return None
    day = dropout_date(episode, rules)
    if day > as_of:
        return None
    return _ended(person, episode, EndReason.DROPPED_OUT, day)
