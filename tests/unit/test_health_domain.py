"""Health rules without I/O: criteria table, phases, termination thresholds, dropouts, law by date."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import product

import pytest

from lienthong.dated import Dated
from lienthong.errors import InvalidInput, PreconditionFailed
from services.health.domain import determination as det
from services.health.domain import methadone as mmt
from services.health.domain.people import LAW_VERSIONS, Identity, Person, law_version

TODAY = date(2026, 11, 24)
RULES = mmt.Rules()
PERSON = Person(
    "p1", "1:" + "a" * 32, "male", "00070", "01", Identity("001099012345", "An", date(1999, 4, 2))
)
W = det.Criterion.WITHDRAWAL


def expected(met: frozenset) -> det.Result:
    """Circular 18/2021 as the brief words it, written independently of ``assess``."""
    n = len(met)
    if n >= 3:
        return det.Result.ADDICTED
    if n == 2:
        return det.Result.NOT_ADDICTED if W in met else det.Result.KEEP_OBSERVING
    return det.Result.NOT_ADDICTED  # 0 or 1


def test_all_64_criteria_combinations():
    seen = set()
    for flags in product((False, True), repeat=6):
        met = frozenset(c for c, on in zip(det.Criterion, flags, strict=True) if on)
        seen.add(met)
        assert det.assess(met) is expected(met), met
    assert len(seen) == 64
    assert det.assess(frozenset({W, det.Criterion.CRAVING})) is det.Result.NOT_ADDICTED
    assert (
        det.assess(frozenset({det.Criterion.TOLERANCE, det.Criterion.CRAVING})) is det.Result.KEEP_OBSERVING
    )


def determination(**kw) -> det.Determination:
    base = dict(
        determination_id="d1",
        person_id="p1",
        legal_case="voluntary",
        requested_on=date(2026, 3, 1),
        law_version="law_73_2021",
        commune_code="00070",
        province_code="01",
    )
    return det.Determination(**{**base, **kw})


LICENSED = det.Facility("bv-tamthan", "BV Tâm thần", True)
UNLICENSED = det.Facility("pk-tu", "Phòng khám tư", False)


def test_only_licensed_facilities_record_and_conclude():
    with pytest.raises(PreconditionFailed) as refused:
        det.record_criteria(
            determination(), UNLICENSED, observed_on=date(2026, 3, 2), criteria=frozenset(), today=TODAY
        )
    assert refused.value.code == "facility.not_licensed"
    recorded = det.record_criteria(
        determination(),
        LICENSED,
        observed_on=date(2026, 3, 2),
        criteria=frozenset(det.Criterion),
        today=TODAY,
    )
    with pytest.raises(PreconditionFailed):
        det.conclude(PERSON, recorded, UNLICENSED, concluded_on=date(2026, 3, 3), max_days=5, today=TODAY)


@pytest.mark.parametrize(("concluded_on", "late"), [(date(2026, 3, 6), False), (date(2026, 3, 7), True)])
def test_conclusion_after_the_maximum_duration_is_allowed_but_late(concluded_on, late):
    recorded = det.record_criteria(
        determination(), LICENSED, observed_on=date(2026, 3, 2), criteria=frozenset({W}), today=TODAY
    )
    person, concluded, event = det.conclude(
        PERSON, recorded, LICENSED, concluded_on=concluded_on, max_days=5, today=TODAY
    )
    assert concluded.late is late and concluded.result is det.Result.NOT_ADDICTED
    assert person.version == PERSON.version + 1 and event.determination is concluded
    with pytest.raises(PreconditionFailed) as again:
        det.conclude(person, concluded, LICENSED, concluded_on=concluded_on, max_days=5, today=TODAY)
    assert again.value.code == "determination.already_concluded"


def test_conclusion_needs_criteria_and_the_same_facility():
    with pytest.raises(PreconditionFailed) as refused:
        det.conclude(
            PERSON, determination(), LICENSED, concluded_on=date(2026, 3, 3), max_days=5, today=TODAY
        )
    assert refused.value.code == "determination.no_criteria"
    recorded = det.record_criteria(
        determination(), LICENSED, observed_on=date(2026, 3, 2), criteria=frozenset(), today=TODAY
    )
    other = det.Facility("bv-khac", "BV khác", True)
    with pytest.raises(PreconditionFailed) as refused:
        det.conclude(PERSON, recorded, other, concluded_on=date(2026, 3, 3), max_days=5, today=TODAY)
    assert refused.value.code == "determination.other_facility"


def test_criteria_and_legal_cases_are_closed_lists():
    assert det.parse_criteria(["craving", "withdrawal"]) == frozenset({det.Criterion.CRAVING, W})
    for bad in (["fever"], ["craving", "craving"]):
        with pytest.raises(InvalidInput):
            det.parse_criteria(bad)
    assert det.parse_legal_case("police_d") == "police_d"
    with pytest.raises(InvalidInput):
        det.parse_legal_case("police_e")


@pytest.mark.parametrize(
    ("day", "version"),
    [
        (date(2022, 1, 1), "law_73_2021"),
        (date(2026, 6, 30), "law_73_2021"),
        (date(2026, 7, 1), "law_120_2025"),
        (date(2030, 1, 1), "law_120_2025"),
    ],
)
def test_law_version_by_act_date(day, version):
    assert law_version(Dated(LAW_VERSIONS), day, "requested_on") == version


def test_acts_before_the_first_law_are_refused():
    with pytest.raises(InvalidInput) as refused:
        law_version(Dated(LAW_VERSIONS), date(2021, 12, 31), "requested_on")
    assert refused.value.code == "requested_on.before_law"


# --- methadone ---------------------------------------------------------------------------------------


def episode(**kw) -> mmt.Episode:
    base = dict(
        episode_id="e1",
        person_id="p1",
        enrolled_on=date(2025, 1, 1),
        law_version="law_73_2021",
        commune_code="00070",
        province_code="01",
        covered_until=date(2025, 1, 1),
    )
    return mmt.Episode(**{**base, **kw})


def test_one_open_episode_per_person():
    _, first, _ = mmt.enrol(PERSON, [], episode(), today=TODAY)
    with pytest.raises(PreconditionFailed) as refused:
        mmt.enrol(PERSON, [first], episode(episode_id="e2", enrolled_on=date(2025, 6, 1)), today=TODAY)
    assert refused.value.code == "methadone.already_open"
    ended = mmt.end(
        PERSON,
        first,
        reason=mmt.EndReason.DIED,
        ended_on=date(2025, 2, 1),
        breaches=[],
        tests=[],
        rules=RULES,
        today=TODAY,
    )[1]
    assert mmt.enrol(PERSON, [ended], episode(episode_id="e2", enrolled_on=date(2025, 6, 1)), today=TODAY)[1]


def test_phases_go_forward_one_step_and_complete_only_from_tapering():
    e = episode()
    day = date(2025, 2, 1)
    for skip in (mmt.Phase.MAINTENANCE, mmt.Phase.INDUCTION, mmt.Phase.COMPLETED):
        with pytest.raises(PreconditionFailed):
            mmt.advance(e, skip, on=day, today=TODAY)
    with pytest.raises(PreconditionFailed) as early:
        mmt.end(
            PERSON,
            e,
            reason=mmt.EndReason.COMPLETED,
            ended_on=day,
            breaches=[],
            tests=[],
            rules=RULES,
            today=TODAY,
        )
    assert early.value.code == "methadone.not_tapering"
    for phase in (mmt.Phase.TITRATION, mmt.Phase.MAINTENANCE, mmt.Phase.TAPERING):
        e = mmt.advance(e, phase, on=day, today=TODAY)
    assert e.maintenance_on == day
    with pytest.raises(PreconditionFailed) as to_completed:
        mmt.advance(e, mmt.Phase.COMPLETED, on=day, today=TODAY)
    assert "completed" in to_completed.value.en
    _, done, event = mmt.end(
        PERSON,
        e,
        reason=mmt.EndReason.COMPLETED,
        ended_on=day,
        breaches=[],
        tests=[],
        rules=RULES,
        today=TODAY,
    )
    assert done.phase is mmt.Phase.COMPLETED and event.episode.end_reason is mmt.EndReason.COMPLETED
    with pytest.raises(PreconditionFailed) as closed:
        mmt.advance(done, mmt.Phase.COMPLETED, on=day, today=TODAY)
    assert closed.value.code == "methadone.ended"


def terminate(e, on, breaches=(), tests=()):
    return mmt.end(
        PERSON,
        e,
        reason=mmt.EndReason.TERMINATED_VIOLATION,
        ended_on=on,
        breaches=list(breaches),
        tests=list(tests),
        rules=RULES,
        today=TODAY,
    )


@pytest.mark.parametrize(
    ("first_breach", "allowed"),
    [(date(2025, 3, 1), True), (date(2025, 2, 28), False)],  # window: 2025-03-01 .. 2025-09-01 inclusive
)
def test_two_breaches_within_six_months_allow_termination(first_breach, allowed):
    on = date(2025, 9, 1)
    breaches = [first_breach, date(2025, 9, 1)]
    if allowed:
        assert terminate(episode(), on, breaches)[1].end_reason is mmt.EndReason.TERMINATED_VIOLATION
    else:
        with pytest.raises(PreconditionFailed) as refused:
            terminate(episode(), on, breaches)
        assert refused.value.code == "methadone.termination_not_allowed"
        assert "found 1" in refused.value.en


def test_a_breach_after_the_end_date_does_not_count():
    with pytest.raises(PreconditionFailed):
        terminate(episode(), date(2025, 6, 1), [date(2025, 5, 1), date(2025, 6, 2)])


def T(day, positive=True):
    return mmt.OpioidTest(day, positive)


def test_two_consecutive_positive_tests_after_maintenance_allow_termination():
    maint = episode(phase=mmt.Phase.MAINTENANCE, maintenance_on=date(2025, 3, 1))
    on = date(2026, 6, 1)
    assert terminate(maint, on, tests=[T(date(2025, 3, 1)), T(date(2025, 4, 1))])[1].ended_on == on
    # last day of the 12-month window is 2026-02-28; 2026-03-01 is outside
    assert terminate(maint, on, tests=[T(date(2026, 2, 1)), T(date(2026, 2, 28))])
    refusals = [
        [T(date(2026, 2, 1)), T(date(2026, 3, 1))],  # second one outside the window
        [T(date(2025, 2, 28)), T(date(2025, 3, 2))],  # first one before maintenance
        [T(date(2025, 4, 1)), T(date(2025, 5, 1), False), T(date(2025, 6, 1))],  # not consecutive
    ]
    for tests in refusals:
        with pytest.raises(PreconditionFailed):
            terminate(maint, on, tests=tests)
    with pytest.raises(PreconditionFailed):  # never reached maintenance
        terminate(episode(), on, tests=[T(date(2025, 4, 1)), T(date(2025, 5, 1))])


def test_dropped_out_is_computed_never_typed():
    with pytest.raises(InvalidInput):
        mmt.parse_end_reason("dropped_out")
    assert mmt.parse_end_reason("voluntary_stop") is mmt.EndReason.VOLUNTARY_STOP


def test_dropout_after_n_missed_days_counting_take_home_cover():
    e = mmt.record_dose(episode(), taken_on=date(2025, 1, 10), days_covered=7, rules=RULES, today=TODAY)
    assert e.covered_until == date(2025, 1, 17)
    # a shorter dose on an earlier day never pulls the cover back
    assert mmt.record_dose(e, taken_on=date(2025, 1, 11), days_covered=1, rules=RULES, today=TODAY) == e
    day = date(2025, 1, 17) + timedelta(days=30)
    assert mmt.drop_out(PERSON, e, as_of=day - timedelta(days=1), rules=RULES) is None
    _, ended, event = mmt.drop_out(PERSON, e, as_of=day, rules=RULES)
    assert (ended.ended_on, ended.end_reason) == (day, mmt.EndReason.DROPPED_OUT)
    assert event.episode is ended
    # detected late, it still ends on the day the Nth missed day completed
    assert mmt.drop_out(PERSON, e, as_of=day + timedelta(days=40), rules=RULES)[1].ended_on == day
    assert mmt.drop_out(PERSON, ended, as_of=day, rules=RULES) is None
    never_dosed = episode()
    assert mmt.dropout_date(never_dosed, RULES) == date(2025, 1, 31)


def test_dose_rules():
    for days in (0, RULES.max_take_home_days + 1):
        with pytest.raises(InvalidInput):
            mmt.record_dose(episode(), taken_on=date(2025, 1, 2), days_covered=days, rules=RULES, today=TODAY)
    with pytest.raises(InvalidInput) as early:
        mmt.record_dose(episode(), taken_on=date(2024, 12, 31), days_covered=1, rules=RULES, today=TODAY)
    assert early.value.code == "taken_on.too_early"
    with pytest.raises(InvalidInput) as future:
        mmt.record_dose(
            episode(), taken_on=TODAY + timedelta(days=1), days_covered=1, rules=RULES, today=TODAY
        )
    assert future.value.code == "taken_on.in_future"
