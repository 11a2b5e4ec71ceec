"""Changes to the management list go through a proposal and an approval (domain.md §3; the plans ask for a
formal review of additions and removals): commune police propose, the commune chairman approves or
rejects, and every step records who, when and on what legal basis. Pure rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import Enum

from lienthong.errors import InvalidInput, PreconditionFailed


class Change(Enum):
    ADD = "add"  # put under management (a management decision when approved)
    REMOVE = "remove"  # end management early (with a reason when approved)


class State(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Proposal:
    proposal_id: str
    change: Change
    person_id: str
    proposed_by: str
    proposed_on: date
    legal_basis: str
    management_id: str | None = None  # the term a removal ends
    end_reason: str | None = None
    state: State = State.PENDING
    reviewed_by: str | None = None
    reviewed_on: date | None = None
    review_note: str | None = None
    decision_number: str | None = None


def propose(
    *,
    proposal_id: str,
    change: str,
    person_id: str,
    proposed_by: str,
    proposed_on: date,
    legal_basis: str,
    pending: list[Proposal],
    management_id: str | None,
    end_reason: str | None,
    today: date,
) -> Proposal:
    if proposed_on > today:
        raise InvalidInput(
            "proposed_on.in_future",
            f"Ngày đề xuất {proposed_on} ở tương lai.",
            f"The proposal date {proposed_on} is in the future.",
        )
    try:
        kind = Change(change)
    except ValueError:
        raise InvalidInput(
            "change.unknown",
            "Loại đề xuất phải là add (đưa vào) hoặc remove (đưa ra khỏi danh sách).",
            "The change must be add (put on the list) or remove (take off the list).",
        ) from None
    if kind is Change.REMOVE and not (management_id and end_reason):
        raise InvalidInput(
            "proposal.remove_needs_term",
            "Đề xuất đưa ra khỏi danh sách cần mã quyết định quản lý và lý do.",
            "A removal needs the management decision it ends and a reason.",
        )
    if any(p.change is kind and p.state is State.PENDING for p in pending):
        raise PreconditionFailed(
            "proposal.already_pending",
            "Đã có đề xuất cùng loại đang chờ phê duyệt cho người này.",
            "A proposal of the same kind is already waiting for approval for this person.",
        )
    return Proposal(
        proposal_id,
        kind,
        person_id,
        proposed_by,
        proposed_on,
        legal_basis,
        management_id if kind is Change.REMOVE else None,
        end_reason if kind is Change.REMOVE else None,
    )


def review(
    proposal: Proposal,
    *,
    approve: bool,
    reviewed_by: str,
    reviewed_on: date,
    note: str,
    decision_number: str | None,
    today: date,
) -> Proposal:
    """Approval or rejection by someone other than the proposer (the four-eyes rule of a formal review)."""
    if proposal.state is not State.PENDING:
        raise PreconditionFailed(
            "proposal.not_pending",
            f"Đề xuất đã {proposal.state.value}.",
            f"The proposal is already {proposal.state.value}.",
        )
    if reviewed_by == proposal.proposed_by:
        raise PreconditionFailed(
            "proposal.same_reviewer",
            "Người phê duyệt phải khác người đề xuất.",
            "The reviewer must be someone other than the proposer.",
        )
    if reviewed_on > today or reviewed_on < proposal.proposed_on:
        raise InvalidInput(
            "reviewed_on.out_of_range",
            "Ngày phê duyệt phải trong khoảng từ ngày đề xuất đến hôm nay.",
            "The review date must lie between the proposal date and today.",
        )
    if approve and proposal.change is Change.ADD and not decision_number:
        raise InvalidInput(
            "decision_number.required",
            "Phê duyệt đưa vào danh sách cần số quyết định.",
            "Approving an addition needs the decision number.",
        )
    return replace(
        proposal,
        state=State.APPROVED if approve else State.REJECTED,
        reviewed_by=reviewed_by,
        reviewed_on=reviewed_on,
        review_note=note,
        decision_number=decision_number,
    )
