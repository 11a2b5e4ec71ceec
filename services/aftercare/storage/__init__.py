"""Aftercare storage: the queries the handlers need (SQLAlchemy Core, async). The decision number and the
caretaker's name never leave these tables except through the audited GetCase read."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong import fieldkeys
from lienthong.errors import NotFound, PreconditionFailed
from lienthong.fieldcrypto import FieldCipher
from services.aftercare.domain.cases import Case, Status
from services.aftercare.domain.common import Person
from services.aftercare.domain.relapse import Relapse
from services.aftercare.storage.tables import (
    cases,
    metadata,
    model_changes,
    persons,
    relapses,
    supports,
)

__all__ = ["cases", "metadata", "model_changes", "persons", "relapses", "supports"]


class ConcurrentChange(Exception):
    def __init__(self, person_id: str) -> None:
        super().__init__(f"person {person_id} changed concurrently")


def concurrent_change_error() -> PreconditionFailed:
    return PreconditionFailed(
        "person.concurrent_change",
        "Hồ sơ người này vừa được người khác cập nhật; hãy thử lại.",
        "This person's record was just changed by someone else; please retry.",
    )


def _person(row) -> Person:
    return Person(row.person_id, row.pseudonym, row.sex, row.age_band, row.version)


async def person_by_pseudonym(session: AsyncSession, pseudonym: str) -> Person | None:
    row = (await session.execute(select(persons).where(persons.c.pseudonym == pseudonym))).first()
    return _person(row) if row else None


async def get_person(session: AsyncSession, person_id: str) -> Person:
    row = (await session.execute(select(persons).where(persons.c.person_id == person_id))).one()
    return _person(row)


async def add_person(session: AsyncSession, p: Person) -> None:
    await session.execute(
        insert(persons).values(
            person_id=p.person_id, pseudonym=p.pseudonym, sex=p.sex, age_band=p.age_band, version=p.version
        )
    )


async def save_person(session: AsyncSession, before: Person, after: Person) -> None:
    """Optimistic lock on the person aggregate: two commands racing on one person cannot both win."""
    result = await session.execute(
        update(persons)
        .where(persons.c.person_id == before.person_id, persons.c.version == before.version)
        .values(sex=after.sex, age_band=after.age_band, version=after.version)
    )
    if result.rowcount != 1:
        raise ConcurrentChange(before.person_id)


def _case(row, cipher: FieldCipher) -> Case:
    return Case(
        case_id=row.case_id,
        person_id=row.person_id,
        source=row.source,
        source_kind=row.source_kind,
        completed_on=row.completed_on,
        age_band=row.age_band,
        term_months=row.term_months,
        commune_code=row.commune_code,
        province_code=row.province_code,
        law_version=row.law_version,
        opened_on=row.opened_on,
        source_id=row.source_id,
        transferred_from=row.transferred_from,
        status=Status(row.status),
        decided_on=row.decided_on,
        decision_number=cipher.open(cases.c.decision_number_enc, row.case_id, row.decision_number_enc),
        caretaker_kind=row.caretaker_kind,
        caretaker_name=cipher.open(cases.c.caretaker_name_enc, row.case_id, row.caretaker_name_enc),
        closed_on=row.closed_on,
        close_reason=row.close_reason,
    )


def _case_values(c: Case, cipher: FieldCipher) -> dict:
    return dict(
        status=c.status.value,
        decided_on=c.decided_on,
        decision_number_enc=cipher.seal(cases.c.decision_number_enc, c.case_id, c.decision_number),
        caretaker_kind=c.caretaker_kind,
        caretaker_name_enc=cipher.seal(cases.c.caretaker_name_enc, c.case_id, c.caretaker_name),
        closed_on=c.closed_on,
        close_reason=c.close_reason,
    )


async def add_case(session: AsyncSession, c: Case) -> None:
    cipher = await fieldkeys.cipher(session)
    await session.execute(
        insert(cases).values(
            case_id=c.case_id,
            person_id=c.person_id,
            source=c.source,
            source_kind=c.source_kind,
            source_id=c.source_id,
            transferred_from=c.transferred_from,
            completed_on=c.completed_on,
            age_band=c.age_band,
            term_months=c.term_months,
            ends_on=c.ends_on,
            commune_code=c.commune_code,
            province_code=c.province_code,
            law_version=c.law_version,
            opened_on=c.opened_on,
            **_case_values(c, cipher),
        )
    )


async def save_case(session: AsyncSession, c: Case) -> None:
    values = _case_values(c, await fieldkeys.cipher(session))
    await session.execute(update(cases).where(cases.c.case_id == c.case_id).values(**values))


async def get_case(session: AsyncSession, case_id: str) -> Case:
    row = (await session.execute(select(cases).where(cases.c.case_id == case_id))).first()
    if row is None:
        raise NotFound(
            "case.not_found",
            f"Không tìm thấy hồ sơ quản lý sau cai mã {case_id!r}.",
            f"No aftercare case with id {case_id!r}.",
        )
    return await fieldkeys.decrypting(session, lambda cipher: _case(row, cipher))


async def known_source_ids(session: AsyncSession, source_ids: list[str]) -> set[str]:
    rows = await session.execute(select(cases.c.source_id).where(cases.c.source_id.in_(source_ids)))
    return set(rows.scalars())


async def cases_with_pseudonym(session: AsyncSession, *conditions) -> list[tuple[Case, str]]:
    rows = (
        await session.execute(
            select(cases, persons.c.pseudonym)
            .join(persons, persons.c.person_id == cases.c.person_id)
            .where(*conditions)
            .order_by(cases.c.opened_on, cases.c.case_id)
        )
    ).all()
    return await fieldkeys.decrypting(session, lambda cipher: [(_case(r, cipher), r.pseudonym) for r in rows])


async def pending_placements(session: AsyncSession, commune_code: str | None) -> list[tuple[Case, str]]:
    conditions = [cases.c.status == Status.PENDING.value]
    if commune_code:
        conditions.append(cases.c.commune_code == commune_code)
    return await cases_with_pseudonym(session, *conditions)


async def due_certificates(session: AsyncSession, as_of: date, commune_code: str | None):
    conditions = [cases.c.status == Status.PLACED.value, cases.c.ends_on <= as_of]
    if commune_code:
        conditions.append(cases.c.commune_code == commune_code)
    return await cases_with_pseudonym(session, *conditions)


async def add_support(session: AsyncSession, case_id: str, given_on: date, kind: str) -> None:
    await session.execute(insert(supports).values(case_id=case_id, given_on=given_on, kind=kind))


async def supports_of(session: AsyncSession, case_id: str) -> list[tuple[date, str]]:
    rows = await session.execute(
        select(supports.c.given_on, supports.c.kind)
        .where(supports.c.case_id == case_id)
        .order_by(supports.c.given_on, supports.c.support_id)
    )
    return [(r.given_on, r.kind) for r in rows]


async def relapses_of(session: AsyncSession, case_id: str) -> list[Relapse]:
    rows = await session.execute(select(relapses).where(relapses.c.case_id == case_id))
    return [Relapse(r.relapse_id, r.case_id, r.suspected_on, r.determined_on) for r in rows]


async def save_relapse(session: AsyncSession, r: Relapse) -> None:
    values = dict(suspected_on=r.suspected_on, determined_on=r.determined_on)
    updated = await session.execute(
        update(relapses).where(relapses.c.relapse_id == r.relapse_id).values(**values)
    )
    if updated.rowcount == 0:
        await session.execute(insert(relapses).values(relapse_id=r.relapse_id, case_id=r.case_id, **values))


async def model_history(session: AsyncSession, commune_code: str) -> list[tuple[date, str]]:
    rows = await session.execute(
        select(model_changes.c.changed_on, model_changes.c.status)
        .where(model_changes.c.commune_code == commune_code)
        .order_by(model_changes.c.changed_on, model_changes.c.change_id)
    )
    return [(r.changed_on, r.status) for r in rows]


async def add_model_change(
    session: AsyncSession, commune_code: str, province_code: str, on: date, status: str
):
    await session.execute(
        insert(model_changes).values(
            commune_code=commune_code, province_code=province_code, changed_on=on, status=status
        )
    )
