"""Registry rules, without any I/O."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.cccd import Sex
from lienthong.errors import InvalidInput, PreconditionFailed
from services.registry import domain

TODAY = date(2026, 6, 30)


def person(**overrides) -> domain.Person:
    fields = dict(
        person_id="p1",
        citizen_id="001099012345",
        full_name="Nguyễn Văn An",
        date_of_birth=date(1999, 4, 2),
        sex=Sex.MALE,
        commune_code="00070",
        province_code="01",
        pseudonym="1:" + "a" * 32,
        registered_on=date(2025, 1, 1),
        version=1,
    )
    fields.update(overrides)
    return domain.Person(**fields)


def positive_test(tested_on: date = date(2025, 1, 10)) -> domain.DrugTest:
    return domain.DrugTest("t1", "p1", tested_on, "heroin", "", False)


def decide(p=None, tests=None, managements=(), decided_on=date(2025, 1, 15), management_id="m1"):
    return domain.issue_management_decision(
        p or person(),
        [positive_test()] if tests is None else tests,
        list(managements),
        management_id=management_id,
        decision_number="12/QĐ-UBND",
        decided_on=decided_on,
        today=TODAY,
    )


def test_decision_gives_a_one_year_term_and_bumps_the_person_version():
    after, management, event = decide()
    assert management.expires_on == date(2026, 1, 15)
    assert after.version == 2 and event.person.version == 2
    assert management.commune_code == "00070"
    assert management.active_on(date(2026, 1, 14)) and not management.active_on(date(2026, 1, 15))


def test_decision_on_29_february_lasts_a_full_year():
    _, management, _ = decide(tests=[positive_test(date(2024, 2, 1))], decided_on=date(2024, 2, 29))
    assert management.expires_on == date(2025, 3, 1)


def test_decision_needs_a_positive_test_on_or_before_its_date():
    with pytest.raises(PreconditionFailed) as refused:
        decide(tests=[positive_test(date(2025, 2, 1))])
    assert refused.value.code == "management.no_positive_test"
    decide(tests=[positive_test(date(2025, 1, 15))])  # same day is enough


def test_decision_in_the_future_is_refused():
    with pytest.raises(InvalidInput) as refused:
        decide(decided_on=TODAY + timedelta(days=1))
    assert refused.value.code == "decided_on.in_future"


def test_second_open_management_is_refused_but_a_new_one_after_the_end_is_allowed():
    _, first, _ = decide()
    with pytest.raises(PreconditionFailed) as refused:
        decide(managements=[first], decided_on=date(2025, 6, 1), management_id="m2")
    assert refused.value.code == "management.already_open"
    assert "12/QĐ-UBND" in refused.value.vi and "12/QĐ-UBND" in refused.value.en
    # A backdated decision whose year would overlap the running one is a double entry too.
    with pytest.raises(PreconditionFailed):
        decide(managements=[first], decided_on=date(2024, 6, 1), management_id="m2")
    decide(managements=[first], decided_on=date(2026, 1, 15), management_id="m2")  # after expiry
    _, _, ended = domain.end_management(
        person(version=2), first, ended_on=date(2025, 3, 1), reason="imprisoned", today=TODAY
    )
    decide(
        managements=[ended.management], decided_on=date(2025, 3, 1), management_id="m3"
    )  # after an early end


def test_ending_management_records_reason_and_date():
    _, management, _ = decide()
    after, ended, event = domain.end_management(
        person(version=2), management, ended_on=date(2025, 5, 1), reason="addicted", today=TODAY
    )
    assert ended.end_reason is domain.EndReason.ADDICTED and ended.ended_on == date(2025, 5, 1)
    assert ended.end() == date(2025, 5, 1)
    assert after.version == 3 and event.management is ended


@pytest.mark.parametrize(
    ("ended_on", "reason", "error", "code"),
    [
        (date(2026, 1, 15), "died", PreconditionFailed, "management.not_active"),  # expired that day
        (date(2025, 1, 14), "died", PreconditionFailed, "management.not_active"),  # before the decision
        (date(2025, 3, 1), "expired", InvalidInput, "reason.unknown"),  # expiry is computed, not typed
        (date(2025, 3, 1), "", InvalidInput, "reason.unknown"),
        (TODAY + timedelta(days=1), "died", InvalidInput, "ended_on.in_future"),
    ],
)
def test_ending_management_refusals(ended_on, reason, error, code):
    _, management, _ = decide()
    with pytest.raises(error) as refused:
        domain.end_management(person(), management, ended_on=ended_on, reason=reason, today=TODAY)
    assert refused.value.code == code


def test_ending_twice_is_refused():
    _, management, _ = decide()
    _, ended, _ = domain.end_management(
        person(), management, ended_on=date(2025, 3, 1), reason="died", today=TODAY
    )
    with pytest.raises(PreconditionFailed) as refused:
        domain.end_management(person(), ended, ended_on=date(2025, 4, 1), reason="died", today=TODAY)
    assert refused.value.code == "management.already_ended"


def test_positive_test_during_management_is_flagged():
    _, management, _ = decide()
    _, test, _ = domain.record_positive_test(
        person(),
        [management],
        test_id="t2",
        tested_on=date(2025, 6, 1),
        substance="heroin",
        place="",
        today=TODAY,
    )
    assert test.during_management
    _, test, _ = domain.record_positive_test(
        person(),
        [management],
        test_id="t3",
        tested_on=date(2026, 2, 1),
        substance="heroin",
        place="",
        today=TODAY,
    )
    assert not test.during_management


def test_unknown_substance_and_test_before_birth_are_refused():
    with pytest.raises(InvalidInput) as refused:
        domain.record_positive_test(
            person(), [], test_id="t", tested_on=date(2025, 1, 1), substance="sugar", place="", today=TODAY
        )
    assert refused.value.code == "substance.unknown"
    with pytest.raises(InvalidInput) as refused:
        domain.record_positive_test(
            person(), [], test_id="t", tested_on=date(1990, 1, 1), substance="heroin", place="", today=TODAY
        )
    assert refused.value.code == "tested_on.before_birth"


@pytest.mark.parametrize(
    ("born", "on", "band"),
    [
        (date(2011, 6, 1), date(2025, 5, 31), domain.AgeBand.UNDER_14),
        (date(2011, 6, 1), date(2025, 6, 1), domain.AgeBand.FROM_14_TO_16),
        (date(2009, 6, 1), date(2025, 6, 1), domain.AgeBand.FROM_16_TO_18),
        (date(2007, 6, 1), date(2025, 6, 1), domain.AgeBand.FROM_18_TO_30),
        (date(1995, 6, 2), date(2025, 6, 1), domain.AgeBand.FROM_18_TO_30),
        (date(1995, 6, 1), date(2025, 6, 1), domain.AgeBand.FROM_30),
    ],
)
def test_age_band_at_the_event_date(born, on, band):
    assert domain.age_band(born, on) is band


@given(
    st.dates(min_value=date(1950, 1, 1), max_value=date(2020, 12, 31)),
    st.integers(min_value=0, max_value=3000),
)
def test_age_never_decreases(born, days):
    day = born + timedelta(days=days)
    assert domain.age_on(born, day + timedelta(days=1)) >= domain.age_on(born, day) >= 0


def test_determined_addicted_ends_the_running_term_only():
    _, management, _ = decide()
    after, ended, _ = domain.end_on_determined_addicted(
        person(version=2), [management], concluded_on=date(2025, 4, 2), today=TODAY
    )
    assert ended.end_reason is domain.EndReason.ADDICTED and ended.ended_on == date(2025, 4, 2)
    assert after.version == 3
    # Concluded after the term expired, or before it began: nothing to end.
    assert (
        domain.end_on_determined_addicted(person(), [management], concluded_on=date(2026, 2, 1), today=TODAY)
        is None
    )
    assert (
        domain.end_on_determined_addicted(person(), [management], concluded_on=date(2025, 1, 1), today=TODAY)
        is None
    )
    assert (
        domain.end_on_determined_addicted(person(), [ended], concluded_on=date(2025, 5, 1), today=TODAY)
        is None
    )


def _move(moved_on, reported_at, current="00070"):
    return domain.record_move(
        person(commune_code=current),
        commune_code="00004",
        province_code="01",
        moved_on=moved_on,
        reported_at=reported_at,
        law_version="x",
        today=date(2026, 12, 31),
    )


def test_move_report_within_24_hours_is_on_time_only_from_july_2026():
    from datetime import datetime

    from lienthong.dates import VIETNAM_TIME

    moved_on = date(2026, 7, 10)
    on_time = datetime(2026, 7, 11, 23, 59, tzinfo=VIETNAM_TIME)  # 24 h after the end of the moving day
    late = datetime(2026, 7, 12, 0, 1, tzinfo=VIETNAM_TIME)
    moved, event = _move(moved_on, on_time)
    assert not event.reported_late and moved.commune_code == "00004" and event.from_commune_code == "00070"
    assert moved.version == 2
    assert _move(moved_on, late)[1].reported_late
    assert not _move(date(2026, 6, 30), datetime(2026, 9, 1, tzinfo=VIETNAM_TIME))[
        1
    ].reported_late  # no rule yet


def test_move_to_the_same_commune_is_refused():
    from datetime import datetime

    with pytest.raises(PreconditionFailed) as refused:
        _move(date(2026, 7, 10), datetime(2026, 7, 10, tzinfo=UTC), current="00004")
    assert refused.value.code == "move.same_commune"


def test_decision_records_the_law_in_force_and_refuses_acts_before_law_73():
    assert decide()[1].law_version == "law_73_2021"
    amended = domain.issue_management_decision(
        person(),
        [positive_test(date(2026, 7, 1))],
        [],
        management_id="m9",
        decision_number="9/QĐ",
        decided_on=date(2026, 7, 1),
        today=date(2026, 7, 2),
    )
    assert amended[1].law_version == "law_120_2025"
    with pytest.raises(InvalidInput) as refused:
        decide(tests=[positive_test(date(2021, 5, 1))], decided_on=date(2021, 12, 31))
    assert refused.value.code == "decided_on.before_law"
