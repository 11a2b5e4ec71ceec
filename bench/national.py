"""Synthetic national-scale data: people on paths through the four departments, as reporting sees them.

At scale 1.0: 250,000 people across every official commune of the 34 provinces (Hà Nội carries about
7 % of them, as its 17,000 people on file are of the country's 230,000), about 20 acts each (about
5 million), dated 2021-01-01 to 2026-06-30. Codes come from the departments' own closed lists, so every
indicator of the catalogue finds something to count.

One generator, two sinks: :func:`write_steps` bulk-writes reporting's ``steps`` table directly (for the
report and memory figures); ``bench.wire`` turns the same acts into real wire-format events (for the
replay figure). Seeded: the same scale and seed give the same acts.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from lienthong import units
from lienthong.dates import add_years
from services.aftercare.domain.cases import CARETAKER_KINDS, SUPPORT_KINDS
from services.health.domain.determination import LEGAL_CASES
from services.health.domain.methadone import EndReason as MethadoneEnd
from services.registry.domain import EndReason as ManagementEnd
from services.registry.dossier_rules import Ground
from services.rehab.domain.terms import DischargeReason, Kind

NATIONAL_PEOPLE = 250_000
FIRST_DAY = date(2021, 1, 1)
LAST_DAY = date(2026, 6, 30)
HA_NOI = "01"
SUBSTANCES = ("heroin", "methamphetamine", "mdma", "ketamine", "cannabis")
TRADES = ("tailoring", "mechanics", "farming", "construction", "cooking", "electrics")
SEX_WEIGHTS = (("male", 0.86), ("female", 0.14))

_AGENCY = {"registry": "police", "health": "health", "aftercare": "commune"}


@dataclass(frozen=True, slots=True)
class Act:
    event_type: str
    occurred_on: date
    pseudonym: str | None  # None for an act about a commune
    person_id: str  # the owning department's aggregate id ("" for a commune act)
    commune_code: str
    province_code: str
    sex: str | None
    age_band: str | None
    record_id: str
    codes: dict[str, str]

    @property
    def department(self) -> str:
        return self.event_type.split(".", 1)[0]

    @property
    def agency(self) -> str:
        if self.department == "rehab":  # Labour until 2025-02-28, the Police from 2025-03-01
            return "labour" if self.occurred_on < date(2025, 3, 1) else "police"
        return _AGENCY[self.department]


def _age_band(born: date, on: date) -> str:
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if age < 14:
        return "under_14"
    if age < 16:
        return "14_to_16"
    if age < 18:
        return "16_to_18"
    if age < 30:
        return "18_to_30"
    return "30_and_over"


def _communes() -> tuple[list[units.Commune], list[float]]:
    communes = sorted(units._communes().values(), key=lambda c: c.code)
    ha_noi = sum(1 for c in communes if c.province_code == HA_NOI)
    # Hà Nội's communes weigh so that the city holds ~7 % of the people; every other commune weighs 1.
    boost = 0.07 * (len(communes) - ha_noi) / (0.93 * ha_noi)
    return communes, [boost if c.province_code == HA_NOI else 1.0 for c in communes]


class _Person:
    __slots__ = ("acts", "born", "commune", "person_id", "pseudonym", "rng", "sex")

    def __init__(self, rng: random.Random, commune: units.Commune) -> None:
        self.rng = rng
        self.commune = commune
        self.sex = "male" if rng.random() < SEX_WEIGHTS[0][1] else "female"
        year = rng.randint(2006, 2009) if rng.random() < 0.05 else rng.randint(1965, 2004)
        self.born = date(year, 1, 1) + timedelta(days=rng.randrange(365))
        self.pseudonym = f"1:{rng.getrandbits(128):032x}"
        self.person_id = str(uuid.UUID(int=rng.getrandbits(128)))
        self.acts: list[Act] = []

    def record_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128)))

    def act(self, event_type: str, on: date, record_id: str = "", **codes: str) -> bool:
        if on > LAST_DAY:
            return False
        c = self.commune
        self.acts.append(
            Act(
                event_type,
                on,
                self.pseudonym,
                self.person_id,
                c.code,
                c.province_code,
                self.sex,
                _age_band(self.born, on),
                record_id,
                codes,
            )
        )
        return True


def _days(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(days=rng.randint(low, high))


def _management(p: _Person, decided_on: date) -> date:
    """A one-year management term with its periodic tests; returns the day it stopped."""
    rng = p.rng
    management_id = p.record_id()
    expires_on = add_years(decided_on, 1)
    p.act(
        "registry.management.decided.v1",
        decided_on,
        management_id,
        expires_on=expires_on.isoformat(),
        law_version="law_73_2021",
    )
    end = expires_on
    if rng.random() < 0.35:
        end = decided_on + _days(rng, 20, 330)
    # Tests during the term: the ward police test people on the list about every quarter.
    for _ in range(rng.randint(3, 14)):
        on = decided_on + _days(rng, 5, max(5, (end - decided_on).days - 1))
        p.act(
            "registry.drug_test.positive_recorded.v1",
            on,
            p.record_id(),
            substance=rng.choice(SUBSTANCES),
            during_management="true",
        )
    if end < expires_on:
        p.act(
            "registry.management.ended.v1",
            end,
            management_id,
            reason=rng.choice([r.value for r in ManagementEnd]),
        )
    return end


def _rehab(p: _Person, on: date, kind: str) -> date | None:
    """An admission, its training and discharge; returns the completion day when completed."""
    rng = p.rng
    admission_id = p.record_id()
    facility = kind in ("compulsory", "voluntary_facility")
    facility_code = f"F{p.commune.province_code}{rng.randint(1, 4)}" if facility else ""
    private = "true" if kind == "voluntary_facility" and rng.random() < 0.3 else "false"
    term = rng.choice((6, 9, 12)) if kind != "compulsory" else rng.choice((12, 18, 24))
    if kind == "compulsory":
        p.act(
            "rehab.admission.expected.v1",
            on,
            admission_id,
            facility_code=facility_code,
            term_months=str(term),
            dossier_id=p.record_id(),
        )
        on += _days(rng, 3, 20)
    p.act(
        "rehab.admission.admitted.v1",
        on,
        admission_id,
        kind=kind,
        facility_code=facility_code,
        facility_private=private,
        term_months=str(term),
        temporary_stay_days="0",
        law_version="law_73_2021",
    )
    months = term if rng.random() < 0.7 else rng.randint(1, term)
    for month in range(1, months + 1):
        p.act(
            "rehab.training.given.v1", on + timedelta(days=30 * month), admission_id, trade=rng.choice(TRADES)
        )
    left = on + timedelta(days=30 * months)
    reason = DischargeReason.COMPLETED if months == term else rng.choice(list(DischargeReason))
    done = p.act(
        "rehab.admission.discharged.v1",
        left,
        admission_id,
        kind=kind,
        facility_code=facility_code,
        reason=reason.value,
        completed="true" if reason.completes else "false",
    )
    return left if done and reason.completes else None


def _aftercare(p: _Person, completed_on: date, source_kind: str) -> None:
    rng = p.rng
    case_id = p.record_id()
    term = 12 if source_kind != "compulsory" else 24
    if not p.act(
        "aftercare.case.opened.v1",
        completed_on + _days(rng, 1, 5),
        case_id,
        source_kind=source_kind,
        completed_on=completed_on.isoformat(),
        term_months=str(term),
        transferred_from_case_id="",
    ):
        return
    if rng.random() < 0.15:  # never placed: a work list item
        return
    placed = completed_on + _days(rng, 5, 40)
    ends = placed + timedelta(days=30 * term)
    if not p.act(
        "aftercare.case.placed.v1",
        placed,
        case_id,
        term_months=str(term),
        ends_on=ends.isoformat(),
        caretaker_kind=rng.choice(CARETAKER_KINDS),
    ):
        return
    for month in range(1, term + 1):
        p.act(
            "aftercare.support.given.v1",
            placed + timedelta(days=30 * month),
            case_id,
            kind=rng.choice(SUPPORT_KINDS),
        )
    if rng.random() < 0.15:
        adult = "true" if _age_band(p.born, placed) in ("18_to_30", "30_and_over") else "false"
        p.act("aftercare.relapse.confirmed.v1", placed + _days(rng, 30, 300), case_id, adult=adult)
    if rng.random() < 0.7:
        reason = (
            "completed_certificate"
            if rng.random() < 0.9
            else rng.choice(("relapse_to_rehab", "died", "other"))
        )
        p.act("aftercare.case.closed.v1", min(ends, placed + _days(rng, 30, 400)), case_id, reason=reason)


def _person_acts(p: _Person) -> list[Act]:
    rng = p.rng
    registered = FIRST_DAY + timedelta(days=rng.randrange((LAST_DAY - FIRST_DAY).days - 60))
    p.act("registry.person.registered.v1", registered)
    tested = registered + _days(rng, 0, 10)
    p.act(
        "registry.drug_test.positive_recorded.v1",
        tested,
        p.record_id(),
        substance=rng.choice(SUBSTANCES),
        during_management="false",
    )
    on = tested
    if rng.random() < 0.8:
        on = _management(p, tested + _days(rng, 3, 45))
        if rng.random() < 0.3:
            on = _management(p, on + _days(rng, 10, 200))
    if rng.random() < 0.45:
        determination = p.record_id()
        asked = on + _days(rng, 1, 30)
        p.act("health.determination.requested.v1", asked, determination, legal_case=rng.choice(LEGAL_CASES))
        result = rng.choices(("addicted", "not_addicted", "keep_observing"), (6, 3, 1))[0]
        p.act("health.determination.concluded.v1", asked + _days(rng, 1, 7), determination, result=result)
        on = asked + _days(rng, 7, 30)
    if rng.random() < 0.2:  # methadone
        episode = p.record_id()
        enrolled = on + _days(rng, 5, 60)
        if p.act("health.methadone.enrolled.v1", enrolled, episode) and rng.random() < 0.6:
            ended = enrolled + _days(rng, 60, 700)
            reason = rng.choices([r.value for r in MethadoneEnd], (4, 2, 1, 3, 1, 0.2))[0]
            if p.act("health.methadone.ended.v1", ended, episode, reason=reason) and reason == "completed":
                _aftercare(p, ended, "methadone")
    elif rng.random() < 0.6:  # rehab
        kind = rng.choices([k.value for k in Kind], (3, 3, 2, 2))[0]
        start = on + _days(rng, 5, 60)
        if kind == "compulsory":
            dossier = p.record_id()
            codes = {
                "ground": rng.choice([g.value for g in Ground]),
                "minor": "false",
                "law_version": "law_73_2021",
            }
            p.act(
                "registry.compulsory_dossier.opened.v1",
                start,
                dossier,
                status="opened",
                term_months="0",
                facility_code="",
                **codes,
            )
            p.act(
                "registry.compulsory_dossier.submitted.v1",
                start + _days(rng, 5, 20),
                dossier,
                status="submitted",
                term_months="0",
                facility_code="",
                **codes,
            )
            start += _days(rng, 25, 45)
            p.act(
                "registry.compulsory_dossier.decided.v1",
                start,
                dossier,
                status="granted",
                term_months="12",
                facility_code="",
                **codes,
            )
        completed = _rehab(p, start, kind)
        if completed is not None and rng.random() < 0.85:
            _aftercare(p, completed, kind)
    return p.acts


def people(count: int, *, seed: int = 7) -> Iterator[list[Act]]:
    """Each person's acts in date order, ``count`` people."""
    rng = random.Random(seed)
    communes, weights = _communes()
    chosen = rng.choices(communes, weights, k=count)
    for commune in chosen:
        acts = _person_acts(_Person(rng, commune))
        acts.sort(key=lambda a: a.occurred_on)
        yield acts


def commune_acts(*, seed: int = 7, share: float = 1.0) -> Iterator[Act]:
    """The communes' aftercare model (Art. 40): started once, then maintained every year."""
    rng = random.Random(seed + 1)
    communes, _ = _communes()
    for c in communes:
        if rng.random() > share:
            continue
        started = date(2022, 1, 1) + _days(rng, 0, 700)
        for year, on in enumerate((started, *(date(y, 12, 15) for y in range(started.year, 2026)))):
            act = Act(
                "aftercare.model.changed.v1",
                on,
                None,
                "",
                c.code,
                c.province_code,
                None,
                None,
                "",
                {"status": "started" if year == 0 else "maintained"},
            )
            yield act


def acts(people_count: int, *, seed: int = 7) -> Iterator[Act]:
    """Every act of ``people_count`` people, person by person, then the communes' acts (their share
    follows the scale, so a small sample keeps the national mix)."""
    for person in people(people_count, seed=seed):
        yield from person
    yield from commune_acts(seed=seed, share=min(1.0, people_count / NATIONAL_PEOPLE))


# --- the steps table, written directly ----------------------------------------------------------------

_COLUMNS = (
    "event_id",
    "pseudonym",
    "event_type",
    "department",
    "agency",
    "occurred_on",
    "recorded_at",
    "commune_code",
    "province_code",
    "sex",
    "age_band",
    "record_id",
    "codes",
)


def write_steps(path: str, people_count: int, *, seed: int = 7, chunk: int = 50_000) -> int:
    """Bulk-insert every act into the ``steps`` table of a migrated reporting SQLite database.

    The two indexes are dropped while loading and created again with the migration's definitions (the
    schema stays what the service expects). Returns the number of rows."""
    connection = sqlite3.connect(path)
    # A bulk load of synthetic data: no fsync per chunk, a larger page cache.
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-262144")
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'steps' AND sql IS NOT NULL"
    ).fetchall()
    for name, _sql in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    statement = f"INSERT INTO steps ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    rng = random.Random(seed + 2)
    rows: list[tuple] = []
    total = 0
    for act in acts(people_count, seed=seed):
        at = datetime.combine(act.occurred_on, datetime.min.time()) + timedelta(
            hours=8, seconds=rng.randrange(36_000)
        )
        rows.append(
            (
                # Time-ordered like the services' UUIDv7 event ids, so rows append to the primary key.
                str(uuid.UUID(int=(total + len(rows)) << 80 | rng.getrandbits(64))),
                act.pseudonym,
                act.event_type,
                act.department,
                act.agency,
                act.occurred_on.isoformat(),
                at.isoformat(sep=" ", timespec="microseconds"),
                act.commune_code,
                act.province_code,
                act.sex,
                act.age_band,
                act.record_id,
                json.dumps(act.codes),
            )
        )
        if len(rows) >= chunk:
            connection.executemany(statement, rows)
            total += len(rows)
            rows.clear()
    connection.executemany(statement, rows)
    total += len(rows)
    connection.commit()
    for _name, sql in indexes:
        connection.execute(sql)
    connection.commit()
    connection.close()
    return total
