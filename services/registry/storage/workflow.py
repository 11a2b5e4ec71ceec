"""Storage of the list's review workflow (proposals) and of compulsory-rehab dossiers."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong import fieldkeys
from lienthong.errors import NotFound, PreconditionFailed
from lienthong.fieldcrypto import FieldCipher
from services.registry.dossier_rules import Dossier, Ground, Status
from services.registry.proposal_rules import Change, Proposal, State
from services.registry.storage.tables import dossiers, persons, proposals


def _dossier(row) -> Dossier:
    return Dossier(
        dossier_id=row.dossier_id,
        person_id=row.person_id,
        ground=Ground(row.ground),
        opened_on=row.opened_on,
        law_version=row.law_version,
        minor=row.minor,
        status=Status(row.status),
        submitted_on=row.submitted_on,
        decided_on=row.decided_on,
        term_months=row.term_months,
        facility_code=row.facility_code,
    )


async def dossiers_of(session: AsyncSession, person_id: str) -> list[Dossier]:
    rows = await session.execute(select(dossiers).where(dossiers.c.person_id == person_id))
    return [_dossier(r) for r in rows]


async def get_dossier(session: AsyncSession, dossier_id: str) -> Dossier:
    row = (await session.execute(select(dossiers).where(dossiers.c.dossier_id == dossier_id))).first()
    if row is None:
        raise NotFound(
            "dossier.not_found",
            f"Không tìm thấy hồ sơ {dossier_id!r}.",
            f"No dossier with id {dossier_id!r}.",
        )
    return _dossier(row)


async def save_dossier(session: AsyncSession, dossier: Dossier, *, new: bool) -> None:
    values = dict(
        person_id=dossier.person_id,
        ground=dossier.ground.value,
        status=dossier.status.value,
        opened_on=dossier.opened_on,
        law_version=dossier.law_version,
        minor=dossier.minor,
        submitted_on=dossier.submitted_on,
        decided_on=dossier.decided_on,
        term_months=dossier.term_months,
        facility_code=dossier.facility_code,
    )
    if new:
        await session.execute(insert(dossiers).values(dossier_id=dossier.dossier_id, **values))
    else:
        await session.execute(
            update(dossiers).where(dossiers.c.dossier_id == dossier.dossier_id).values(**values)
        )


_PROPOSAL_FIELDS = (
    "change",
    "person_id",
    "proposed_by",
    "proposed_on",
    "management_id",
    "end_reason",
    "state",
    "reviewed_by",
    "reviewed_on",
)
# Free text and the decision number are stored encrypted, each in its <name>_enc column.
_ENCRYPTED_FIELDS = ("legal_basis", "review_note", "decision_number")


def _proposal(row, cipher: FieldCipher) -> Proposal:
    values = {name: getattr(row, name) for name in _PROPOSAL_FIELDS}
    values.update(
        {
            name: cipher.open(proposals.c[f"{name}_enc"], row.proposal_id, getattr(row, f"{name}_enc"))
            for name in _ENCRYPTED_FIELDS
        }
    )
    values.update(change=Change(row.change), state=State(row.state))
    return Proposal(proposal_id=row.proposal_id, **values)


async def _proposals(session: AsyncSession, query) -> list[Proposal]:
    rows = (await session.execute(query)).all()
    return await fieldkeys.decrypting(session, lambda cipher: [_proposal(r, cipher) for r in rows])


async def proposals_of(session: AsyncSession, person_id: str) -> list[Proposal]:
    return await _proposals(session, select(proposals).where(proposals.c.person_id == person_id))


async def pending_proposals(session: AsyncSession, commune_code: str | None) -> list[Proposal]:
    query = (
        select(proposals).where(proposals.c.state == State.PENDING.value).order_by(proposals.c.proposed_on)
    )
    if commune_code:
        query = query.join(persons, persons.c.person_id == proposals.c.person_id).where(
            persons.c.commune_code == commune_code
        )
    return await _proposals(session, query)


async def get_proposal(session: AsyncSession, proposal_id: str) -> Proposal:
    row = (await session.execute(select(proposals).where(proposals.c.proposal_id == proposal_id))).first()
    if row is None:
        raise NotFound(
            "proposal.not_found",
            f"Không tìm thấy đề xuất {proposal_id!r}.",
            f"No proposal with id {proposal_id!r}.",
        )
    return await fieldkeys.decrypting(session, lambda cipher: _proposal(row, cipher))


async def save_proposal(session: AsyncSession, proposal: Proposal, *, new: bool) -> None:
    cipher = await fieldkeys.cipher(session)
    values = {name: getattr(proposal, name) for name in _PROPOSAL_FIELDS}
    values.update(
        {
            f"{name}_enc": cipher.seal(
                proposals.c[f"{name}_enc"], proposal.proposal_id, getattr(proposal, name)
            )
            for name in _ENCRYPTED_FIELDS
        }
    )
    values.update(change=proposal.change.value, state=proposal.state.value)
    if new:
        await session.execute(insert(proposals).values(proposal_id=proposal.proposal_id, **values))
    else:
        await session.execute(
            update(proposals).where(proposals.c.proposal_id == proposal.proposal_id).values(**values)
        )


def management_of_someone_else(management_id: str) -> PreconditionFailed:
    return PreconditionFailed(
        "proposal.management_of_someone_else",
        f"Quyết định quản lý {management_id} không thuộc người này.",
        f"Management decision {management_id} belongs to someone else.",
    )
