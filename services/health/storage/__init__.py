"""Health storage: the queries the handlers need (SQLAlchemy Core, async). Personal fields never leave
these tables except through the audited GetPersonHealth read."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong import fieldkeys
from lienthong.errors import NotFound, PreconditionFailed
from lienthong.fieldcrypto import FieldCipher
from services.health.domain.determination import Criterion, Determination, Facility, Result
from services.health.domain.people import Identity, Person
from services.health.storage.tables import (
    breaches,
    determinations,
    doses,
    episodes,
    facilities,
    metadata,
    opioid_tests,
    persons,
)

__all__ = ["breaches", "doses", "episodes", "metadata", "opioid_tests"]


class ConcurrentChange(Exception):
    def __init__(self, person_id: str) -> None:
        super().__init__(f"person {person_id} changed concurrently")


def concurrent_change_error() -> PreconditionFailed:
    return PreconditionFailed(
        "person.concurrent_change",
        "Hồ sơ người này vừa được người khác cập nhật; hãy thử lại.",
        "This person's record was just changed by someone else; please retry.",
    )


def person_not_found(pseudonym: str) -> NotFound:
    return NotFound(
        "person.not_found",
        f"Ngành y tế không có hồ sơ nào của người có bí danh {pseudonym!r}.",
        f"Health holds no record of the person with pseudonym {pseudonym!r}.",
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


async def save_facility(session: AsyncSession, facility: Facility) -> None:
    values = dict(name=facility.name, licensed=facility.licensed)
    updated = await session.execute(
        update(facilities).where(facilities.c.facility_id == facility.facility_id).values(**values)
    )
    if updated.rowcount == 0:
        await session.execute(insert(facilities).values(facility_id=facility.facility_id, **values))


async def get_facility(session: AsyncSession, facility_id: str) -> Facility:
    row = (await session.execute(select(facilities).where(facilities.c.facility_id == facility_id))).first()
    if row is None:
        raise NotFound(
            "facility.not_found",
            f"Không có cơ sở y tế mã {facility_id!r}.",
            f"No health facility with id {facility_id!r}.",
        )
    return Facility(row.facility_id, row.name, row.licensed)


def _determination(row) -> Determination:
    criteria = None
    if row.criteria is not None:
        criteria = frozenset(Criterion(c) for c in row.criteria.split(",") if c)
    return Determination(
        determination_id=row.determination_id,
        person_id=row.person_id,
        legal_case=row.legal_case,
        requested_on=row.requested_on,
        law_version=row.law_version,
        commune_code=row.commune_code,
        province_code=row.province_code,
        source_test_id=row.source_test_id,
        facility_id=row.facility_id,
        observed_on=row.observed_on,
        criteria=criteria,
        result=Result(row.result) if row.result else None,
        concluded_on=row.concluded_on,
        late=row.late,
    )


def _determination_values(d: Determination) -> dict:
    return dict(
        facility_id=d.facility_id,
        observed_on=d.observed_on,
        criteria=",".join(sorted(c.value for c in d.criteria)) if d.criteria is not None else None,
        result=d.result.value if d.result else None,
        concluded_on=d.concluded_on,
        late=d.late,
    )


async def add_determination(session: AsyncSession, d: Determination) -> None:
    await session.execute(
        insert(determinations).values(
            determination_id=d.determination_id,
            person_id=d.person_id,
            legal_case=d.legal_case,
            requested_on=d.requested_on,
            law_version=d.law_version,
            commune_code=d.commune_code,
            province_code=d.province_code,
            source_test_id=d.source_test_id,
            **_determination_values(d),
        )
    )


async def save_determination(session: AsyncSession, d: Determination) -> None:
    await session.execute(
        update(determinations)
        .where(determinations.c.determination_id == d.determination_id)
        .values(**_determination_values(d))
    )


async def get_determination(session: AsyncSession, determination_id: str) -> Determination:
    row = (
        await session.execute(
            select(determinations).where(determinations.c.determination_id == determination_id)
        )
    ).first()
    if row is None:
        raise NotFound(
            "determination.not_found",
            f"Không tìm thấy yêu cầu xác định tình trạng nghiện mã {determination_id!r}.",
            f"No addiction determination with id {determination_id!r}.",
        )
    return _determination(row)


async def known_test_ids(session: AsyncSession, test_ids: list[str]) -> set[str]:
    rows = await session.execute(
        select(determinations.c.source_test_id).where(determinations.c.source_test_id.in_(test_ids))
    )
    return set(rows.scalars())


async def pending_determinations(session: AsyncSession, commune_code: str) -> list[tuple[Determination, str]]:
    rows = await session.execute(
        select(determinations, persons.c.pseudonym)
        .join(persons, persons.c.person_id == determinations.c.person_id)
        .where(determinations.c.commune_code == commune_code, determinations.c.concluded_on.is_(None))
        .order_by(determinations.c.requested_on, determinations.c.determination_id)
    )
    return [(_determination(r), r.pseudonym) for r in rows]


async def determinations_of(session: AsyncSession, person_id: str) -> list[Determination]:
    rows = await session.execute(
        select(determinations)
        .where(determinations.c.person_id == person_id)
        .order_by(determinations.c.requested_on)
    )
    return [_determination(r) for r in rows]
