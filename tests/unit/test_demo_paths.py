"""The demo's department phase as planned: deterministic per seed, about a fifth of the people, every path
present, and every step one that the services' own domain rules accept on its date."""

from __future__ import annotations

import functools
import tomllib
import unicodedata
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from lienthong import demo_paths as paths
from lienthong.agebands import age_band
from lienthong.cccd import Sex
from lienthong.dates import age_on
from lienthong.demo import DEMO_COMMUNES, FIRST_ACT, HORIZON, REGIONS, PersonPlan, build_scenario
from services.aftercare.domain import cases as aftercare
from services.aftercare.domain import models as aftercare_models
from services.aftercare.domain import relapse as aftercare_relapse
from services.aftercare.domain.common import Person as AftercarePerson
from services.aftercare.settings import AftercareSettings
from services.health.domain import determination as det
from services.health.domain import methadone as mmt
from services.health.domain.people import Person as HealthPerson
from services.health.settings import HealthSettings
from services.registry import domain as registry
from services.registry import dossier_rules
from services.rehab.domain import admissions as adm
from services.rehab.domain import progress
from services.rehab.domain.facilities import Facility, check_facility, parse_type
from services.rehab.domain.people import Identity
from services.rehab.domain.people import Person as RehabPerson
from services.rehab.domain.terms import DEFAULT_TERMS, DischargeReason, Kind, Rules, Stage

AS_OF = date(2026, 11, 1)  # after the horizon: nothing may be planned after demo.HORIZON


@functools.cache
def scenario(people: int, seed: int) -> tuple[list[PersonPlan], paths.DepartmentPlan]:
    plans = build_scenario(people, seed, as_of=AS_OF)
    return plans, paths.plan_departments(plans, seed, as_of=AS_OF)


def acts(plan: paths.DepartmentPlan) -> Counter:
    return Counter(
        (
            s.act,
            s.detail.get("reason")
            or s.detail.get("result")
            or (s.detail["kind"] if s.act == "admit" else ""),
        )
        for walk in plan.people
        for s in walk.steps
    )


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    plans = build_scenario(300, 5, as_of=AS_OF)
    first = paths.plan_departments(plans, 5, as_of=AS_OF)
    again = paths.plan_departments(build_scenario(300, 5, as_of=AS_OF), 5, as_of=AS_OF)
    assert [(w.index, w.paths, w.steps) for w in first.people] == [
        (w.index, w.paths, w.steps) for w in again.people
    ]
    other = paths.plan_departments(plans, 6, as_of=AS_OF)
    assert [w.steps for w in first.people] != [w.steps for w in other.people]


@pytest.mark.parametrize("seed", [2025, 1, 77])
def test_every_path_is_walked_for_the_default_300_people(seed: int) -> None:
    _, plan = scenario(300, seed)
    assert set(plan.path_counts()) == set(paths.PATHS)
    done = acts(plan)
    assert done["conclude_determination", "addicted"] and done["conclude_determination", "not_addicted"]
    assert done["court_decision", ""] and done["admit_expected", ""]
    assert done["discharge", "completed"] and done["place_case", ""] and done["record_support", ""]
    assert done["enrol_methadone", ""] and done["end_methadone", "completed"]
    assert sum(n for (act, kind), n in done.items() if act == "admit" and kind.startswith("voluntary_"))


def test_the_default_scenario_shows_each_outcome() -> None:
    done = acts(scenario(300, 2025)[1])
    for reason in ("completed", "voluntary_stop", "terminated_violation"):
        assert done["end_methadone", reason], reason
    for kind in ("voluntary_facility", "voluntary_family", "voluntary_community"):
        assert done["admit", kind], kind
    assert done["confirm_relapse", ""] and done["record_training", ""]


@pytest.mark.parametrize("people", [300, 1000])
def test_about_a_fifth_of_the_people_walk(people: int) -> None:
    plans, plan = scenario(people, 2025)
    walked = [w.index for w in plan.people]
    assert len(walked) == len(set(walked))
    assert 0.15 <= len(walked) / people <= 0.25
    for walk in plan.people:
        assert walk.person is plans[walk.index] and walk.steps and walk.paths


def test_the_subset_scales_with_the_people() -> None:
    sizes = {n: len(scenario(n, 2025)[1].people) for n in (60, 300, 1000)}
    assert 0 < sizes[60] < sizes[300] < sizes[1000]
    counts = {n: scenario(n, 2025)[1].path_counts() for n in (300, 1000)}
    for path in ("compulsory", "methadone", "voluntary"):
        assert counts[1000][path] == pytest.approx(counts[300][path] * 1000 / 300, rel=0.1)


@pytest.mark.parametrize("seed", [2025, 1, 77])
def test_steps_are_in_order_and_within_the_horizon(seed: int) -> None:
    for walk in scenario(300, seed)[1].people:
        days = [s.on for s in walk.steps]
        assert days == sorted(days), walk
        assert FIRST_ACT <= days[0] and days[-1] <= HORIZON
        assert all(s.act in paths.SERVICE_OF for s in walk.steps)
        for step in walk.steps:
            for value in step.detail.values():
                if isinstance(value, str):
                    assert unicodedata.is_normalized("NFC", value)


def test_the_plan_keeps_the_services_settings_and_terms() -> None:
    assert {version: ranges["compulsory_adult"] for version, ranges in paths.TERMS.items()} == {
        law: dossier_rules.TERM_MONTHS[(law, "adult")] for law in paths.TERMS
    }
    for law, ranges in paths.TERMS.items():
        assert ranges["compulsory_minor"] == dossier_rules.TERM_MONTHS[(law, "minor")]
        assert ranges["compulsory_adult"] == DEFAULT_TERMS[law]["compulsory_adult"]
        assert ranges["voluntary"] == DEFAULT_TERMS[law]["voluntary_facility"]
    assert {since.isoformat(): v for since, v in paths.LAW_VERSIONS} == HealthSettings().law_versions
    settings = AftercareSettings()
    assert paths.PLACEMENT_ALERT_DAYS == settings.placement_alert_days
    terms = settings.terms()
    assert paths.AFTERCARE_MONTHS == {
        "compulsory_adult": terms.compulsory_adult_months,
        "compulsory_minor": terms.compulsory_minor_months,
        "voluntary": terms.voluntary_months,
        "methadone": terms.methadone_months,
    }
    assert paths.DETERMINATION_MAX_DAYS == HealthSettings().determination_max_days
    assert paths.BREACH_WINDOW_MONTHS == mmt.Rules().breach_window_months
    for facility in paths.REHAB_FACILITIES:
        check_facility(_facility(facility))


# --- every step through the services' own rules ------------------------------------------------------


def _facility(f: paths.RehabFacility) -> Facility:
    return Facility(
        f.code,
        f.name,
        f.public,
        f.operator,
        f.capacity,
        parse_type(f.type),
        f.commune_code,
        paths.province_of(f.commune_code),
    )


FACILITIES = {f.code: _facility(f) for f in paths.REHAB_FACILITIES}
HEALTH_FACILITY = {code: det.Facility(code, name, True) for code, name, _ in paths.HEALTH_FACILITIES}
HEALTH_PROVINCE = {code: province for code, _, province in paths.HEALTH_FACILITIES}


class Replay:
    """One person's steps applied to the services' pure domain rules, each on its own date."""

    def __init__(self, walk: paths.PersonPath) -> None:
        self.p = walk.person
        self.province = paths.province_of(self.p.commune_code)
        self.requests = {day for day, _ in paths.registry_history(self.p).requests}
        self.state: dict = {}
        self.bands: dict[str, str] = {}

    def band(self, day: date) -> str:
        return age_band(self.p.date_of_birth, day)

    def run(self, step: paths.Step) -> None:
        getattr(self, step.act)(step, step.on)

    # health
    def await_determination(self, step, on):
        assert on in self.requests, "health opens requests only for tests during management"
        self.state["determination"] = det.Determination(
            "d", "p", "police_a", on, "law_73_2021", self.p.commune_code, self.province
        )

    def record_criteria(self, step, on):
        assert HEALTH_PROVINCE[step.detail["facility"]] == self.province, "a facility of their province"
        criteria = det.parse_criteria(step.detail["criteria"])
        self.state["determination"] = det.record_criteria(
            self.state["determination"],
            HEALTH_FACILITY[step.detail["facility"]],
            observed_on=on,
            criteria=criteria,
            today=HORIZON,
        )

    def conclude_determination(self, step, on):
        person = HealthPerson("p", "1:" + "0" * 32, self.p.sex, self.p.commune_code, self.province)
        _, concluded, _ = det.conclude(
            person,
            self.state["determination"],
            HEALTH_FACILITY[step.detail["facility"]],
            concluded_on=on,
            max_days=paths.DETERMINATION_MAX_DAYS,
            today=HORIZON,
        )
        assert concluded.result.value == step.detail["result"] and not concluded.late

    def enrol_methadone(self, step, on):
        assert age_on(self.p.date_of_birth, on) >= 18
        person = HealthPerson("p", "1:" + "0" * 32, self.p.sex, self.p.commune_code, self.province)
        candidate = mmt.Episode("e", "p", on, paths.law_on(on), self.p.commune_code, self.province)
        self.state["health_person"], self.state["episode"], _ = mmt.enrol(
            person, [], candidate, today=HORIZON
        )
        self.state["breaches"] = []

    def advance_phase(self, step, on):
        phase = mmt.parse_phase(step.detail["to"])
        self.state["episode"] = mmt.advance(self.state["episode"], phase, on=on, today=HORIZON)

    def record_breach(self, step, on):
        mmt.check_breach(self.state["episode"], occurred_on=on, kind=step.detail["kind"], today=HORIZON)
        self.state["breaches"].append(on)

    def end_methadone(self, step, on):
        mmt.end(
            self.state["health_person"],
            self.state["episode"],
            reason=mmt.parse_end_reason(step.detail["reason"]),
            ended_on=on,
            breaches=self.state["breaches"],
            tests=[],
            rules=mmt.Rules(),
            today=HORIZON,
        )
        self.state["completion"] = ("methadone", "methadone", self.band(on))

    # registry
    def open_dossier(self, step, on):
        self.state["dossier"] = dossier_rules.open_dossier(
            dossier_id="x",
            person_id="p",
            date_of_birth=self.p.date_of_birth,
            ground=step.detail["ground"],
            opened_on=on,
            existing=[],
            today=HORIZON,
        )
        assert self.state["dossier"].minor == step.detail["minor"]

    def submit_dossier(self, step, on):
        self.state["dossier"] = dossier_rules.submit(self.state["dossier"], submitted_on=on, today=HORIZON)

    def court_decision(self, step, on):
        assert FACILITIES[step.detail["facility"]].province_code == self.province
        self.state["dossier"] = dossier_rules.decide(
            self.state["dossier"],
            decided_on=on,
            granted=True,
            term_months=step.detail["term_months"],
            facility_code=step.detail["facility"],
            today=HORIZON,
        )

    # rehab
    def await_expected_admission(self, step, on):
        dossier = self.state["dossier"]
        band = self.band(dossier.decided_on)  # the band the registry's decision event carries
        self.bands["rehab"] = band
        person = RehabPerson(
            "p", "1:" + "0" * 32, self.p.sex, self.p.commune_code, self.province, age_band=band
        )
        candidate = adm.Admission(
            "a",
            "p",
            Kind.COMPULSORY,
            dossier.law_version,
            dossier.term_months,
            dossier.minor or band in ("under_14", "14_to_16", "16_to_18"),
            self.p.commune_code,
            self.province,
            facility_code=dossier.facility_code,
            dossier_id="x",
            court_decided_on=dossier.decided_on,
        )
        self.state["rehab_person"], self.state["admission"], _ = adm.expect(person, candidate)

    def admit_expected(self, step, on):
        admission = self.state["admission"]
        _, admitted, _ = adm.admit_expected(
            self.state["rehab_person"],
            admission,
            [admission],
            FACILITIES[admission.facility_code],
            0,
            admitted_on=on,
            extra_stay_days=step.detail["temporary_stay_days"],
            today=HORIZON,
        )
        assert admitted.planned_end == step.detail["planned_end"]
        self.state["admission"] = admitted

    def admit(self, step, on):
        identity = Identity(self.p.citizen_id, self.p.full_name, self.p.date_of_birth)
        person = RehabPerson(
            "p", "1:" + "0" * 32, self.p.sex, self.p.commune_code, self.province, identity=identity
        )
        facility = FACILITIES.get(step.detail["facility"])
        assert facility is None or facility.province_code == self.province
        candidate = adm.Admission(
            "a",
            "p",
            Kind(step.detail["kind"]),
            paths.law_on(on),
            step.detail["term_months"],
            age_on(self.p.date_of_birth, on) < 18,
            self.p.commune_code,
            self.province,
            facility_code=step.detail["facility"] or None,
            admitted_on=on,
        )
        self.state["rehab_person"], self.state["admission"], _ = adm.admit(
            person, [], candidate, facility, 0, rules=Rules(), today=HORIZON
        )

    def advance_stage(self, step, on):
        self.state["admission"] = progress.advance(
            self.state["admission"], Stage(step.detail["to"]), on=on, today=HORIZON
        )

    def record_training(self, step, on):
        progress.give_training(
            self.state["rehab_person"],
            self.state["admission"],
            given_on=on,
            trade=step.detail["trade"],
            today=HORIZON,
        )

    def discharge(self, step, on):
        admission = self.state["admission"]
        _, done, _ = progress.discharge(
            self.state["rehab_person"],
            admission,
            reason=DischargeReason(step.detail["reason"]),
            on=on,
            today=HORIZON,
        )
        band = self.bands.get("rehab") or self.band(on)  # identity known: the band on the discharge date
        self.state["completion"] = ("rehab", done.kind.value, band)

    # aftercare
    def await_aftercare_case(self, step, on):
        source, kind, band = self.state["completion"]
        completed = step.detail["completed_on"]
        terms = AftercareSettings().terms()
        self.state["case"] = aftercare.Case(
            "c",
            "p",
            source,
            kind,
            completed,
            band,
            terms.months(kind, band),
            self.p.commune_code,
            self.province,
            paths.law_on(completed),
            completed,
        )
        self.state["aftercare_person"] = AftercarePerson("p", "1:" + "0" * 32, self.p.sex, band)
        self.state["relapses"] = []

    def place_case(self, step, on):
        case = self.state["case"]
        assert not aftercare.waiting(case, on, paths.PLACEMENT_ALERT_DAYS)[1], "placed before the alert"
        _, placed, _ = aftercare.place(
            self.state["aftercare_person"],
            case,
            decided_on=on,
            decision_number=step.detail["number"],
            caretaker_kind=step.detail["caretaker_kind"],
            caretaker_name=step.detail["caretaker_name"],
            today=HORIZON,
        )
        assert placed.term_months == step.detail["term_months"]
        self.state["case"] = placed

    def record_support(self, step, on):
        case = self.state["case"]
        assert on < case.ends_on, "support within the aftercare term"
        aftercare.give_support(
            self.state["aftercare_person"], case, given_on=on, kind=step.detail["kind"], today=HORIZON
        )

    def suspect_relapse(self, step, on):
        relapse = aftercare_relapse.suspect_relapse(
            self.state["case"], relapse_id="r", suspected_on=on, today=HORIZON
        )
        self.state["relapses"].append(relapse)

    def confirm_relapse(self, step, on):
        aftercare_relapse.confirm_relapse(
            self.state["aftercare_person"],
            self.state["case"],
            self.state["relapses"],
            relapse_id="r",
            determined_on=on,
            today=HORIZON,
        )
        assert self.state["case"].adult, "only an adult's relapse is planned (a dossier ground)"


@pytest.mark.parametrize("seed", [2025, 1, 77, 4242])
def test_every_step_is_accepted_by_the_services_rules(seed: int) -> None:
    for walk in scenario(300, seed)[1].people:
        replay = Replay(walk)
        for step in walk.steps:
            try:
                replay.run(step)
            except Exception as error:  # name the person and step in the failure
                raise AssertionError(f"person #{walk.index} {step}: {error}") from error


def _managements(person: PersonPlan) -> list[registry.Management]:
    terms: list[registry.Management] = []
    for command in person.commands:
        if command.kind == "decide":
            terms.append(
                registry.Management(
                    f"m{len(terms)}",
                    "p",
                    command.decision_number,
                    command.on,
                    registry.add_years(command.on, 1),
                    person.commune_code,
                    paths.province_of(person.commune_code),
                )
            )
        elif command.kind == "end":
            terms[-1] = replace(terms[-1], ended_on=command.on, end_reason=registry.EndReason(command.reason))
    return terms


@pytest.mark.parametrize("seed", [2025, 1, 77])
def test_the_registry_events_of_the_phase_are_counted(seed: int) -> None:
    """An older reporting is waited for by count: the plan must know each term the registry will end by
    itself on a conclusion of "addicted" (the registry's own rule, replayed here)."""
    _, plan = scenario(300, seed)
    ends = 0
    for walk in plan.people:
        person = registry.Person(
            "p",
            walk.person.citizen_id,
            walk.person.full_name,
            walk.person.date_of_birth,
            Sex(walk.person.sex),
            walk.person.commune_code,
            paths.province_of(walk.person.commune_code),
            "1:" + "0" * 32,
            walk.person.date_of_birth,
        )
        terms = _managements(walk.person)
        for step in walk.steps:
            if step.act == "conclude_determination" and step.detail["result"] == "addicted":
                ended = registry.end_on_determined_addicted(
                    person, terms, concluded_on=step.on, today=HORIZON
                )
                assert bool(ended) == step.detail["ends_management"], (walk.index, step)
                if ended:
                    _, term, _ = ended
                    terms = [term if t.management_id == term.management_id else t for t in terms]
                    ends += 1
    registry_acts = sum(s.service == "registry" for w in plan.people for s in w.steps)
    assert ends > 0 and plan.registry_events == registry_acts + ends


# --- the shipped plans get data ------------------------------------------------------------------------

PLAN_FILES = Path(__file__).resolve().parents[2] / "services/reporting/indicators/plans"


def test_the_plan_units_are_those_of_the_shipped_plan_files() -> None:
    shipped = {}
    for path in PLAN_FILES.glob("*.toml"):
        plan = tomllib.loads(path.read_text(encoding="utf-8"))
        period = plan["period"]
        shipped[plan["id"]] = (
            plan["province"],
            tuple(plan.get("communes", ())),
            period["start"],
            period["end"],
        )
    assert shipped == {u.plan_id: (u.province_code, u.communes, u.start, u.end) for u in paths.PLAN_UNITS}


def department_acts(people: int, seed: int, unit: paths.PlanUnit) -> Counter:
    """Acts per department dated inside the plan's period in the plan's unit: the registry phase's
    commands, the department phase's steps (not the waits) and the communes' aftercare models."""
    plans, plan = scenario(people, seed)
    inside = lambda code, day: unit.holds(code) and unit.start <= day <= unit.end  # noqa: E731
    done: Counter = Counter()
    done["registry"] += sum(inside(p.commune_code, c.on) for p in plans for c in p.commands)
    for walk in plan.people:
        for step in walk.steps:
            if not step.act.startswith("await_") and inside(walk.person.commune_code, step.on):
                done[step.service] += 1
    done["aftercare"] += sum(inside(m.commune_code, m.on) for m in plan.models)
    return done


@pytest.mark.parametrize(("people", "seed"), [(300, 2025), (300, 1), (300, 77), (120, 2025), (60, 2025)])
@pytest.mark.parametrize("unit", paths.PLAN_UNITS, ids=lambda u: u.plan_id)
def test_every_plan_has_activity_of_every_department(people: int, seed: int, unit: paths.PlanUnit) -> None:
    done = department_acts(people, seed, unit)
    assert all(done[service] for service in ("registry", "health", "rehab", "aftercare")), done


@pytest.mark.parametrize("seed", [2025, 1, 77])
def test_the_plans_see_people_in_rehab_health_and_aftercare_not_only_models(seed: int) -> None:
    """Beyond the models: in Hà Nội in 2023 and in the Hà Đông wards, people are placed in aftercare; in
    Lai Châu city in 2022 someone is in rehab and someone in health's hands."""
    _, plan = scenario(300, seed)
    for unit in paths.PLAN_UNITS:
        acts_in = Counter(
            s.act
            for walk in plan.people
            if unit.holds(walk.person.commune_code)
            for s in walk.steps
            if unit.start <= s.on <= unit.end
        )
        assert acts_in["admit"] + acts_in["admit_expected"] > 0, (unit.plan_id, acts_in)
        assert acts_in["conclude_determination"] + acts_in["enrol_methadone"] > 0, (unit.plan_id, acts_in)
        if unit.plan_id != "lai-chau-city-2022":
            assert acts_in["place_case"] > 0, (unit.plan_id, acts_in)


def test_models_follow_aftercare_rules_and_most_communes_run_one() -> None:
    changes = scenario(300, 2025)[1].models
    assert changes == paths.plan_models(2025, AS_OF), "the same seed gives the same models"
    assert changes != paths.plan_models(2026, AS_OF)
    assert [c.on for c in changes] == sorted(c.on for c in changes)
    by_commune: dict[str, list[paths.ModelChange]] = {}
    for change in changes:
        by_commune.setdefault(change.commune_code, []).append(change)
    assert len(by_commune) >= 0.75 * len(DEMO_COMMUNES)
    for code, history in by_commune.items():
        recorded: list[tuple[date, str]] = []
        for change in history:  # aftercare's own rule for each change, against the earlier ones
            aftercare_models.change(
                recorded,
                commune_code=code,
                province_code=paths.province_of(code),
                on=change.on,
                status=change.status,
                today=HORIZON,
            )
            recorded.append((change.on, change.status))
        assert FIRST_ACT <= history[0].on and history[-1].on <= HORIZON
        years = [c.on.year for c in history]
        assert len(years) == len(set(years)), "one record a year: started, or the yearly review"
        if history[0].status == "started":
            assert all(c.status == "maintained" for c in history[1:])
        else:  # a model older than the system: maintained every year from 2022
            assert years == list(range(2022, years[-1] + 1)) and years[-1] >= 2025


@pytest.mark.parametrize("seed", [2025, 1, 77])
def test_the_models_feed_the_plans(seed: int) -> None:
    changes = paths.plan_models(seed, AS_OF)
    in_2023 = Counter(
        c.status for c in changes if c.on.year == 2023 and paths.province_of(c.commune_code) == "01"
    )
    assert in_2023["started"] and in_2023["maintained"], "Plan 110/KH-UBND: models kept and started in 2023"
    ha_dong = next(u for u in paths.PLAN_UNITS if u.plan_id == "ha-dong-2021-2025")
    maintained = {
        c.commune_code for c in changes if ha_dong.holds(c.commune_code) and c.status == "maintained"
    }
    region = next(r for r in REGIONS if r.name == "Hà Đông")
    assert maintained == {code for code, _ in region.communes}, "every demo ward of Hà Đông keeps one"
    lai_chau = {
        c.commune_code for c in changes if c.on.year == 2022 and paths.province_of(c.commune_code) == "12"
    }
    assert lai_chau == {"03408", "03388"}
