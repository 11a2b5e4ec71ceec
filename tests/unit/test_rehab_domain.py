"""Rehab rules without I/O: terms by kind, age and law version, temporary stay, stages and completion,
reduction, discharge reasons, operator by date, capacity."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from lienthong.dated import Dated
from lienthong.errors import InvalidInput, PreconditionFailed
from services.rehab.domain import admissions as adm
from services.rehab.domain import progress
from services.rehab.domain.facilities import Facility, FacilityType, check_admits, check_facility
from services.rehab.domain.people import OPERATORS, Identity, Person
from services.rehab.domain.terms import DEFAULT_TERMS, DischargeReason, Kind, Rules, Stage, check_term
from services.rehab.settings import RehabSettings

TODAY = date(2026, 11, 24)
RULES = Rules()
PERSON = Person(
    "p1", "1:" + "a" * 32, "male", "00070", "01", Identity("001099012345", "An", date(1999, 4, 2))
)
PUBLIC = Facility("f1", "F1", True, "Sở", 2, FacilityType.MULTI_FUNCTION, "00070", "01")
PRIVATE = Facility("f2", "F2", False, "Cty", 2, FacilityType.VOLUNTARY_ONLY, "00070", "01")


def admission(kind=Kind.COMPULSORY, **kw) -> adm.Admission:
    base = dict(
        admission_id="a1",
        person_id="p1",
        kind=kind,
        law_version="law_73_2021",
        term_months=12,
        minor=False,
        commune_code="00070",
        province_code="01",
        facility_code="f1" if kind.at_facility else None,
        admitted_on=date(2025, 1, 1),
        stage_on=date(2025, 1, 1),
    )
    return adm.Admission(**{**base, **kw})


@pytest.mark.parametrize(
    "kind,minor,ok,bad",
    [
        (Kind.VOLUNTARY_FAMILY, False, (6, 12), (5, 13)),
        (Kind.VOLUNTARY_COMMUNITY, False, (6, 12), (5, 13)),
        (Kind.VOLUNTARY_FACILITY, False, (6, 12), (5, 13)),
        (Kind.COMPULSORY, False, (12, 24), (11, 25)),
        (Kind.COMPULSORY, True, (6, 12), (5, 13)),
    ],
)
def test_terms_by_kind_and_age(kind, minor, ok, bad):
    for months in ok:
        check_term(RULES, "law_73_2021", kind, minor, months)
    for months in bad:
        with pytest.raises(InvalidInput) as error:
            check_term(RULES, "law_73_2021", kind, minor, months)
        assert error.value.code == "term_months.out_of_range"


def test_terms_by_law_version_are_settings():
    terms = {**DEFAULT_TERMS, "law_120_2025": {**DEFAULT_TERMS["law_120_2025"], "compulsory_adult": (24, 36)}}
    rules = Rules(terms=terms)
    check_term(rules, "law_120_2025", Kind.COMPULSORY, False, 36)
    with pytest.raises(InvalidInput):
        check_term(rules, "law_73_2021", Kind.COMPULSORY, False, 36)
    with pytest.raises(ValueError):
        RehabSettings(terms={"law_73_2021": {"compulsory_adult": (12, 24)}})


def test_operator_by_date():
    operators = Dated(OPERATORS)
    assert operators.at(date(2025, 2, 28)) == "labour"
    assert operators.at(date(2025, 3, 1)) == "police"
    assert RehabSettings().operators == OPERATORS


def test_temporary_stay_is_deducted_from_the_term():
    expected = admission(status=adm.Status.EXPECTED, admitted_on=None, court_decided_on=date(2025, 1, 1))
    stayed = adm.record_temporary_stay(
        expected, [], start_on=date(2024, 12, 1), end_on=date(2024, 12, 11), today=TODAY
    )
    assert stayed.temporary_stay_days == 10
    with pytest.raises(PreconditionFailed) as overlap:
        adm.record_temporary_stay(
            stayed,
            [(date(2024, 12, 1), date(2024, 12, 11))],
            start_on=date(2024, 12, 10),
            end_on=date(2024, 12, 20),
            today=TODAY,
        )
    assert overlap.value.code == "temporary_stay.overlap"
    _, admitted, event = adm.admit_expected(
        PERSON, stayed, [], PUBLIC, 0, admitted_on=date(2025, 1, 5), extra_stay_days=5, today=TODAY
    )
    assert admitted.temporary_stay_days == 15 and event.admission.temporary_stay_days == 15
    assert admitted.planned_end == date(2025, 12, 21)  # 2026-01-05 less 15 days
    with pytest.raises(PreconditionFailed):  # only before arrival
        adm.record_temporary_stay(
            admitted, [], start_on=date(2024, 11, 1), end_on=date(2024, 11, 2), today=TODAY
        )


def test_stages_go_forward_one_at_a_time():
    a = admission()
    with pytest.raises(PreconditionFailed) as error:
        progress.advance(a, Stage.EDUCATION_COUNSELLING, on=date(2025, 2, 1), today=TODAY)
    assert error.value.code == "stage.order"
    a = progress.advance(a, Stage.DETOX_TREATMENT, on=date(2025, 2, 1), today=TODAY)
    with pytest.raises(PreconditionFailed):
        progress.advance(a, Stage.INTAKE, on=date(2025, 2, 2), today=TODAY)
    with pytest.raises(InvalidInput):  # before the current stage began
        progress.advance(a, Stage.EDUCATION_COUNSELLING, on=date(2025, 1, 15), today=TODAY)


@pytest.mark.parametrize(
    "kind,stage,ok",
    [
        (Kind.COMPULSORY, Stage.LABOUR_VOCATIONAL, False),
        (Kind.COMPULSORY, Stage.REINTEGRATION_PREPARATION, True),
        (Kind.VOLUNTARY_FACILITY, Stage.DETOX_TREATMENT, False),
        (Kind.VOLUNTARY_FACILITY, Stage.EDUCATION_COUNSELLING, True),
        (Kind.VOLUNTARY_FAMILY, Stage.EDUCATION_COUNSELLING, True),
    ],
)
def test_completion_needs_the_stages_of_the_kind(kind, stage, ok):
    a = admission(kind, stage=stage, term_months=12)
    on = date(2026, 1, 1)
    if ok:
        _, ended, _ = progress.discharge(PERSON, a, reason=DischargeReason.COMPLETED, on=on, today=TODAY)
        assert ended.status is adm.Status.DISCHARGED and ended.discharge_reason.completes
    else:
        with pytest.raises(PreconditionFailed) as error:
            progress.discharge(PERSON, a, reason=DischargeReason.COMPLETED, on=on, today=TODAY)
        assert error.value.code == "discharge.stages_incomplete"


def test_completion_needs_the_term_served():
    a = admission(stage=Stage.REINTEGRATION_PREPARATION)
    with pytest.raises(PreconditionFailed) as error:
        progress.discharge(PERSON, a, reason=DischargeReason.COMPLETED, on=date(2025, 12, 31), today=TODAY)
    assert error.value.code == "discharge.term_not_served"


def test_reduction_after_half_the_term_by_3_to_6_months():
    a = admission(term_months=24)  # half served on 2026-01-01
    with pytest.raises(PreconditionFailed) as early:
        progress.reduce_term(a, months=3, decided_on=date(2025, 12, 31), rules=RULES, today=TODAY)
    assert early.value.code == "reduction.before_half"
    for months in (2, 7):
        with pytest.raises(InvalidInput):
            progress.reduce_term(a, months=months, decided_on=date(2026, 1, 1), rules=RULES, today=TODAY)
    reduced = progress.reduce_term(a, months=6, decided_on=date(2026, 1, 1), rules=RULES, today=TODAY)
    assert reduced.planned_end == date(2026, 7, 1)
    with pytest.raises(PreconditionFailed):
        progress.reduce_term(reduced, months=3, decided_on=date(2026, 2, 1), rules=RULES, today=TODAY)
    voluntary = admission(Kind.VOLUNTARY_FACILITY, term_months=12)
    with pytest.raises(PreconditionFailed):
        progress.reduce_term(voluntary, months=3, decided_on=date(2025, 10, 1), rules=RULES, today=TODAY)
    done = replace(reduced, stage=Stage.REINTEGRATION_PREPARATION)
    _, ended, _ = progress.discharge(
        PERSON, done, reason=DischargeReason.TERM_REDUCED, on=date(2026, 7, 1), today=TODAY
    )
    assert ended.discharge_reason is DischargeReason.TERM_REDUCED


def test_discharge_reasons():
    assert {r.value for r in DischargeReason} == {
        "completed",
        "term_reduced",
        "transferred",
        "absconded",
        "self_terminated",
        "violation",
        "to_prison",
        "died",
        "other",
    }
    assert {r for r in DischargeReason if r.completes} == {
        DischargeReason.COMPLETED,
        DischargeReason.TERM_REDUCED,
    }
    with pytest.raises(PreconditionFailed):
        progress.discharge(
            PERSON, admission(), reason=DischargeReason.SELF_TERMINATED, on=date(2025, 2, 1), today=TODAY
        )
    with pytest.raises(PreconditionFailed):
        progress.discharge(
            PERSON, admission(), reason=DischargeReason.TERM_REDUCED, on=date(2025, 2, 1), today=TODAY
        )
    voluntary = admission(Kind.VOLUNTARY_FAMILY)
    _, ended, _ = progress.discharge(
        PERSON, voluntary, reason=DischargeReason.SELF_TERMINATED, on=date(2025, 2, 1), today=TODAY
    )
    assert not ended.is_open


def test_absconded_and_returned_keeps_the_same_admission_open():
    _, gone, _ = progress.discharge(
        PERSON, admission(), reason=DischargeReason.ABSCONDED, on=date(2025, 3, 1), today=TODAY
    )
    assert gone.is_open and gone.status is adm.Status.ABSCONDED
    _, back, event = progress.record_return(
        PERSON, gone, PUBLIC, 0, returned_on=date(2025, 3, 11), today=TODAY
    )
    assert (
        back.status is adm.Status.ADMITTED
        and back.absent_days == 10
        and event.returned_on == date(2025, 3, 11)
    )
    assert back.planned_end == date(2026, 1, 11)  # days away do not count


def test_capacity_and_public_facilities():
    check_admits(PUBLIC, Kind.COMPULSORY, 1)
    with pytest.raises(PreconditionFailed) as full:
        check_admits(PUBLIC, Kind.COMPULSORY, 2)
    assert full.value.code == "facility.full"
    with pytest.raises(PreconditionFailed) as private:
        check_admits(PRIVATE, Kind.COMPULSORY, 0)
    assert private.value.code == "facility.not_public"
    check_admits(PRIVATE, Kind.VOLUNTARY_FACILITY, 1)
    with pytest.raises(InvalidInput):
        check_facility(replace(PRIVATE, type=FacilityType.MULTI_FUNCTION))


def test_admit_one_open_per_person_and_minor_terms():
    candidate = admission(Kind.VOLUNTARY_FACILITY, term_months=6)
    _, first, _ = adm.admit(PERSON, [], candidate, PUBLIC, 0, rules=RULES, today=TODAY)
    with pytest.raises(PreconditionFailed) as error:
        adm.admit(PERSON, [first], replace(candidate, admission_id="a2"), PUBLIC, 0, rules=RULES, today=TODAY)
    assert error.value.code == "admission.already_open"
    minor = admission(minor=True, term_months=12)
    adm.admit(PERSON, [], minor, PUBLIC, 0, rules=RULES, today=TODAY)
    with pytest.raises(InvalidInput):
        adm.admit(PERSON, [], replace(minor, term_months=18), PUBLIC, 0, rules=RULES, today=TODAY)
