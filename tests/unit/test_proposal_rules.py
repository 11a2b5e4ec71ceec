from datetime import date

import pytest

from lienthong.errors import InvalidInput, PreconditionFailed
from services.registry import proposal_rules as rules

TODAY = date(2025, 12, 31)


def proposal(change="add", **kw):
    fields = dict(
        proposal_id="x",
        change=change,
        person_id="p",
        proposed_by="officer",
        proposed_on=date(2025, 1, 8),
        legal_basis="Điều 23",
        pending=[],
        management_id="m" if change == "remove" else None,
        end_reason="died" if change == "remove" else None,
        today=TODAY,
    )
    fields.update(kw)
    return rules.propose(**fields)


def test_review_records_who_and_when_and_needs_a_decision_number_to_add():
    with pytest.raises(InvalidInput) as refused:
        rules.review(
            proposal(),
            approve=True,
            reviewed_by="chair",
            reviewed_on=date(2025, 1, 9),
            note="",
            decision_number=None,
            today=TODAY,
        )
    assert refused.value.code == "decision_number.required"
    done = rules.review(
        proposal(),
        approve=True,
        reviewed_by="chair",
        reviewed_on=date(2025, 1, 9),
        note="ok",
        decision_number="1/QĐ",
        today=TODAY,
    )
    assert (done.state, done.reviewed_by, done.reviewed_on) == (
        rules.State.APPROVED,
        "chair",
        date(2025, 1, 9),
    )
    with pytest.raises(PreconditionFailed):
        rules.review(
            done,
            approve=False,
            reviewed_by="chair",
            reviewed_on=date(2025, 1, 9),
            note="",
            decision_number=None,
            today=TODAY,
        )


@pytest.mark.parametrize("reviewed_on", [date(2025, 1, 7), date(2026, 1, 1)])
def test_review_date_between_proposal_and_today(reviewed_on):
    with pytest.raises(InvalidInput):
        rules.review(
            proposal(),
            approve=False,
            reviewed_by="chair",
            reviewed_on=reviewed_on,
            note="",
            decision_number=None,
            today=TODAY,
        )


def test_removal_needs_its_term_and_reason_and_kinds_are_checked():
    with pytest.raises(InvalidInput):
        proposal("remove", management_id=None)
    with pytest.raises(InvalidInput):
        proposal("promote")
    with pytest.raises(InvalidInput):
        proposal(proposed_on=date(2026, 1, 1))
    pending = proposal()
    with pytest.raises(PreconditionFailed):
        proposal(pending=[pending])
    proposal("remove", pending=[pending])  # a removal may wait beside an addition
