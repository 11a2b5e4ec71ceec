"""Compulsory-rehab dossier rules, without I/O."""

from __future__ import annotations

from datetime import date

import pytest

from lienthong.errors import InvalidInput, PreconditionFailed
from services.registry import dossier_rules as rules

TODAY = date(2026, 11, 1)
ADULT_BORN = date(1990, 1, 1)
MINOR_BORN = date(2010, 6, 1)  # 15 in 2025


def opened(born=ADULT_BORN, ground="no_voluntary_rehab", on=date(2025, 3, 1), existing=()):
    return rules.open_dossier(
        dossier_id="d1",
        person_id="p1",
        date_of_birth=born,
        ground=ground,
        opened_on=on,
        existing=list(existing),
        today=TODAY,
    )


def submitted(**kw):
    return rules.submit(opened(**kw), submitted_on=date(2025, 3, 10), today=TODAY)


def test_full_path_opened_submitted_granted_with_the_law_in_force():
    dossier = submitted()
    assert dossier.status is rules.Status.SUBMITTED and dossier.law_version == "law_73_2021"
    decided = rules.decide(
        dossier,
        decided_on=date(2025, 4, 1),
        granted=True,
        term_months=18,
        facility_code="HN-CS2",
        today=TODAY,
    )
    assert (decided.status, decided.term_months, decided.facility_code) == (
        rules.Status.GRANTED,
        18,
        "HN-CS2",
    )
    assert not decided.open


def test_opened_after_the_amended_law_records_its_version():
    assert opened(on=date(2026, 7, 1)).law_version == "law_120_2025"
    assert opened(on=date(2026, 6, 30)).law_version == "law_73_2021"


def test_minors_only_on_the_first_three_grounds_and_with_shorter_terms():
    with pytest.raises(PreconditionFailed) as refused:
        opened(born=MINOR_BORN, ground="relapse_in_aftercare")
    assert refused.value.code == "dossier.ground_not_for_minors"
    dossier = submitted(born=MINOR_BORN, ground="methadone_refused_or_stopped")
    assert dossier.minor
    with pytest.raises(InvalidInput) as refused:
        rules.decide(
            dossier, decided_on=date(2025, 4, 1), granted=True, term_months=18, facility_code="X", today=TODAY
        )
    assert refused.value.code == "term_months.out_of_range" and "6 to 12" in refused.value.en
    rules.decide(
        dossier, decided_on=date(2025, 4, 1), granted=True, term_months=12, facility_code="X", today=TODAY
    )


def test_under_12_is_refused():
    with pytest.raises(PreconditionFailed) as refused:
        opened(born=date(2014, 1, 1))
    assert refused.value.code == "dossier.under_12"


@pytest.mark.parametrize("term", [11, 25, 0])
def test_adult_terms_outside_12_to_24_months_are_refused(term):
    with pytest.raises(InvalidInput):
        rules.decide(
            submitted(),
            decided_on=date(2025, 4, 1),
            granted=True,
            term_months=term,
            facility_code="X",
            today=TODAY,
        )


def test_order_of_acts_and_one_open_dossier():
    with pytest.raises(PreconditionFailed) as refused:
        rules.decide(
            opened(), decided_on=date(2025, 4, 1), granted=False, term_months=0, facility_code="", today=TODAY
        )
    assert refused.value.code == "dossier.not_submitted"
    with pytest.raises(InvalidInput):
        rules.submit(opened(), submitted_on=date(2025, 2, 1), today=TODAY)
    with pytest.raises(PreconditionFailed) as refused:
        opened(existing=[submitted()])
    assert refused.value.code == "dossier.already_open"
    rejected = rules.decide(
        submitted(), decided_on=date(2025, 4, 1), granted=False, term_months=0, facility_code="", today=TODAY
    )
    assert rejected.status is rules.Status.REJECTED
    opened(existing=[rejected])  # a new dossier after a rejection is allowed
    with pytest.raises(InvalidInput) as refused:
        opened(ground="because")
    assert refused.value.code == "ground.unknown"
    with pytest.raises(InvalidInput):
        rules.decide(
            submitted(),
            decided_on=date(2025, 4, 1),
            granted=True,
            term_months=18,
            facility_code=" ",
            today=TODAY,
        )


def test_a_dossier_before_law_73_is_refused_not_a_crash():
    with pytest.raises(InvalidInput) as refused:
        opened(on=date(2021, 12, 31))
    assert refused.value.code == "opened_on.before_law"
