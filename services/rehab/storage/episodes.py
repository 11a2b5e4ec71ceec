"""Admissions (rehab episodes) and what is recorded during them: temporary stays, stage changes, training."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong.errors import NotFound
from services.rehab.domain.admissions import Admission, Status
from services.rehab.domain.terms import DischargeReason, Kind, Stage
from services.rehab.storage.tables import admissions, persons, stage_changes, temporary_stays, trainings


def _admission(row) -> Admission:
    return Admission(
        admission_id=row.admission_id,
        person_id=row.person_id,
        kind=Kind(row.kind),
        law_version=row.law_version,
        term_months=row.term_months,
        minor=row.minor,
        commune_code=row.commune_code,
        province_code=row.province_code,
        facility_code=row.facility_code,
        facility_known=row.facility_known,
        status=Status(row.status),
        dossier_id=row.dossier_id,
        court_decided_on=row.court_decided_on,
        admitted_on=row.admitted_on,
        temporary_stay_days=row.temporary_stay_days,
        stage=Stage(row.stage),
        stage_on=row.stage_on,
        reduced_months=row.reduced_months,
        reduced_on=row.reduced_on,
        absconded_on=row.absconded_on,
        absent_days=row.absent_days,
        discharged_on=row.discharged_on,
        discharge_reason=DischargeReason(row.discharge_reason) if row.discharge_reason else None,
    )


def _values(a: Admission) -> dict:
    return dict(
        facility_code=a.facility_code,
        facility_known=a.facility_known,
        status=a.status.value,
        admitted_on=a.admitted_on,
        temporary_stay_days=a.temporary_stay_days,
        stage=a.stage.value,
        stage_on=a.stage_on,
        reduced_months=a.reduced_months,
        reduced_on=a.reduced_on,
        absconded_on=a.absconded_on,
        absent_days=a.absent_days,
        discharged_on=a.discharged_on,
        discharge_reason=a.discharge_reason.value if a.discharge_reason else None,
    )


async def add_admission(session: AsyncSession, a: Admission) -> None:
    await session.execute(
        insert(admissions).values(
            admission_id=a.admission_id,
            person_id=a.person_id,
            kind=a.kind.value,
            law_version=a.law_version,
            term_months=a.term_months,
            minor=a.minor,
            commune_code=a.commune_code,
            province_code=a.province_code,
            dossier_id=a.dossier_id,
            court_decided_on=a.court_decided_on,
            **_values(a),
        )
    )


async def save_admission(session: AsyncSession, a: Admission) -> None:
    await session.execute(
        update(admissions).where(admissions.c.admission_id == a.admission_id).values(**_values(a))
    )


async def get_admission(session: AsyncSession, admission_id: str) -> Admission:
    row = (await session.execute(select(admissions).where(admissions.c.admission_id == admission_id))).first()
    if row is None:
        raise NotFound(
            "admission.not_found",
            f"Không tìm thấy đợt cai nghiện mã {admission_id!r}.",
            f"No rehab admission with id {admission_id!r}.",
        )
    return _admission(row)


async def admissions_of(session: AsyncSession, person_id: str) -> list[Admission]:
    rows = await session.execute(
        select(admissions).where(admissions.c.person_id == person_id).order_by(admissions.c.admission_id)
    )
    return [_admission(r) for r in rows]


async def known_dossier_ids(session: AsyncSession, dossier_ids: list[str]) -> set[str]:
    rows = await session.execute(
        select(admissions.c.dossier_id).where(admissions.c.dossier_id.in_(dossier_ids))
    )
    return set(rows.scalars())


async def expected(session: AsyncSession, facility_code: str | None) -> list[tuple[Admission, str]]:
    query = (
        select(admissions, persons.c.pseudonym)
        .join(persons, persons.c.person_id == admissions.c.person_id)
        .where(admissions.c.status == Status.EXPECTED.value)
    )
    if facility_code:
        query = query.where(admissions.c.facility_code == facility_code)
    rows = await session.execute(query.order_by(admissions.c.court_decided_on, admissions.c.admission_id))
    return [(_admission(r), r.pseudonym) for r in rows]


async def stays_of(session: AsyncSession, admission_id: str) -> list[tuple[date, date]]:
    rows = await session.execute(
        select(temporary_stays.c.start_on, temporary_stays.c.end_on).where(
            temporary_stays.c.admission_id == admission_id
        )
    )
    return [(r.start_on, r.end_on) for r in rows]


async def add_stay(session: AsyncSession, admission_id: str, start_on: date, end_on: date) -> None:
    await session.execute(
        insert(temporary_stays).values(admission_id=admission_id, start_on=start_on, end_on=end_on)
    )


async def add_stage_change(session: AsyncSession, admission_id: str, stage: str, entered_on: date) -> None:
    await session.execute(
        insert(stage_changes).values(admission_id=admission_id, stage=stage, entered_on=entered_on)
    )


async def add_training(session: AsyncSession, admission_id: str, given_on: date, trade: str) -> None:
    await session.execute(insert(trainings).values(admission_id=admission_id, given_on=given_on, trade=trade))


async def trades_of(session: AsyncSession, admission_id: str) -> list[str]:
    rows = await session.execute(
        select(trainings.c.trade)
        .where(trainings.c.admission_id == admission_id)
        .order_by(trainings.c.given_on)
    )
    return list(rows.scalars())
