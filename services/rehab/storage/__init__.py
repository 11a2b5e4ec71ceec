"""Rehab storage: persons and facilities (SQLAlchemy Core, async); admissions are in ``admissions``.
Personal fields never leave these tables except through the audited GetAdmission read."""

from __future__ import annotations

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong import fieldkeys
from lienthong.errors import NotFound, PreconditionFailed
from lienthong.fieldcrypto import FieldCipher
from services.rehab.domain.facilities import Facility, FacilityType
from services.rehab.domain.people import Identity, Person
from services.rehab.storage.tables import (
    admissions,
    facilities,
    metadata,
    persons,
    stage_changes,
    temporary_stays,
    trainings,
)

__all__ = ["admissions", "metadata", "stage_changes", "temporary_stays", "trainings"]


class ConcurrentChange(Exception):
    def __init__(self, person_id: str) -> None:
        super().__init__(f"person {person_id} changed concurrently")


def concurrent_change_error() -> PreconditionFailed:
    return PreconditionFailed(
        "person.concurrent_change",
        "Hồ sơ người này vừa được người khác cập nhật; hãy thử lại.",
        "This person's record was just changed by someone else; please retry.",
    )


def _person(row, cipher: FieldCipher) -> Person:
    identity = None
    if row.citizen_id_enc is not None:
        identity = Identity(
            cipher.open(persons.c.citizen_id_enc, row.person_id, row.citizen_id_enc),
            cipher.open(persons.c.full_name_enc, row.person_id, row.full_name_enc),
            row.date_of_birth,
        )
    return Person(
        person_id=row.person_id,
        pseudonym=row.pseudonym,
        sex=row.sex,
        commune_code=row.commune_code,
        province_code=row.province_code,
        identity=identity,
        age_band=row.age_band,
        version=row.version,
    )


def _person_values(p: Person, cipher: FieldCipher) -> dict:
    return dict(
        citizen_id_enc=cipher.seal(
            persons.c.citizen_id_enc, p.person_id, p.identity.citizen_id if p.identity else None
        ),
        full_name_enc=cipher.seal(
            persons.c.full_name_enc, p.person_id, p.identity.full_name if p.identity else None
        ),
        date_of_birth=p.identity.date_of_birth if p.identity else None,
        sex=p.sex,
        age_band=p.age_band,
        commune_code=p.commune_code,
        province_code=p.province_code,
        version=p.version,
    )


async def person_by_pseudonym(session: AsyncSession, pseudonym: str) -> Person | None:
    row = (await session.execute(select(persons).where(persons.c.pseudonym == pseudonym))).first()
    return await fieldkeys.decrypting(session, lambda cipher: _person(row, cipher)) if row else None


async def get_person(session: AsyncSession, person_id: str) -> Person:
    row = (await session.execute(select(persons).where(persons.c.person_id == person_id))).one()
    return await fieldkeys.decrypting(session, lambda cipher: _person(row, cipher))


async def add_person(session: AsyncSession, person: Person) -> None:
    values = _person_values(person, await fieldkeys.cipher(session))
    await session.execute(
        insert(persons).values(person_id=person.person_id, pseudonym=person.pseudonym, **values)
    )


async def save_person(session: AsyncSession, before: Person, after: Person) -> None:
    """Optimistic lock on the person aggregate: two commands racing on one person cannot both win."""
    values = _person_values(after, await fieldkeys.cipher(session))
    result = await session.execute(
        update(persons)
        .where(persons.c.person_id == before.person_id, persons.c.version == before.version)
        .values(**values)
    )
    if result.rowcount != 1:
        raise ConcurrentChange(before.person_id)


def _facility(row) -> Facility:
    return Facility(
        code=row.facility_code,
        name=row.name,
        public=row.public,
        operator=row.operator,
        capacity=row.capacity,
        type=FacilityType(row.type),
        commune_code=row.commune_code,
        province_code=row.province_code,
    )


async def save_facility(session: AsyncSession, f: Facility) -> None:
    values = dict(
        name=f.name,
        public=f.public,
        operator=f.operator,
        capacity=f.capacity,
        type=f.type.value,
        commune_code=f.commune_code,
        province_code=f.province_code,
    )
    updated = await session.execute(
        update(facilities).where(facilities.c.facility_code == f.code).values(**values)
    )
    if updated.rowcount == 0:
        await session.execute(insert(facilities).values(facility_code=f.code, **values))


async def find_facility(session: AsyncSession, code: str) -> Facility | None:
    row = (await session.execute(select(facilities).where(facilities.c.facility_code == code))).first()
    return _facility(row) if row else None


async def get_facility(session: AsyncSession, code: str) -> Facility:
    found = await find_facility(session, code)
    if found is None:
        raise NotFound(
            "facility.not_found",
            f"Không có cơ sở cai nghiện mã {code!r}.",
            f"No rehab facility with code {code!r}.",
        )
    return found


async def occupancy(session: AsyncSession, code: str) -> int:
    return await session.scalar(
        select(func.count())
        .select_from(admissions)
        .where(admissions.c.facility_code == code, admissions.c.status == "admitted")
    )


async def list_facilities(session: AsyncSession, province_code: str | None) -> list[tuple[Facility, int]]:
    held = (
        select(admissions.c.facility_code, func.count().label("n"))
        .where(admissions.c.status == "admitted")
        .group_by(admissions.c.facility_code)
        .subquery()
    )
    query = select(facilities, func.coalesce(held.c.n, 0).label("occupancy")).outerjoin(
        held, held.c.facility_code == facilities.c.facility_code
    )
    if province_code:
        query = query.where(facilities.c.province_code == province_code)
    rows = await session.execute(query.order_by(facilities.c.facility_code))
    return [(_facility(r), r.occupancy) for r in rows]
