"""Registry storage: people, positive tests and management terms here; the review workflow and dossiers in
``workflow``. Call sites use ``storage.<query>`` whatever module holds it."""

from __future__ import annotations

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong import fieldkeys
from lienthong.cccd import Sex
from lienthong.db import dialect_insert
from lienthong.errors import AlreadyExists, NotFound, PreconditionFailed
from lienthong.fieldcrypto import FieldCipher
from services.registry.domain import DrugTest, EndReason, Flag, Management, Person
from services.registry.storage.tables import (
    drug_tests,
    flags,
    managements,
    metadata,
    persons,
)
from services.registry.storage.workflow import (
    dossiers_of,
    get_dossier,
    get_proposal,
    management_of_someone_else,
    pending_proposals,
    proposals_of,
    save_dossier,
    save_proposal,
)

__all__ = [  # the workflow's queries and the tables, re-exported for ``storage.<name>`` call sites
    "dossiers_of",
    "flags",
    "get_dossier",
    "get_proposal",
    "management_of_someone_else",
    "metadata",
    "pending_proposals",
    "proposals_of",
    "save_dossier",
    "save_proposal",
]


def _person(row, cipher: FieldCipher) -> Person:
    c = persons.c
    return Person(
        person_id=row.person_id,
        citizen_id=cipher.open(c.citizen_id_enc, row.person_id, row.citizen_id_enc),
        full_name=cipher.open(c.full_name_enc, row.person_id, row.full_name_enc),
        date_of_birth=row.date_of_birth,
        sex=Sex(row.sex),
        commune_code=row.commune_code,
        province_code=row.province_code,
        pseudonym=row.pseudonym,
        registered_on=row.registered_on,
        version=row.version,
    )


def _management(row, cipher: FieldCipher) -> Management:
    return Management(
        management_id=row.management_id,
        person_id=row.person_id,
        decision_number=cipher.open(
            managements.c.decision_number_enc, row.management_id, row.decision_number_enc
        ),
        decided_on=row.decided_on,
        expires_on=row.expires_on,
        commune_code=row.commune_code,
        province_code=row.province_code,
        law_version=row.law_version,
        ended_on=row.ended_on,
        end_reason=EndReason(row.end_reason) if row.end_reason else None,
    )


def _test(row, cipher: FieldCipher) -> DrugTest:
    place = cipher.open(drug_tests.c.place_enc, row.test_id, row.place_enc)
    return DrugTest(row.test_id, row.person_id, row.tested_on, row.substance, place, row.during_management)


def _person_not_found(person_id: str) -> NotFound:
    return NotFound(
        "person.not_found",
        f"Không tìm thấy người có mã {person_id!r} trong sổ đăng ký.",
        f"No person with id {person_id!r} in the registry.",
    )


async def find_person_id_by_citizen_id(session: AsyncSession, citizen_id: str) -> str | None:
    """Through the blind index: the citizen ID itself is stored only encrypted."""
    index = (await fieldkeys.cipher(session)).blind_index(citizen_id)
    return await session.scalar(select(persons.c.person_id).where(persons.c.citizen_id_index == index))


def _already_registered(existing: str | None) -> AlreadyExists:
    if existing is None:  # a concurrent call registered it first
        return AlreadyExists(
            "person.already_registered",
            "Số CCCD này vừa được đăng ký.",
            "This citizen ID has just been registered.",
        )
    return AlreadyExists(
        "person.already_registered",
        f"Số CCCD này đã được đăng ký (mã người {existing}).",
        f"This citizen ID is already registered (person id {existing}).",
    )


async def add_person(session: AsyncSession, person: Person) -> None:
    existing = await find_person_id_by_citizen_id(session, person.citizen_id)
    if existing:
        raise _already_registered(existing)
    cipher = await fieldkeys.cipher(session)
    try:
        await session.execute(
            insert(persons).values(
                person_id=person.person_id,
                citizen_id_enc=cipher.seal(persons.c.citizen_id_enc, person.person_id, person.citizen_id),
                citizen_id_index=cipher.blind_index(person.citizen_id),
                full_name_enc=cipher.seal(persons.c.full_name_enc, person.person_id, person.full_name),
                date_of_birth=person.date_of_birth,
                sex=person.sex.value,
                commune_code=person.commune_code,
                province_code=person.province_code,
                pseudonym=person.pseudonym,
                registered_on=person.registered_on,
                version=person.version,
            )
        )
    except IntegrityError:  # the same citizen ID registered by a concurrent call: the unique index says so
        raise _already_registered(None) from None


async def get_person(session: AsyncSession, person_id: str) -> Person:
    row = (await session.execute(select(persons).where(persons.c.person_id == person_id))).first()
    if row is None:
        raise _person_not_found(person_id)
    return await fieldkeys.decrypting(session, lambda cipher: _person(row, cipher))


async def save_person_version(session: AsyncSession, before: Person, after: Person) -> None:
    """Optimistic lock on the person aggregate: two commands racing on one person cannot both win."""
    result = await session.execute(
        update(persons)
        .where(persons.c.person_id == before.person_id, persons.c.version == before.version)
        .values(version=after.version)
    )
    if result.rowcount != 1:
        raise ConcurrentChange(before.person_id)


class ConcurrentChange(Exception):
    def __init__(self, person_id: str) -> None:
        super().__init__(f"person {person_id} changed concurrently")


def concurrent_change_error() -> PreconditionFailed:
    return PreconditionFailed(
        "person.concurrent_change",
        "Hồ sơ người này vừa được người khác cập nhật; hãy thử lại.",
        "This person's record was just changed by someone else; please retry.",
    )


async def tests_of(session: AsyncSession, person_id: str) -> list[DrugTest]:
    rows = (await session.execute(select(drug_tests).where(drug_tests.c.person_id == person_id))).all()
    return await fieldkeys.decrypting(session, lambda cipher: [_test(r, cipher) for r in rows])


async def managements_of(session: AsyncSession, person_id: str) -> list[Management]:
    rows = (
        await session.execute(
            select(managements).where(managements.c.person_id == person_id).order_by(managements.c.decided_on)
        )
    ).all()
    return await fieldkeys.decrypting(session, lambda cipher: [_management(r, cipher) for r in rows])


async def get_management(session: AsyncSession, management_id: str) -> Management:
    row = (
        await session.execute(select(managements).where(managements.c.management_id == management_id))
    ).first()
    if row is None:
        raise NotFound(
            "management.not_found",
            f"Không tìm thấy quyết định quản lý có mã {management_id!r}.",
            f"No management decision with id {management_id!r}.",
        )
    return await fieldkeys.decrypting(session, lambda cipher: _management(row, cipher))


async def add_test(session: AsyncSession, test: DrugTest) -> None:
    cipher = await fieldkeys.cipher(session)
    await session.execute(
        insert(drug_tests).values(
            test_id=test.test_id,
            person_id=test.person_id,
            tested_on=test.tested_on,
            substance=test.substance,
            place_enc=cipher.seal(drug_tests.c.place_enc, test.test_id, test.place),
            during_management=test.during_management,
        )
    )


async def add_management(session: AsyncSession, management: Management) -> None:
    cipher = await fieldkeys.cipher(session)
    await session.execute(
        insert(managements).values(
            management_id=management.management_id,
            person_id=management.person_id,
            decision_number_enc=cipher.seal(
                managements.c.decision_number_enc, management.management_id, management.decision_number
            ),
            decided_on=management.decided_on,
            expires_on=management.expires_on,
            commune_code=management.commune_code,
            province_code=management.province_code,
            law_version=management.law_version,
        )
    )


async def save_management_end(session: AsyncSession, management: Management) -> None:
    await session.execute(
        update(managements)
        .where(managements.c.management_id == management.management_id)
        .values(ended_on=management.ended_on, end_reason=management.end_reason.value)
    )


async def find_person_by_pseudonym(session: AsyncSession, pseudonym: str) -> Person | None:
    row = (await session.execute(select(persons).where(persons.c.pseudonym == pseudonym))).first()
    return await fieldkeys.decrypting(session, lambda cipher: _person(row, cipher)) if row else None


async def raise_flag(session: AsyncSession, flag: Flag) -> None:
    """Keep the earliest date a flag holds from, whatever order its events arrive in; a replay changes nothing."""
    statement = dialect_insert(flags, session.bind.dialect.name).values(
        pseudonym=flag.pseudonym,
        kind=flag.kind.value,
        since=flag.since,
        source_event_id=flag.source_event_id,
    )
    new, old = statement.excluded, flags.c
    earlier = or_(
        new.since < old.since, and_(new.since == old.since, new.source_event_id < old.source_event_id)
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[old.pseudonym, old.kind],
            set_={"since": new.since, "source_event_id": new.source_event_id},
            where=earlier,
        )
    )


async def save_person_residence(session: AsyncSession, before: Person, after: Person) -> None:
    """Move the person: the residence and the aggregate version change together, under the same lock."""
    await save_person_version(session, before, after)
    await session.execute(
        update(persons)
        .where(persons.c.person_id == after.person_id)
        .values(commune_code=after.commune_code, province_code=after.province_code)
    )


def person_not_found_by_pseudonym(pseudonym: str) -> NotFound:
    return NotFound(
        "person.not_found",
        f"Sổ đăng ký không có người mang bí danh {pseudonym}.",
        f"The registry has no person with pseudonym {pseudonym}.",
    )
