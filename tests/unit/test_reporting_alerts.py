"""The alert rules, pure: constructed steps in, alerts out, with the thresholds of the shipped rules.toml.

Boundaries: the last day before an alert and the first day of it, the law version switching on
2026-07-01, a later act closing an alert, and the same result whatever order the steps come in.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest

from services.reporting.alerts import rulebook
from services.reporting.alerts.domain import evaluate
from services.reporting.alerts.model import AlertQuery
from services.reporting.steps import Step

BOOK = rulebook.current()
BA_DINH, HOAN_KIEM, CUA_NAM, BEN_THANH = "00004", "00070", "00073", "26743"
PROVINCE = {BA_DINH: "01", HOAN_KIEM: "01", CUA_NAM: "01", BEN_THANH: "79"}
_ids = count(1)

DISCHARGED, METHADONE_ENDED = "rehab.admission.discharged.v1", "health.methadone.ended.v1"
ADMITTED, ENROLLED = "rehab.admission.admitted.v1", "health.methadone.enrolled.v1"
PLACED, CLOSED = "aftercare.case.placed.v1", "aftercare.case.closed.v1"
DECIDED, ENDED = "registry.management.decided.v1", "registry.management.ended.v1"
REQUESTED, CONCLUDED = "health.determination.requested.v1", "health.determination.concluded.v1"
TESTED, MOVED = "registry.drug_test.positive_recorded.v1", "registry.person.moved.v1"


def pseudonym(n: int) -> str:
    return f"1:{n:032x}"


def step(
    event_type: str, on: date, record: str = "", *, person: int = 1, commune: str = HOAN_KIEM, **codes
) -> Step:
    n = next(_ids)
    return Step(
        event_id=f"ev-{n:06d}",
        event_type=event_type,
        department=event_type.split(".")[0],
        agency="police",
        occurred_on=on,
        recorded_at=datetime(on.year, on.month, on.day, 12, tzinfo=UTC) + timedelta(seconds=n),
        pseudonym=pseudonym(person),
        commune_code=commune,
        province_code=PROVINCE[commune],
        sex="male",
        age_band="18_to_30",
        record_id=record,
        codes=tuple((k, str(v)) for k, v in codes.items()),
    )


def alerts(steps, as_of: date, **query):
    return evaluate(steps, BOOK, AlertQuery(as_of=as_of, **query))


def found(steps, as_of: date, **query) -> list[tuple]:
    return [(a.rule, a.record_id, a.since, a.due, a.days_overdue) for a in alerts(steps, as_of, **query)]


D = date(2025, 9, 1)


def after(days: int, start: date = D) -> date:
    return start + timedelta(days=days)


# --- 1. completer_without_aftercare -----------------------------------------------------------------


def completed_rehab(on: date = D, **kw) -> Step:
    return step(
        DISCHARGED, on, "adm-1", kind="voluntary_facility", reason="completed", completed="true", **kw
    )


def test_a_completer_is_listed_the_day_after_the_15_days_for_placement():
    steps = [completed_rehab()]
    assert found(steps, after(15)) == []
    (alert,) = alerts(steps, after(16))
    assert (alert.rule, alert.record_id, alert.since, alert.due, alert.days_overdue) == (
        "completer_without_aftercare",
        "adm-1",
        D,
        after(15),
        1,
    )
    assert (alert.owner_department, alert.law_version) == ("aftercare", "law_73_2021")
    assert (alert.pseudonym, alert.commune_code, alert.commune_name, alert.province_code) == (
        pseudonym(1),
        HOAN_KIEM,
        "Phường Hoàn Kiếm",
        "01",
    )
    assert alert.message_vi == (
        "Hoàn thành cai nghiện ngày 2025-09-01 nhưng chưa có quyết định quản lý sau cai nghiện; "
        "hạn 2025-09-16, quá 1 ngày."
    )
    assert alert.message_en == (
        "Completed rehab on 2025-09-01 but has no aftercare decision; due 2025-09-16, 1 days overdue."
    )


def test_a_methadone_completion_counts_and_other_ends_do_not():
    steps = [
        step(METHADONE_ENDED, D, "ep-1", reason="completed"),
        step(METHADONE_ENDED, D, "ep-2", person=2, reason="transferred"),
        step(DISCHARGED, D, "adm-3", person=3, reason="absconded", completed="false"),
    ]
    assert [
        (a.rule, a.record_id) for a in alerts(steps, after(40), rules=("completer_without_aftercare",))
    ] == [("completer_without_aftercare", "ep-1")]


def test_a_placement_even_late_closes_it_but_not_one_after_as_of_or_before_the_completion():
    late = step(PLACED, after(20), "case-1", term_months=12, ends_on="2026-09-01")
    assert found([completed_rehab(), late], after(30)) == []
    # Looking back at a day before the placement, the person was still waiting.
    assert [a[0] for a in found([late, completed_rehab()], after(18))] == ["completer_without_aftercare"]
    earlier_case = step(PLACED, after(-400), "case-0", term_months=12, ends_on="2025-07-01")
    rule_1 = ("completer_without_aftercare",)
    assert [a[0] for a in found([earlier_case, completed_rehab()], after(30), rules=rule_1)] == [
        "completer_without_aftercare"
    ]


def test_a_pending_case_closed_for_death_ends_the_wait_but_a_transfer_does_not():
    died = step(CLOSED, after(3), "case-1", reason="died")
    moved = step(CLOSED, after(3), "case-1", reason="transferred_out")
    assert found([completed_rehab(), died], after(30)) == []
    assert [a[0] for a in found([completed_rehab(), moved], after(30))] == ["completer_without_aftercare"]


@pytest.mark.parametrize(
    ("completed_on", "law"), [(date(2026, 6, 30), "law_73_2021"), (date(2026, 7, 1), "law_120_2025")]
)
def test_the_law_version_is_the_one_in_force_when_the_clock_started(completed_on, law):
    (alert,) = alerts([completed_rehab(completed_on)], after(60, completed_on))
    assert alert.law_version == law


def test_a_clock_started_before_law_73_2021_raises_nothing():
    assert found([completed_rehab(date(2021, 12, 31))], date(2022, 6, 1)) == []
    assert len(found([completed_rehab(date(2022, 1, 1))], date(2022, 6, 1))) == 1


# --- 2. management_term_ended_not_closed ------------------------------------------------------------


def decision(on: date = D, record: str = "m-1", **kw) -> Step:
    return step(DECIDED, on, record, expires_on=on.replace(year=on.year + 1).isoformat(), **kw)


def addicted(on: date, **kw) -> Step:
    return step(CONCLUDED, on, "det-1", result="addicted", **kw)


def test_a_term_ended_in_law_by_an_addicted_determination_is_listed_after_7_days_without_an_end():
    act_on = after(30)
    steps = [decision(), addicted(act_on)]
    assert found(steps, after(7, act_on)) == []
    (alert,) = alerts(steps, after(8, act_on))
    assert (alert.rule, alert.record_id, alert.since, alert.due, alert.days_overdue) == (
        "management_term_ended_not_closed",
        "m-1",
        act_on,
        after(7, act_on),
        1,
    )
    assert alert.owner_department == "registry"
    assert "determined addicted on 2025-10-01" in alert.message_en
    assert "được xác định là nghiện" in alert.message_vi


def test_the_registrys_end_or_a_later_decision_closes_it_in_any_order():
    act_on = after(30)
    end = step(ENDED, act_on, "m-1", reason="addicted")
    assert found([end, addicted(act_on), decision()], after(60, act_on)) == []
    renewal = decision(date(2026, 9, 2), "m-2")
    assert found([renewal, addicted(act_on), decision()], date(2026, 9, 10)) == []


@pytest.mark.parametrize("act_on", [D - timedelta(days=1), date(2026, 9, 1)])
def test_an_act_outside_the_term_ends_nothing(act_on):
    # The day before the decision, and the expiry day (the first day no longer under management).
    assert found([decision(), addicted(act_on)], date(2027, 1, 1)) == []


def test_a_term_that_simply_ran_out_is_not_an_alert():
    assert found([decision()], date(2027, 1, 1)) == []


def test_other_ending_acts_come_from_the_rule_file_and_other_results_do_not_end_a_term():
    prison = step(DISCHARGED, after(40), "adm-9", reason="to_prison", completed="false")
    not_addicted = step(CONCLUDED, after(10), "det-2", result="not_addicted")
    (alert,) = alerts([decision(), not_addicted, prison], after(60))
    assert (alert.since, alert.message_en.split(" although ")[1][:26]) == (
        after(40),
        "the person was sent to pri",
    )


# --- 3. determination_overdue -----------------------------------------------------------------------


def test_a_determination_is_overdue_the_day_after_the_5_days():
    requested = step(REQUESTED, D, "det-1", legal_case="police_a")
    assert found([requested], after(5)) == []
    assert found([requested], after(6)) == [("determination_overdue", "det-1", D, after(5), 1)]
    (alert,) = alerts([requested], after(6))
    assert alert.owner_department == "health"


def test_a_conclusion_closes_it_whatever_the_order_unless_it_comes_after_as_of():
    requested = step(REQUESTED, D, "det-1", legal_case="police_a")
    concluded = step(CONCLUDED, after(9), "det-1", result="keep_observing")
    assert found([concluded, requested], after(10)) == []
    assert found([concluded, requested], after(8)) == [("determination_overdue", "det-1", D, after(5), 3)]


# --- 4. methadone_dropout ---------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["dropped_out", "voluntary_stop"])
def test_a_dropout_is_listed_from_its_day_for_30_days(reason):
    ended = step(METHADONE_ENDED, D, "ep-1", reason=reason)
    assert found([ended], D) == [("methadone_dropout", "ep-1", D, D, 0)]
    assert found([ended], after(30)) == [("methadone_dropout", "ep-1", D, D, 30)]
    assert found([ended], after(31)) == []


def test_other_methadone_ends_are_not_dropouts_and_re_enrolment_closes_one():
    violation = step(METHADONE_ENDED, D, "ep-1", person=1, reason="terminated_violation")
    completed = step(METHADONE_ENDED, D, "ep-2", person=2, reason="completed")
    assert found([violation, completed], after(3), rules=("methadone_dropout",)) == []
    dropped = step(METHADONE_ENDED, D, "ep-1", reason="dropped_out")
    back = step(ENROLLED, after(5), "ep-3")
    assert found([back, dropped], after(10)) == []
    (alert,) = alerts([dropped], after(2))
    assert (alert.owner_department, alert.message_en) == (
        "health",
        "Methadone episode ep-1 ended on 2025-09-01: dropped out.",
    )


# --- 5. positive_test_in_256a_window ----------------------------------------------------------------


RULE_5 = ("positive_test_in_256a_window",)


def positive(on: date, record: str = "t-1", **kw) -> Step:
    return step(TESTED, on, record, substance="heroin", during_management="false", **kw)


def test_a_positive_test_during_methadone_from_2025_07_01():
    enrolled = step(ENROLLED, date(2025, 1, 10), "ep-1")
    assert found([enrolled, positive(date(2025, 6, 30))], date(2025, 7, 5)) == []
    (alert,) = alerts([enrolled, positive(date(2025, 7, 1))], date(2025, 7, 5))
    assert (alert.rule, alert.record_id, alert.owner_department, alert.days_overdue) == (
        "positive_test_in_256a_window",
        "t-1",
        "registry",
        4,
    )
    assert alert.message_en == (
        "Positive drug test t-1 on 2025-07-01 during methadone treatment (ep-1) (Criminal Code Art. 256a)."
    )


def test_the_window_runs_24_months_after_aftercare_ends():
    placed = step(PLACED, date(2025, 1, 1), "case-1", term_months=12, ends_on="2026-01-01")
    last_day = positive(date(2027, 12, 31))
    (alert,) = alerts([placed, last_day], date(2028, 1, 5), rules=RULE_5)
    assert "within 24 months after aftercare (case-1) ended on 2026-01-01" in alert.message_en
    assert found([placed, positive(date(2028, 1, 1))], date(2028, 1, 5), rules=RULE_5) == []


def test_rehab_runs_until_a_discharge_other_than_absconding_and_the_list_keeps_a_test_90_days():
    admitted = step(ADMITTED, date(2025, 3, 1), "adm-1", kind="compulsory")
    absconded = step(DISCHARGED, date(2025, 5, 1), "adm-1", reason="absconded", completed="false")
    tested = positive(date(2025, 8, 1))
    (alert,) = alerts([tested, absconded, admitted], date(2025, 8, 2))
    assert "during rehab (adm-1)" in alert.message_en
    assert len(found([tested, absconded, admitted], after(90, date(2025, 8, 1)))) == 1
    assert found([tested, absconded, admitted], after(91, date(2025, 8, 1))) == []


def test_a_test_outside_every_window_or_only_under_management_is_not_listed():
    assert found([positive(D)], after(1)) == []
    assert (
        found([decision(date(2025, 6, 1)), positive(D)], after(1), rules=("positive_test_in_256a_window",))
        == []
    )


# --- 6. move_reported_late --------------------------------------------------------------------------


def test_a_late_move_report_is_listed_from_2026_07_01_for_30_days():
    before = step(MOVED, date(2026, 6, 30), reported_late="true", from_commune_code=BA_DINH)
    first = step(MOVED, date(2026, 7, 1), person=2, reported_late="true", from_commune_code=BA_DINH)
    on_time = step(MOVED, date(2026, 7, 1), person=3, reported_late="false", from_commune_code=BA_DINH)
    as_of = date(2026, 7, 10)
    (alert,) = alerts([before, first, on_time], as_of)
    assert (alert.rule, alert.pseudonym, alert.since, alert.due, alert.days_overdue) == (
        "move_reported_late",
        pseudonym(2),
        date(2026, 7, 1),
        date(2026, 7, 2),
        8,
    )
    assert (alert.law_version, alert.owner_department) == ("law_120_2025", "registry")
    assert found([first], date(2026, 7, 31)) != []
    assert found([first], date(2026, 8, 1)) == []


# --- 7. aftercare_past_term_without_certificate -----------------------------------------------------


def test_a_placed_case_is_listed_the_day_after_its_term_until_it_is_closed():
    ends = date(2026, 9, 1)
    placed = step(PLACED, D, "case-1", term_months=12, ends_on=ends.isoformat())
    assert found([placed], ends) == []
    (alert,) = alerts([placed], after(1, ends))
    assert (alert.rule, alert.record_id, alert.since, alert.due, alert.days_overdue) == (
        "aftercare_past_term_without_certificate",
        "case-1",
        ends,
        ends,
        1,
    )
    assert (alert.owner_department, alert.law_version) == ("aftercare", "law_120_2025")
    certificate = step(CLOSED, after(3, ends), "case-1", reason="completed_certificate")
    assert found([certificate, placed], after(10, ends)) == []


def test_the_latest_placement_of_a_case_sets_its_term():
    first = step(PLACED, D, "case-1", term_months=12, ends_on="2026-09-01")
    again = step(PLACED, after(1), "case-1", term_months=24, ends_on="2027-09-01")
    assert found([again, first], date(2026, 10, 1)) == []


# --- the list as a whole ----------------------------------------------------------------------------


def everything() -> list[Step]:
    return [
        completed_rehab(person=1, commune=HOAN_KIEM),
        step(REQUESTED, after(20), "det-5", person=5, commune=HOAN_KIEM, legal_case="police_a"),
        step(REQUESTED, after(10), "det-2", person=2, commune=BA_DINH, legal_case="voluntary"),
        step(METHADONE_ENDED, after(25), "ep-3", person=3, commune=BEN_THANH, reason="dropped_out"),
        decision(person=4, commune=CUA_NAM),
        addicted(after(2), person=4, commune=CUA_NAM),
        # Person 6 lived in Ba Đình, then moved to Cửa Nam: the alert goes where they live now.
        step(REQUESTED, after(1), "det-6", person=6, commune=BA_DINH, legal_case="police_b"),
        step(MOVED, after(2), person=6, commune=CUA_NAM, reported_late="false", from_commune_code=BA_DINH),
    ]


def test_sorted_by_commune_name_then_most_overdue_first_and_filtered_by_unit():
    as_of = after(30)
    listed = [(a.commune_name, a.days_overdue, a.rule) for a in alerts(everything(), as_of)]
    assert listed == [
        ("Phường Ba Đình", 15, "determination_overdue"),
        ("Phường Cửa Nam", 24, "determination_overdue"),
        ("Phường Cửa Nam", 21, "management_term_ended_not_closed"),
        ("Phường Hoàn Kiếm", 15, "completer_without_aftercare"),
        ("Phường Hoàn Kiếm", 5, "determination_overdue"),
        ("Phường Bến Thành", 5, "methadone_dropout"),
    ]
    assert {a.pseudonym for a in alerts(everything(), as_of, commune_codes=(CUA_NAM,))} == {
        pseudonym(4),
        pseudonym(6),
    }
    assert [a.commune_code for a in alerts(everything(), as_of, province_code="79")] == [BEN_THANH]
    assert [
        a.rule for a in alerts(everything(), as_of, rules=("methadone_dropout", "move_reported_late"))
    ] == ["methadone_dropout"]


@pytest.mark.parametrize("seed", range(5))
def test_the_same_list_whatever_order_the_steps_come_in_and_however_often(seed):
    steps = [
        *everything(),
        step(CONCLUDED, after(4), "det-2", person=2, commune=BA_DINH, result="addicted"),
        step(ENDED, after(3), "m-1", person=4, commune=CUA_NAM, reason="addicted"),
    ]
    expected = alerts(steps, after(30))
    shuffled = steps + random.Random(seed).sample(steps, k=4)
    random.Random(seed).shuffle(shuffled)
    assert alerts(shuffled, after(30)) == expected
    assert [a.rule for a in expected] == [
        "determination_overdue",
        "completer_without_aftercare",
        "determination_overdue",
        "methadone_dropout",
    ]


def test_a_threshold_can_differ_by_law_version():
    data = _rules_data()
    data["rules"]["determination_overdue"]["by_law"] = {"law_120_2025": {"days": 10}}
    book = rulebook.parse(data)
    under_73 = step(REQUESTED, date(2026, 6, 30), "det-1", legal_case="police_a")
    under_120 = step(REQUESTED, date(2026, 7, 1), "det-2", person=2, legal_case="police_a")
    listed = evaluate([under_73, under_120], book, AlertQuery(as_of=date(2026, 7, 10)))
    assert [(a.record_id, a.due) for a in listed] == [("det-1", date(2026, 7, 5))]
    listed = evaluate([under_73, under_120], book, AlertQuery(as_of=date(2026, 7, 12)))
    assert [(a.record_id, a.law_version, a.due) for a in listed] == [
        ("det-1", "law_73_2021", date(2026, 7, 5)),
        ("det-2", "law_120_2025", date(2026, 7, 11)),
    ]


def _rules_data() -> dict:
    import tomllib

    return tomllib.loads(rulebook.RULES_FILE.read_text(encoding="utf-8"))
