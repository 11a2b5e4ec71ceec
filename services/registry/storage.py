"""Registry tables and the queries the handlers need (SQLAlchemy Core, async)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong import inbox, outbox
from lienthong.cccd import Sex
from lienthong.db import insert_ignoring_duplicates
from lienthong.errors import AlreadyExists, NotFound, PreconditionFailed
from services.registry.domain import DrugTest, EndReason, Flag, Management, Person
from services.registry.dossier_rules import Dossier, Ground, Status
from services.registry.proposal_rules import Change, Proposal, State

metadata = MetaData()
outbox.define_tables_v1(metadata)
inbox.define_table_v1(metadata)

persons = Table(
    "persons",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("citizen_id", String(12), nullable=False, unique=True),
    Column("full_name", String(200), nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("sex", String(10), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("pseudonym", String(80), nullable=False, index=True),
    Column("registered_on", Date, nullable=False),
    Column("version", Integer, nullable=False),
)

drug_tests = Table(
    "drug_tests",
    metadata,
    Column("test_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("tested_on", Date, nullable=False),
    Column("substance", String(40), nullable=False),
    Column("place", String(200), nullable=False),
    Column("during_management", Boolean, nullable=False),
)

managements = Table(
    "managements",
    metadata,
    Column("management_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("decision_number", String(60), nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("ended_on", Date, nullable=True),
    Column("end_reason", String(40), nullable=True),
    Column("commune_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
)

flags = Table(
    "flags",
    metadata,
    Column("pseudonym", String(80), primary_key=True),
    Column("kind", String(40), primary_key=True),
    Column("since", Date, nullable=False),
    Column("source_event_id", String(36), nullable=False),
)

dossiers = Table(
    "compulsory_dossiers",
    metadata,
    Column("dossier_id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("ground", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("law_version", String(20), nullable=False),
    Column("minor", Boolean, nullable=False),
    Column("submitted_on", Date, nullable=True),
    Column("decided_on", Date, nullable=True),
    Column("term_months", Integer, nullable=True),
    Column("facility_code", String(40), nullable=True),
)

proposals = Table(
    "list_proposals",
    metadata,
    Column("proposal_id", String(36), primary_key=True),
    Column("change", String(10), nullable=False),
    Column("person_id", String(36), ForeignKey("persons.person_id"), nullable=False, index=True),
    Column("proposed_by", String(100), nullable=False),
    Column("proposed_on", Date, nullable=False),
    Column("legal_basis", String(300), nullable=False),
    Column("management_id", String(36), nullable=True),
    Column("end_reason", String(40), nullable=True),
    Column("state", String(10), nullable=False),
    Column("reviewed_by", String(100), nullable=True),
    Column("reviewed_on", Date, nullable=True),
    Column("review_note", String(500), nullable=True),
    Column("decision_number", String(60), nullable=True),
)

read_audit = Table(
    "read_audit",
    metadata,
    Column("audit_id", Integer, primary_key=True, autoincrement=True),
    Column("read_at", DateTime(timezone=True), nullable=False),
    Column("officer_id", String(100), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("person_id", String(36), nullable=False, index=True),
    Column("fields", String(500), nullable=False),
)


def _person(row) -> Person:
    return Person(
        person_id=row.person_id,
        citizen_id=row.citizen_id,
        full_name=row.full_name,
        date_of_birth=row.date_of_birth,
        sex=Sex(row.sex),
        commune_code=row.commune_code,
        province_code=row.province_code,
        pseudonym=row.pseudonym,
        registered_on=row.registered_on,
        version=row.version,
    )


def _management(row) -> Management:
    return Management(
        management_id=row.management_id,
        person_id=row.person_id,
        decision_number=row.decision_number,
        decided_on=row.decided_on,
        expires_on=row.expires_on,
        commune_code=row.commune_code,
        province_code=row.province_code,
        ended_on=row.ended_on,
        end_reason=EndReason(row.end_reason) if row.end_reason else None,
    )


def _test(row) -> DrugTest:
    return DrugTest(
        row.test_id, row.person_id, row.tested_on, row.substance, row.place, row.during_management
    )


def _person_not_found(person_id: str) -> NotFound:
    return NotFound(
        "person.not_found",
        f"Không tìm thấy người có mã {person_id!r} trong sổ đăng ký.",
        f"No person with id {person_id!r} in the registry.",
    )


async def add_person(session: AsyncSession, person: Person) -> None:
    existing = await session.scalar(
        select(persons.c.person_id).where(persons.c.citizen_id == person.citizen_id)
    )
    if existing:
        raise AlreadyExists(
            "person.already_registered",
            f"Số CCCD này đã được đăng ký (mã người {existing}).",
            f"This citizen ID is already registered (person id {existing}).",
        )
    await session.execute(
        insert(persons).values(
            person_id=person.person_id,
            citizen_id=person.citizen_id,
            full_name=person.full_name,
            date_of_birth=person.date_of_birth,
            sex=person.sex.value,
            commune_code=person.commune_code,
            province_code=person.province_code,
            pseudonym=person.pseudonym,
            registered_on=person.registered_on,
            version=person.version,
        )
    )


async def get_person(session: AsyncSession, person_id: str) -> Person:
    row = (await session.execute(select(persons).where(persons.c.person_id == person_id))).first()
    if row is None:
        raise _person_not_found(person_id)
    return _person(row)


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
    rows = await session.execute(select(drug_tests).where(drug_tests.c.person_id == person_id))
    return [_test(r) for r in rows]


async def managements_of(session: AsyncSession, person_id: str) -> list[Management]:
    rows = await session.execute(
        select(managements).where(managements.c.person_id == person_id).order_by(managements.c.decided_on)
    )
    return [_management(r) for r in rows]


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
    return _management(row)


async def add_test(session: AsyncSession, test: DrugTest) -> None:
    await session.execute(
        insert(drug_tests).values(
            test_id=test.test_id,
            person_id=test.person_id,
            tested_on=test.tested_on,
            substance=test.substance,
            place=test.place,
            during_management=test.during_management,
        )
    )


async def add_management(session: AsyncSession, management: Management) -> None:
    await session.execute(
        insert(managements).values(
            management_id=management.management_id,
            person_id=management.person_id,
            decision_number=management.decision_number,
            decided_on=management.decided_on,
            expires_on=management.expires_on,
            commune_code=management.commune_code,
            province_code=management.province_code,
        )
    )


async def save_management_end(session: AsyncSession, management: Management) -> None:
    await session.execute(
        update(managements)
        .where(managements.c.management_id == management.management_id)
        .values(ended_on=management.ended_on, end_reason=management.end_reason.value)
    )


async def record_read(
    session: AsyncSession, *, officer_id: str, purpose: str, person_id: str, fields: str
) -> None:
    await session.execute(
        insert(read_audit).values(
            read_at=datetime.now(UTC),
            officer_id=officer_id,
            purpose=purpose,
            person_id=person_id,
            fields=fields,
        )
    )


async def find_person_by_pseudonym(session: AsyncSession, pseudonym: str) -> Person | None:
    row = (await session.execute(select(persons).where(persons.c.pseudonym == pseudonym))).first()
    return _person(row) if row else None


async def raise_flag(session: AsyncSession, flag: Flag) -> None:
    """Keep the first time a flag was raised; a replayed or later event changes nothing."""
    await session.execute(
        insert_ignoring_duplicates(flags, session.bind.dialect.name).values(
            pseudonym=flag.pseudonym,
            kind=flag.kind.value,
            since=flag.since,
            source_event_id=flag.source_event_id,
        )
    )


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


async def save_person_residence(session: AsyncSession, before: Person, after: Person) -> None:
    """Move the person: the residence and the aggregate version change together, under the same lock."""
    await save_person_version(session, before, after)
    await session.execute(
        update(persons)
        .where(persons.c.person_id == after.person_id)
        .values(commune_code=after.commune_code, province_code=after.province_code)
    )


_PROPOSAL_FIELDS = (
    "change",
    "person_id",
    "proposed_by",
    "proposed_on",
    "legal_basis",
    "management_id",
    "end_reason",
    "state",
    "reviewed_by",
    "reviewed_on",
    "review_note",
    "decision_number",
)


def _proposal(row) -> Proposal:
    values = {name: getattr(row, name) for name in _PROPOSAL_FIELDS}
    values.update(change=Change(row.change), state=State(row.state))
    return Proposal(proposal_id=row.proposal_id, **values)


async def proposals_of(session: AsyncSession, person_id: str) -> list[Proposal]:
    rows = await session.execute(select(proposals).where(proposals.c.person_id == person_id))
    return [_proposal(r) for r in rows]


async def pending_proposals(session: AsyncSession, commune_code: str | None) -> list[Proposal]:
    query = (
        select(proposals).where(proposals.c.state == State.PENDING.value).order_by(proposals.c.proposed_on)
    )
    if commune_code:
        query = query.join(persons, persons.c.person_id == proposals.c.person_id).where(
            persons.c.commune_code == commune_code
        )
    return [_proposal(r) for r in await session.execute(query)]


async def get_proposal(session: AsyncSession, proposal_id: str) -> Proposal:
    row = (await session.execute(select(proposals).where(proposals.c.proposal_id == proposal_id))).first()
    if row is None:
        raise NotFound(
            "proposal.not_found",
            f"Không tìm thấy đề xuất {proposal_id!r}.",
            f"No proposal with id {proposal_id!r}.",
        )
    return _proposal(row)


async def save_proposal(session: AsyncSession, proposal: Proposal, *, new: bool) -> None:
    values = {name: getattr(proposal, name) for name in _PROPOSAL_FIELDS}
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
