"""Aftercare rules without I/O: terms by source, kind and age band, operator by date, placement alert,
schooling for ages 12-18, certificate not before expiry, relapse confirmation, transfer, commune models."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from lienthong.dated import Dated
from lienthong.errors import InvalidInput, PreconditionFailed
from services.aftercare.domain import cases as dom
from services.aftercare.domain import models
from services.aftercare.domain import relapse as rel
from services.aftercare.domain.common import OPERATORS, Person, dated_value
from services.aftercare.settings import AftercareSettings

TODAY = date(2027, 6, 1)
TERMS = dom.Terms()
PERSON = Person("p1", "1:" + "a" * 32, "male", "18_to_30")


def case(**kw) -> dom.Case:
    base = dict(
        case_id="c1",
        person_id="p1",
        source="rehab",
        source_kind="compulsory",
        completed_on=date(2025, 1, 31),
        age_band="18_to_30",
        term_months=24,
        commune_code="00070",
        province_code="01",
        law_version="law_73_2021",
        opened_on=date(2025, 1, 31),
    )
    return dom.Case(**{**base, **kw})


def placed(**kw) -> dom.Case:
    _, c, _ = dom.place(
        PERSON,
        case(**kw),
        decided_on=date(2025, 2, 10),
        decision_number="12/QĐ-UBND",
        caretaker_kind="person",
        caretaker_name="Trần Văn Bình",
        today=TODAY,
    )
    return c


@pytest.mark.parametrize(
    ("kind", "band", "months"),
    [
        ("methadone", "30_and_over", 12),
        ("methadone", "16_to_18", 12),
        ("voluntary_facility", "30_and_over", 12),
        ("voluntary_family", "18_to_30", 12),
        ("voluntary_community", "14_to_16", 12),
        ("compulsory", "under_14", 12),
        ("compulsory", "14_to_16", 12),
        ("compulsory", "16_to_18", 12),
        ("compulsory", "18_to_30", 24),
        ("compulsory", "30_and_over", 24),
        ("compulsory", "unknown", 24),  # unknown counts as adult: nobody leaves early
    ],
)
def test_term_by_source_kind_and_age_band(kind, band, months):
    assert TERMS.months(kind, band) == months


def test_terms_are_settings():
    settings = AftercareSettings(term_months_compulsory_adult=36)
    assert settings.terms().months("compulsory", "30_and_over") == 36
    assert settings.placement_alert_days == 15


def test_term_ends_counted_from_completion_not_the_decision():
    c = placed(term_months=24)
    assert c.ends_on == date(2027, 1, 31)
    # 31 January + 1 month does not exist in February: the term runs to 1 March, never a day early.
    assert case(completed_on=date(2025, 1, 31), term_months=1).ends_on == date(2025, 3, 1)


def test_operator_by_date():
    operators = Dated(OPERATORS)
    assert operators.at(date(2024, 12, 31)) == "labour"
    assert operators.at(date(2025, 2, 28)) == "labour"
    assert operators.at(date(2025, 3, 1)) == "police"
    assert operators.at(date(2025, 6, 15)) == "police"
    with pytest.raises(InvalidInput) as error:
        dated_value(operators, date(2021, 12, 31), "decided_on", "x", "y")
    assert error.value.code == "decided_on.before_law"


def test_operators_setting_is_validated():
    assert AftercareSettings(operators={"2022-01-01": "labour"}).operators == {"2022-01-01": "labour"}
    with pytest.raises(ValueError):
        AftercareSettings(operators={})


def test_placement_alert_after_the_setting_days():
    c = case(opened_on=date(2025, 3, 1))
    assert dom.waiting(c, date(2025, 3, 16), 15) == (15, False)
    assert dom.waiting(c, date(2025, 3, 17), 15) == (16, True)
    assert dom.waiting(c, date(2025, 2, 1), 15) == (0, False)


def test_placement_records_decision_and_refuses_a_second_or_early_one():
    c = placed()
    assert (c.status, c.caretaker_kind, c.decided_on) == (dom.Status.PLACED, "person", date(2025, 2, 10))
    with pytest.raises(PreconditionFailed) as error:
        dom.place(PERSON, c, decided_on=date(2025, 3, 1), decision_number="1", caretaker_kind="person",
                  caretaker_name="X", today=TODAY)  # fmt: skip
    assert error.value.code == "case.already_placed"
    with pytest.raises(InvalidInput) as error:
        dom.place(PERSON, case(), decided_on=date(2025, 1, 1), decision_number="1", caretaker_kind="person",
                  caretaker_name="X", today=TODAY)  # fmt: skip
    assert error.value.code == "decided_on.too_early"
    with pytest.raises(InvalidInput) as error:
        dom.place(PERSON, case(), decided_on=date(2025, 2, 1), decision_number="1", caretaker_kind="family",
                  caretaker_name="X", today=TODAY)  # fmt: skip
    assert error.value.code == "caretaker_kind.unknown"


@pytest.mark.parametrize(
    ("band", "allowed"),
    [
        ("under_14", True),
        ("14_to_16", True),
        ("16_to_18", True),
        ("18_to_30", False),
        ("30_and_over", False),
        ("unknown", False),
    ],
)
def test_schooling_only_for_ages_12_to_18(band, allowed):
    c = placed(age_band=band)
    if allowed:
        _, event = dom.give_support(PERSON, c, given_on=date(2025, 4, 1), kind="schooling", today=TODAY)
        assert event.kind == "schooling"
    else:
        with pytest.raises(PreconditionFailed) as error:
            dom.give_support(PERSON, c, given_on=date(2025, 4, 1), kind="schooling", today=TODAY)
        assert error.value.code == "support.schooling_age"
    _, event = dom.give_support(PERSON, c, given_on=date(2025, 4, 1), kind=" Loan ", today=TODAY)
    assert event.kind == "loan"


def test_support_kind_must_be_known():
    with pytest.raises(InvalidInput) as error:
        dom.give_support(PERSON, placed(), given_on=date(2025, 4, 1), kind="cash", today=TODAY)
    assert error.value.code == "kind.unknown"


def test_certificate_not_before_expiry_and_only_when_placed():
    c = placed(term_months=24)
    with pytest.raises(PreconditionFailed) as error:
        dom.certify(PERSON, c, issued_on=date(2027, 1, 30), today=TODAY)
    assert error.value.code == "certificate.before_expiry"
    with pytest.raises(PreconditionFailed) as error:
        dom.certify(PERSON, case(), issued_on=date(2027, 2, 1), today=TODAY)
    assert error.value.code == "case.not_placed"
    after, closed, event = dom.certify(PERSON, c, issued_on=date(2027, 1, 31), today=TODAY)
    assert (closed.status, closed.close_reason) == (dom.Status.CLOSED, "completed_certificate")
    assert after.version == PERSON.version + 1 and event.on == date(2027, 1, 31)
    with pytest.raises(PreconditionFailed) as error:
        dom.certify(after, closed, issued_on=date(2027, 2, 1), today=TODAY)
    assert error.value.code == "case.closed"


def test_relapse_confirmation_confirms_the_open_suspicion_and_carries_adult():
    c = placed(age_band="30_and_over")
    suspicion = rel.suspect_relapse(c, relapse_id="r1", suspected_on=date(2025, 5, 1), today=TODAY)
    assert suspicion.determined_on is None
    _, relapse, event = rel.confirm_relapse(
        PERSON, c, [suspicion], relapse_id="r2", determined_on=date(2025, 5, 4), today=TODAY
    )
    assert (relapse.relapse_id, relapse.determined_on) == ("r1", date(2025, 5, 4))
    assert event.case.adult and event.on == date(2025, 5, 4)
    # no suspicion first: a new relapse is recorded; a minor is not adult
    minor = placed(age_band="16_to_18", term_months=12)
    _, relapse, event = rel.confirm_relapse(
        PERSON, minor, [], relapse_id="r3", determined_on=date(2025, 5, 4), today=TODAY
    )
    assert relapse.relapse_id == "r3" and not event.case.adult
    with pytest.raises(InvalidInput) as error:
        rel.confirm_relapse(PERSON, c, [], relapse_id="r4", determined_on=date(2028, 1, 1), today=TODAY)
    assert error.value.code == "determined_on.in_future"


def test_transfer_closes_here_and_opens_pending_at_the_new_commune_with_the_same_term():
    c = placed()
    after, closed, opened, events = dom.transfer(
        PERSON,
        c,
        new_case_id="c2",
        moved_on=date(2025, 6, 1),
        commune_code="00004",
        province_code="01",
        law_version="law_73_2021",
        today=TODAY,
    )
    assert (closed.status, closed.close_reason, closed.closed_on) == (
        dom.Status.CLOSED,
        "transferred_out",
        date(2025, 6, 1),
    )
    assert (opened.status, opened.commune_code, opened.transferred_from) == (
        dom.Status.PENDING,
        "00004",
        "c1",
    )
    assert opened.ends_on == c.ends_on and opened.opened_on == date(2025, 6, 1)
    assert [type(e) for e in events] == [dom.CaseClosed, dom.CaseOpened]
    assert after.version == PERSON.version + 2
    with pytest.raises(PreconditionFailed) as error:
        dom.transfer(PERSON, c, new_case_id="c3", moved_on=date(2025, 6, 1), commune_code="00070",
                     province_code="01", law_version="law_73_2021", today=TODAY)  # fmt: skip
    assert error.value.code == "transfer.same_commune"


def test_close_reasons():
    _, closed, _ = dom.close(PERSON, placed(), reason="died", closed_on=date(2025, 7, 1), today=TODAY)
    assert closed.close_reason == "died"
    with pytest.raises(InvalidInput) as error:
        dom.close(PERSON, placed(), reason="completed_certificate", closed_on=date(2025, 7, 1), today=TODAY)
    assert error.value.code == "reason.unknown"


def test_commune_model_changes_in_order():
    def change(history, status, on=date(2025, 5, 1)):
        return models.change(
            history, commune_code="00070", province_code="01", on=on, status=status, today=TODAY
        )

    assert change([], "started").version == 1
    assert change([], "maintained").status == "maintained"  # a model older than the system
    running = [(date(2025, 1, 1), "started")]
    assert change(running, "maintained").version == 2
    for history, status, code in [
        (running, "started", "model.already_running"),
        ([], "stopped", "model.not_running"),
        ([(date(2025, 1, 1), "stopped")], "maintained", "model.stopped"),
    ]:
        with pytest.raises(PreconditionFailed) as error:
            change(history, status)
        assert error.value.code == code
    with pytest.raises(InvalidInput) as error:
        change(running, "stopped", on=date(2024, 12, 1))
    assert error.value.code == "on.too_early"
    assert replace(change(running, "stopped"), version=0).status == "stopped"
