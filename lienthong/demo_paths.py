"""The demo's department phase, planned: a seeded subset of the registry phase's people walks the paths of
the other departments (domain.md §3-4), every act dated within the law's rules and time limits.

- determination: health concludes requests it opened by itself for a positive test during management
  (six criteria, a licensed facility): some addicted (the registry then ends a running term by itself),
  some not;
- compulsory: someone addicted gets a dossier → court decision (term, public facility) → rehab expects
  and admits them → five stages, vocational training → completed → aftercare at the commune;
- methadone: opioid users enrolled in health → completed (→ aftercare), stopped or terminated for
  violation (→ a compulsory-dossier ground in the registry), or still in treatment;
- voluntary: at a facility (public or private), at the family or in the community → completed (→
  aftercare) or self-terminated.
Every aftercare case is placed within the alert days and given support; a few adults relapse. Most demo
communes run an aftercare model: started in some year (or running before the system existed) and recorded
as maintained at each later year's review.

Each path first takes someone in each shipped plan's unit whose path can start inside the plan's period
(``PLAN_UNITS``), so that every plan has figures, then fills up from everyone.

This module is pure: the same people, seed and date always give the same steps. ``lienthong.demo_walk``
sends them through the services' gRPC APIs. What another department's event causes (a determination
request, an expected admission, an aftercare case) is an ``await_*`` step: the walker polls the owning
service's work list for it.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from lienthong import units
from lienthong.dates import add_months, add_years, age_on, today_in_vietnam
from lienthong.demo import FIRST_ACT, GIVEN_NAMES, HORIZON, MIDDLE_NAMES, REGIONS, PersonPlan, commune_name

# --- the rules the plan keeps (the services enforce them; tests/unit/test_demo_paths.py holds these
# copies to the services' own values) ------------------------------------------------------------------

LAW_VERSIONS = ((date(2022, 1, 1), "law_73_2021"), (date(2026, 7, 1), "law_120_2025"))
# Term ranges in months by law version. Law 120/2025's are reported to change (?); the services keep Law
# 73/2021's until the text is confirmed, and so does the demo.
_LAW_73_TERMS = {"compulsory_adult": (12, 24), "compulsory_minor": (6, 12), "voluntary": (6, 12)}
TERMS = {"law_73_2021": _LAW_73_TERMS, "law_120_2025": _LAW_73_TERMS}
# Aftercare terms (Art. 40): from the completion date.
AFTERCARE_MONTHS = {"compulsory_adult": 24, "compulsory_minor": 12, "voluntary": 12, "methadone": 12}
DETERMINATION_MAX_DAYS = 5  # health's default: a conclusion later than this is on record as late
PLACEMENT_ALERT_DAYS = 15  # aftercare's default: the demo's communes always decide before the alert
BREACH_WINDOW_MONTHS = 6  # methadone: 2 breaches within 6 months allow termination for violation
MINOR_FROM, ADULT_FROM = 12, 18

PATHS = ("determination", "compulsory", "methadone", "voluntary")
CRITERIA = ("craving", "loss_of_control", "tolerance", "neglect", "use_despite_harm", "withdrawal")
OPIOIDS = frozenset({"heroin", "opium", "morphine"})
# Registry ends that take a person out of the other departments' reach (dead, in prison, missing, sent to
# an education facility or a reform school instead).
OUT_OF_REACH = frozenset({"died", "imprisoned", "missing", "compulsory_education", "reform_school"})
SUPPORT_KINDS = ("vocational_training", "job_placement", "loan", "counselling", "medical_psychological")
TRADES = ("may_cong_nghiep", "trong_trot", "chan_nuoi", "dien_dan_dung", "moc_my_nghe", "sua_xe_may")
BREACH_KINDS = ("diversion", "violence", "other_drug_use", "missed_appointments")
ALL_STAGES = ("detox_treatment", "education_counselling", "labour_vocational", "reintegration_preparation")

# Share of the people walked through each path (scaled with --people); determination requests are
# concluded with ``CONCLUDE_SHARE`` each, since health opens them for everyone who used again.
SHARES = {"compulsory": 0.04, "methadone": 0.05, "voluntary": 0.04}
# The n-th person on a path takes the n-th of these in turn (the mix by weight), so that even a small demo
# shows each; a methadone outcome that cannot happen before the horizon gives way to one that can.
VOLUNTARY_KINDS = (
    "voluntary_facility",
    "voluntary_family",
    "voluntary_community",
    "voluntary_facility",
    "voluntary_family",
)
METHADONE_OUTCOMES = ("completed", "voluntary_stop", "terminated_violation", "completed", "ongoing")
CONCLUDE_SHARE = 0.75
RELAPSE_SHARE = 0.2


@dataclass(frozen=True)
class RehabFacility:
    code: str
    name: str
    public: bool
    operator: str
    capacity: int
    type: str
    commune_code: str


# Invented facilities in real communes of the demo's provinces; compulsory rehab only at the public ones
# (Art. 28), in the person's province.
REHAB_FACILITIES = (
    RehabFacility(
        code="HN-CS1",
        name="Cơ sở cai nghiện ma túy số 1 Hà Nội",
        public=True,
        operator="Công an thành phố Hà Nội",
        capacity=600,
        type="multi_function",
        commune_code="09700",  # Xã Ba Vì
    ),
    RehabFacility(
        code="HN-CS2",
        name="Cơ sở cai nghiện ma túy số 2 Hà Nội",
        public=True,
        operator="Công an thành phố Hà Nội",
        capacity=500,
        type="compulsory_only",
        commune_code="09706",  # Xã Yên Bài
    ),
    RehabFacility(
        code="HN-BM",
        name="Cơ sở cai nghiện ma túy tự nguyện Bình Minh",
        public=False,
        operator="Công ty TNHH Y tế Bình Minh",
        capacity=120,
        type="voluntary_only",
        commune_code="10018",  # Xã Xuân Mai
    ),
    RehabFacility(
        code="LC-CS",
        name="Cơ sở cai nghiện ma túy tỉnh Lai Châu",
        public=True,
        operator="Công an tỉnh Lai Châu",
        capacity=300,
        type="multi_function",
        commune_code="03390",  # Xã Bình Lư
    ),
)
# By the province of the person's commune.
COMPULSORY_FACILITIES = {"01": ("HN-CS1", "HN-CS2"), "12": ("LC-CS",)}
VOLUNTARY_FACILITIES = {"01": ("HN-CS1", "HN-BM"), "12": ("LC-CS",)}
# Licensed to determine addiction (Decree 109/2021): id, name, province.
HEALTH_FACILITIES = (
    ("BV-TTHN", "Bệnh viện Tâm thần Hà Nội", "01"),
    ("BV-DKHD", "Bệnh viện Đa khoa Hà Đông", "01"),
    ("BV-DKLC", "Bệnh viện Đa khoa tỉnh Lai Châu", "12"),
)


@dataclass(frozen=True)
class PlanUnit:
    """The unit and period of a shipped plan (services/reporting/indicators/plans/*.toml;
    tests/unit/test_demo_paths.py holds these to the files)."""

    plan_id: str
    province_code: str
    communes: tuple[str, ...]  # empty: the whole province
    start: date
    end: date

    def holds(self, commune_code: str) -> bool:
        if self.communes:
            return commune_code in self.communes
        return province_of(commune_code) == self.province_code


# Smallest first: when a small demo has fewer walkers on a path than units, the small units come first.
PLAN_UNITS = (
    PlanUnit("lai-chau-city-2022", "12", ("03408", "03388"), date(2022, 1, 1), date(2022, 12, 31)),
    PlanUnit(
        "ha-dong-2021-2025",
        "01",
        ("09556", "09552", "09562", "09568", "09886"),
        date(2021, 1, 1),
        date(2025, 12, 31),
    ),
    PlanUnit("ha-noi-43-2023", "01", (), date(2023, 1, 1), date(2023, 12, 31)),
    PlanUnit("ha-noi-110-2023", "01", (), date(2023, 1, 1), date(2023, 12, 31)),
)
# A path whose anchor (the day it starts from) is this long before the end of a plan's period starts inside
# the period: the dossier, the admission or the enrolment is then counted by the plan.
COVERAGE_MARGIN = timedelta(days=120)

# The communes' aftercare models, in turn within each region (communes shuffled by seed): "before" ran
# before the system existed (first recorded as maintained in 2022), a year is the year the commune started
# one, None is no model. Each later year's review records the model as maintained.
MODEL_STARTS: tuple[str | int | None, ...] = ("before", 2022, 2023, "before", 2024, None, 2023, 2025)

SERVICE_OF = {
    "await_determination": "health",
    "record_criteria": "health",
    "conclude_determination": "health",
    "enrol_methadone": "health",
    "advance_phase": "health",
    "record_breach": "health",
    "end_methadone": "health",
    "open_dossier": "registry",
    "submit_dossier": "registry",
    "court_decision": "registry",
    "await_expected_admission": "rehab",
    "admit_expected": "rehab",
    "admit": "rehab",
    "advance_stage": "rehab",
    "record_training": "rehab",
    "discharge": "rehab",
    "await_aftercare_case": "aftercare",
    "place_case": "aftercare",
    "record_support": "aftercare",
    "suspect_relapse": "aftercare",
    "confirm_relapse": "aftercare",
}


def province_of(commune_code: str) -> str:
    return units.commune(commune_code).province_code


def law_on(day: date) -> str:
    return [version for since, version in LAW_VERSIONS if since <= day][-1]


def assess(criteria: Sequence[str]) -> str:
    """Circular 18/2021, as health computes it: 3 or more → addicted; 2 without withdrawal → keep observing."""
    if len(criteria) >= 3:
        return "addicted"
    if len(criteria) == 2 and "withdrawal" not in criteria:
        return "keep_observing"
    return "not_addicted"


# --- the plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    act: str  # a key of SERVICE_OF
    on: date
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return SERVICE_OF[self.act]


@dataclass
class PersonPath:
    index: int  # position among the registry phase's people, for messages
    person: PersonPlan
    paths: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)


@dataclass(frozen=True)
class ModelChange:
    """A commune's aftercare model recorded in aftercare (RecordModel)."""

    commune_code: str
    on: date
    status: str  # started or maintained


@dataclass
class DepartmentPlan:
    people: list[PersonPath]
    as_of: date
    models: list[ModelChange] = field(default_factory=list)

    @property
    def step_count(self) -> int:
        """Calls and waits of the phase: the facilities registered first, the communes' aftercare models,
        then every person's steps."""
        facilities = len(REHAB_FACILITIES) + len(HEALTH_FACILITIES)
        return facilities + len(self.models) + sum(len(p.steps) for p in self.people)

    def model_communes(self) -> set[str]:
        return {change.commune_code for change in self.models}

    def path_counts(self) -> Counter[str]:
        return Counter(path for p in self.people for path in p.paths)

    @property
    def registry_events(self) -> int:
        """Events the REGISTRY stream gets from this phase: each registry act, and each management term a
        conclusion of "addicted" ends (the registry's consumer publishes that end by itself)."""
        return sum(
            s.service == "registry" or bool(s.detail.get("ends_management"))
            for p in self.people
            for s in p.steps
        )


# --- what the registry phase left for each person -----------------------------------------------------


@dataclass
class _Term:
    decided_on: date
    expires_on: date
    ended_on: date | None = None
    reason: str = ""

    def end(self) -> date:
        return min(self.ended_on, self.expires_on) if self.ended_on else self.expires_on

    def active_on(self, day: date) -> bool:
        return self.decided_on <= day < self.end()


@dataclass
class RegistryHistory:
    terms: list[_Term]
    # Tests during a running term (with that term's index), as the registry judged them when they were
    # recorded: health opens a determination request for each (Art. 27(1)(a)).
    requests: list[tuple[date, int]]
    first_test: date
    last_act: date
    substance: str
    registry_addicted_on: list[date]
    out_of_reach: bool


def registry_history(plan: PersonPlan) -> RegistryHistory:
    terms: list[_Term] = []
    requests: list[tuple[date, int]] = []
    for command in plan.commands:
        if command.kind == "test":
            running = [n for n, t in enumerate(terms) if t.active_on(command.on)]
            if running:
                requests.append((command.on, running[0]))
        elif command.kind == "decide":
            terms.append(_Term(command.on, add_years(command.on, 1)))
        else:
            terms[-1].ended_on, terms[-1].reason = command.on, command.reason
    tests = [c for c in plan.commands if c.kind == "test"]
    return RegistryHistory(
        terms=terms,
        requests=requests,
        first_test=tests[0].on,
        last_act=plan.commands[-1].on,
        substance=tests[0].substance,
        registry_addicted_on=[t.ended_on for t in terms if t.reason == "addicted"],
        out_of_reach=any(t.reason in OUT_OF_REACH for t in terms),
    )


# --- helpers ------------------------------------------------------------------------------------------


def _after(rng: random.Random, day: date, low: int, high: int) -> date:
    return day + timedelta(days=rng.randint(low, high))


def _part(rng: random.Random, day: date, days: int, low: float, high: float) -> date:
    """A day at a random share (low..high) of ``days`` after ``day``: stages scale with the term."""
    return day + timedelta(days=int(days * rng.uniform(low, high)))


class _DecisionNumbers:
    """Commune People's Committee decision numbers, continuing each commune's yearly count after the
    registry phase's management decisions, so no number is given twice."""

    def __init__(self, plans: Sequence[PersonPlan]) -> None:
        self._last: Counter[tuple[str, int]] = Counter()
        for plan in plans:
            for command in plan.commands:
                if command.kind == "decide":
                    key = (plan.commune_code, command.on.year)
                    number = int(command.decision_number.split("/", 1)[0])
                    self._last[key] = max(self._last[key], number)

    def next(self, commune: str, on: date) -> str:
        self._last[(commune, on.year)] += 1
        return f"{self._last[(commune, on.year)]}/QĐ-UBND"


def _caretaker(rng: random.Random, person: PersonPlan) -> tuple[str, str]:
    if rng.random() < 0.6:  # a family member: the same family name
        sex = rng.choice(("male", "female"))
        family = person.full_name.split()[0]
        name = f"{family} {rng.choice(MIDDLE_NAMES[sex])} {rng.choice(GIVEN_NAMES[sex])}"
        return "person", unicodedata.normalize("NFC", name)
    body = rng.choice(("Công an", "Hội Liên hiệp Phụ nữ", "Đoàn Thanh niên", "Mặt trận Tổ quốc"))
    return "organisation", unicodedata.normalize("NFC", f"{body} {commune_name(person.commune_code)}")


# --- one path each ------------------------------------------------------------------------------------


def _criteria(rng: random.Random, addicted: bool) -> list[str]:
    if addicted:
        chosen = rng.sample(CRITERIA, rng.randint(3, 5))
    elif rng.random() < 0.5:
        chosen = [rng.choice(CRITERIA)]
    else:  # two criteria including withdrawal: not addicted (Circular 18/2021)
        chosen = [rng.choice(CRITERIA[:-1]), "withdrawal"]
    return sorted(chosen, key=CRITERIA.index)


def _determination(
    rng: random.Random, province: str, requested_on: date, addicted: bool, as_of: date
) -> list[Step]:
    facility = rng.choice([f for f in HEALTH_FACILITIES if f[2] == province])[0]
    observed = min(_after(rng, requested_on, 0, 3), as_of)
    concluded = min(_after(rng, observed, 0, 2), as_of)
    criteria = _criteria(rng, addicted)
    return [
        Step("await_determination", requested_on),
        Step("record_criteria", observed, {"facility": facility, "criteria": criteria}),
        Step("conclude_determination", concluded, {"facility": facility, "result": assess(criteria)}),
    ]


def _aftercare(
    rng: random.Random,
    person: PersonPlan,
    completed: date,
    months: int,
    minor_case: bool,
    as_of: date,
    numbers: _DecisionNumbers,
) -> list[Step]:
    """Placed within the alert days, one to three kinds of support, for a few adults a relapse."""
    placed = _after(rng, completed, 2, min(14, PLACEMENT_ALERT_DAYS))
    kind, name = _caretaker(rng, person)
    steps = [
        Step("await_aftercare_case", placed, {"completed_on": completed}),
        Step(
            "place_case",
            placed,
            {
                "number": numbers.next(person.commune_code, placed),
                "caretaker_kind": kind,
                "caretaker_name": name,
                "term_months": months,
            },
        ),
    ]
    last = min(as_of, add_months(completed, months) - timedelta(days=1))
    days = sorted(_after(rng, placed, 7, 150) for _ in range(rng.randint(1, 3)))
    kinds = list(SUPPORT_KINDS)
    rng.shuffle(kinds)
    for day in days:
        if day > last:
            break
        school = minor_case and age_on(person.date_of_birth, day) < ADULT_FROM
        steps.append(Step("record_support", day, {"kind": "schooling" if school else kinds.pop()}))
    if not minor_case and rng.random() < RELAPSE_SHARE:
        suspected = _after(rng, steps[-1].on, 20, 120)
        determined = _after(rng, suspected, 3, 20)
        if determined <= last:
            steps += [Step("suspect_relapse", suspected), Step("confirm_relapse", determined)]
    return steps


def _stages(
    rng: random.Random, admitted: date, days: int, stages: Sequence[str], *, training: bool
) -> list[Step]:
    """The stages after intake, spread over the term (``days``), and a trade learnt at labour therapy."""
    shares = {
        "detox_treatment": (0.01, 0.03),
        "education_counselling": (0.08, 0.2),
        "labour_vocational": (0.3, 0.45),
        "reintegration_preparation": (0.8, 0.9),
    }
    steps = [Step("advance_stage", _part(rng, admitted, days, *shares[s]), {"to": s}) for s in stages]
    if training and "labour_vocational" in stages:
        labour = next(s.on for s in steps if s.detail["to"] == "labour_vocational")
        given = labour + timedelta(days=int(days * rng.uniform(0.05, 0.25)))
        steps.append(Step("record_training", given, {"trade": rng.choice(TRADES)}))
    return sorted(steps, key=lambda s: s.on)


def _compulsory(
    rng: random.Random, person: PersonPlan, start: date, as_of: date, numbers: _DecisionNumbers
) -> list[Step] | None:
    opened = start
    age = age_on(person.date_of_birth, opened)
    if age < MINOR_FROM:
        return None
    minor = age < ADULT_FROM
    submitted = _after(rng, opened, 5, 20)
    decided = _after(rng, submitted, 7, 30)
    admitted = _after(rng, decided, 1, 10)
    if admitted > as_of:
        return None
    # Held in temporary stay from the submission for some: deducted from the term at arrival.
    stay = (admitted - submitted).days if rng.random() < 0.3 else 0
    low, high = TERMS[law_on(decided)]["compulsory_minor" if minor else "compulsory_adult"]
    terms = list(range(low, high + 1, 6))

    def planned_end(months: int) -> date:  # the first day no longer held
        return add_months(admitted, months) - timedelta(days=stay)

    # A term that ends in time for aftercare before the horizon, if the court's range has one.
    fitting = [m for m in terms if planned_end(m) + timedelta(days=30) <= as_of]
    term = rng.choice(fitting or terms)
    facility = rng.choice(COMPULSORY_FACILITIES[province_of(person.commune_code)])
    steps = [
        Step("open_dossier", opened, {"ground": "no_voluntary_rehab", "minor": minor}),
        Step("submit_dossier", submitted),
        Step("court_decision", decided, {"term_months": term, "facility": facility}),
        Step("await_expected_admission", admitted, {"facility": facility}),
        Step("admit_expected", admitted, {"temporary_stay_days": stay, "planned_end": planned_end(term)}),
    ]
    days = (planned_end(term) - admitted).days
    steps += [s for s in _stages(rng, admitted, days, ALL_STAGES, training=True) if s.on <= as_of]
    if fitting:
        steps.append(Step("discharge", planned_end(term), {"reason": "completed"}))
        # Rehab knows this person only from the court decision's event: the aftercare case gets the age
        # band of the decision date, not of the dossier's opening (a 17-year-old may be 18 by then).
        minor_case = age_on(person.date_of_birth, decided) < ADULT_FROM
        key = "compulsory_minor" if minor_case else "compulsory_adult"
        steps += _aftercare(rng, person, planned_end(term), AFTERCARE_MONTHS[key], minor_case, as_of, numbers)
    return steps


def _methadone(
    rng: random.Random,
    person: PersonPlan,
    history: RegistryHistory,
    as_of: date,
    numbers: _DecisionNumbers,
    nth: int,
) -> list[Step] | None:
    enrolled = _after(rng, history.first_test, 14, 120)
    if enrolled > as_of or age_on(person.date_of_birth, enrolled) < ADULT_FROM:
        return None
    titration = _after(rng, enrolled, 7, 14)
    maintenance = _after(rng, titration, 21, 42)
    steps = [Step("enrol_methadone", enrolled)]
    steps += [
        Step("advance_phase", day, {"to": phase})
        for phase, day in (("titration", titration), ("maintenance", maintenance))
        if day <= as_of
    ]
    tapering = _after(rng, maintenance, 270, 420)
    completed = _after(rng, tapering, 60, 120)
    stopped = _after(rng, maintenance, 30, 300)
    first = _after(rng, maintenance, 20, 200)
    second = _after(rng, first, 14, 120)  # within the 6-month window with the first
    terminated = _after(rng, second, 1, 14)
    ends = {
        "completed": (
            completed + timedelta(days=30) <= as_of,  # room for aftercare before the horizon
            [
                Step("advance_phase", tapering, {"to": "tapering"}),
                Step("end_methadone", completed, {"reason": "completed"}),
            ],
        ),
        "voluntary_stop": (
            stopped <= as_of,
            [Step("end_methadone", stopped, {"reason": "voluntary_stop"})],
        ),
        "terminated_violation": (
            terminated <= as_of,
            [
                Step("record_breach", first, {"kind": rng.choice(BREACH_KINDS)}),
                Step("record_breach", second, {"kind": rng.choice(BREACH_KINDS)}),
                Step("end_methadone", terminated, {"reason": "terminated_violation"}),
            ],
        ),
        "ongoing": (True, []),  # still in treatment at the horizon
    }
    outcome = METHADONE_OUTCOMES[nth % len(METHADONE_OUTCOMES)]
    if not ends[outcome][0]:
        outcome = rng.choice([o for o, (fits, _) in ends.items() if fits])
    steps += ends[outcome][1]
    if outcome == "completed":
        steps += _aftercare(rng, person, completed, AFTERCARE_MONTHS["methadone"], False, as_of, numbers)
    return steps


def _voluntary(
    rng: random.Random, person: PersonPlan, start: date, as_of: date, numbers: _DecisionNumbers, nth: int
) -> list[Step] | None:
    admitted = start
    if admitted > as_of or age_on(person.date_of_birth, admitted) < ADULT_FROM:
        return None  # minors' voluntary rehab (with a guardian) is not part of the demo
    kind = VOLUNTARY_KINDS[nth % len(VOLUNTARY_KINDS)]
    facility = (
        rng.choice(VOLUNTARY_FACILITIES[province_of(person.commune_code)])
        if kind == "voluntary_facility"
        else ""
    )
    low, high = TERMS[law_on(admitted)]["voluntary"]
    terms = list(range(low, high + 1, 3))
    fitting = [m for m in terms if add_months(admitted, m) + timedelta(days=30) <= as_of]
    term = rng.choice(fitting or terms)
    planned_end = add_months(admitted, term)
    days = (planned_end - admitted).days
    # Voluntary rehab needs the first three stages (Art. 29); facilities also run the other two.
    stages = ALL_STAGES if facility else ALL_STAGES[:2]
    steps = [
        Step("admit", admitted, {"kind": kind, "facility": facility, "term_months": term}),
        *_stages(rng, admitted, days, stages, training=bool(facility)),
    ]
    if rng.random() < 0.15:  # gave up: no aftercare
        quit_on = _after(rng, admitted, 20, 100)
        if quit_on <= as_of:
            kept = [s for s in steps if s.on <= quit_on]
            return [*kept, Step("discharge", quit_on, {"reason": "self_terminated"})]
    steps = [s for s in steps if s.on <= as_of]
    if fitting:
        steps.append(Step("discharge", planned_end, {"reason": "completed"}))
        steps += _aftercare(rng, person, planned_end, AFTERCARE_MONTHS["voluntary"], False, as_of, numbers)
    return steps


# --- choosing who walks which path --------------------------------------------------------------------


class _Planner:
    def __init__(self, plans: Sequence[PersonPlan], seed: int, as_of: date) -> None:
        self.plans = plans
        self.as_of = as_of
        self.rng = random.Random(f"{seed}:departments")  # its own stream: the registry phase stays as it was
        self.numbers = _DecisionNumbers(plans)
        self.histories = [registry_history(plan) for plan in plans]
        self.walks = [PersonPath(i, plan) for i, plan in enumerate(plans)]
        self.addicted = {i: bool(h.registry_addicted_on) for i, h in enumerate(self.histories)}
        self.not_addicted: set[int] = set()
        # The last day of each person's registry acts and determinations: later paths start after it.
        self.busy_until = [h.last_act for h in self.histories]
        self.taken: set[int] = set()

    def determinations(self, i: int) -> None:
        history, rng = self.histories[i], self.rng
        for requested_on, term_index in history.requests:
            term = history.terms[term_index]
            # A term the registry phase ended as "addicted" had a conclusion behind it: always concluded.
            registry_says = term.reason == "addicted"
            if not registry_says and rng.random() > CONCLUDE_SHARE:
                continue  # left on health's work list
            before = any(day <= requested_on for day in history.registry_addicted_on)
            addicted = registry_says or before or self.addicted_by_health(i) or rng.random() < 0.5
            province = province_of(self.plans[i].commune_code)
            steps = _determination(rng, province, requested_on, addicted, self.as_of)
            concluded = steps[-1]
            if term.reason in OUT_OF_REACH and term.end() <= concluded.on:
                continue
            if addicted:
                # The registry ends the term if it still runs on that date and has no end yet; later
                # requests of the same term then find it ended.
                ends = term.ended_on is None and term.active_on(concluded.on)
                concluded.detail["ends_management"] = ends
                if ends:
                    term.ended_on, term.reason = concluded.on, "addicted"
                self.addicted[i] = True
            else:
                self.not_addicted.add(i)
            self.walks[i].steps += steps
            self.busy_until[i] = max(self.busy_until[i], concluded.on)
        if self.walks[i].steps:
            self.walks[i].paths.append("determination")

    def addicted_by_health(self, i: int) -> bool:
        return any(s.detail.get("result") == "addicted" for s in self.walks[i].steps)

    def choose(self, path: str, eligible, can_finish, make, anchor) -> None:
        """Walk ``SHARES[path]`` of the people, not on another path, through ``make(i, nth)``. Candidates are
        shuffled, mostly those who can finish before the horizon first, so that aftercare gets people too.

        First, for each plan unit, the first candidate living there whose ``anchor(i)`` (the day the path
        starts from) lets the path start inside the plan's period: every plan gets the path if it can."""
        pool = [
            i
            for i, h in enumerate(self.histories)
            if not h.out_of_reach and i not in self.taken and i not in self.not_addicted and eligible(i)
        ]
        self.rng.shuffle(pool)
        pool.sort(key=lambda i: not can_finish(i) and self.rng.random() < 0.75)
        wanted, nth = round(len(self.plans) * SHARES[path]), 0

        def walk(i: int) -> bool:
            nonlocal nth
            steps = make(i, nth)
            if not steps:
                return False
            self.walks[i].steps += steps
            self.walks[i].paths.append(path)
            self.taken.add(i)
            nth += 1
            return True

        covered: set[tuple] = set()
        for unit in PLAN_UNITS:
            key = (unit.communes or unit.province_code, unit.start, unit.end)
            if key in covered:
                continue
            covered.add(key)
            for i in pool:
                if nth >= wanted:
                    break
                fits = (
                    i not in self.taken
                    and unit.holds(self.plans[i].commune_code)
                    and unit.start <= anchor(i) <= unit.end - COVERAGE_MARGIN
                )
                if fits and walk(i):
                    break
        for i in pool:
            if nth >= wanted:
                break
            if i not in self.taken:
                walk(i)

    def started_by(self, months: int):
        return lambda i: self.busy_until[i] <= add_months(self.as_of, -months)

    def start(self, i: int, low: int, high: int) -> date:
        return _after(self.rng, self.busy_until[i], low, high)


def plan_departments(
    plans: Sequence[PersonPlan], seed: int = 2025, *, as_of: date | None = None
) -> DepartmentPlan:
    """The department phase for the people of ``demo.build_scenario(len(plans), seed)``."""
    as_of = min(as_of or today_in_vietnam(), HORIZON)
    p = _Planner(plans, seed, as_of)
    for i in range(len(plans)):
        p.determinations(i)
    rng, numbers = p.rng, p.numbers
    p.choose(
        "compulsory",
        lambda i: p.addicted[i],
        p.started_by(16),
        lambda i, _nth: _compulsory(rng, plans[i], p.start(i, 15, 60), as_of, numbers),
        lambda i: p.busy_until[i],
    )
    p.choose(
        "methadone",
        lambda i: p.histories[i].substance in OPIOIDS,
        lambda i: p.histories[i].first_test <= add_months(as_of, -22),
        lambda i, nth: _methadone(rng, plans[i], p.histories[i], as_of, numbers, nth),
        lambda i: p.histories[i].first_test,
    )
    p.choose(
        "voluntary",
        lambda i: True,
        p.started_by(10),
        lambda i, nth: _voluntary(rng, plans[i], p.start(i, 10, 90), as_of, numbers, nth),
        lambda i: p.busy_until[i],
    )
    for walk in p.walks:
        # One person's paths interleave by date (methadone may run while health determines); within a
        # path the order is causal and stays so on equal dates (the sort is stable).
        walk.steps.sort(key=lambda s: s.on)
    return DepartmentPlan([walk for walk in p.walks if walk.steps], as_of, plan_models(seed, as_of))


def plan_models(seed: int = 2025, as_of: date | None = None) -> list[ModelChange]:
    """The demo communes' aftercare models (``MODEL_STARTS`` in turn within each region), by date."""
    as_of = min(as_of or today_in_vietnam(), HORIZON)
    rng = random.Random(f"{seed}:models")  # its own stream: the people's paths do not depend on it
    changes: list[ModelChange] = []
    for region in REGIONS:
        communes = [code for code, _ in region.communes]
        rng.shuffle(communes)
        for n, code in enumerate(communes):
            start = MODEL_STARTS[n % len(MODEL_STARTS)]
            if start is None:
                continue
            if start == "before":
                first_review = FIRST_ACT.year
            else:
                started = date(int(start), 1, 15) + timedelta(days=rng.randint(0, 290))
                if started > as_of:
                    continue
                changes.append(ModelChange(code, started, "started"))
                first_review = int(start) + 1
            for year in range(first_review, as_of.year + 1):
                reviewed = date(year, 11, 15) + timedelta(days=rng.randint(0, 46))  # the year-end review
                if reviewed > as_of:
                    break
                changes.append(ModelChange(code, reviewed, "maintained"))
    return sorted(changes, key=lambda c: (c.on, c.commune_code))
