"""The indicator catalogue as data and the engine that computes it from steps (pure)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from services.reporting import domain
from services.reporting.domain import Period
from services.reporting.indicators import catalogue as cat
from services.reporting.indicators import plans
from services.reporting.indicators.engine import Facts, compute
from services.reporting.steps import Step

CATALOGUE = cat.load()
HOAN_KIEM, BA_DINH = "00070", "00004"
_clock = iter(range(10**9))


def step(
    event_type: str,
    on: str | date,
    person: int | None = 1,
    *,
    record: str = "r1",
    commune: str = HOAN_KIEM,
    sex: str = "male",
    age_band: str = "18_to_30",
    **codes: str,
) -> Step:
    tick = next(_clock)
    return Step(
        event_id=f"e{tick:09d}",
        event_type=event_type,
        department=event_type.split(".")[0],
        agency="police",
        occurred_on=date.fromisoformat(on) if isinstance(on, str) else on,
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=tick),
        pseudonym=None if person is None else f"1:{person:032x}",
        commune_code=commune,
        province_code="01",
        sex=sex,
        age_band=age_band,
        record_id=record,
        codes=tuple(codes.items()),
    )


def values(indicator_id: str, steps: list[Step], start: str, end: str, **options) -> dict[str, tuple]:
    result = compute(
        CATALOGUE.get(indicator_id),
        Facts(steps),
        Period(date.fromisoformat(start), date.fromisoformat(end)),
        **options,
    )
    return {v.group: (v.numerator, v.denominator) for v in result.values}


def test_the_shipped_catalogue_covers_every_section_of_the_regulation():
    assert CATALOGUE.version
    refs = {i.ref for i in CATALOGUE.indicators.values()}
    assert refs == {f"§5.{n}" for n in range(1, 10)}
    for indicator in CATALOGUE.indicators.values():
        assert indicator.name_vi != indicator.name_en


# --- management: the same figures as the management report, on random data --------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_management_stock_equals_the_management_report(seed):
    rng = random.Random(seed)
    steps, spells = [], []
    for n in range(120):
        commune = rng.choice([HOAN_KIEM, BA_DINH])
        decided = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
        expires = (
            decided.replace(year=decided.year + 1)
            if (decided.month, decided.day) != (2, 29)
            else date(decided.year + 1, 3, 1)
        )
        ended = decided + timedelta(days=rng.randrange(-5, 420)) if rng.random() < 0.5 else None
        reason = rng.choice(["addicted", "died", "imprisoned"]) if ended else None
        record = f"m{n}"
        steps.append(
            step(
                "registry.management.decided.v1",
                decided,
                n,
                record=record,
                commune=commune,
                expires_on=expires.isoformat(),
            )
        )
        if ended:
            steps.append(
                step("registry.management.ended.v1", ended, n, record=record, commune=commune, reason=reason)
            )
        spells.append(domain.Spell(commune, "01", decided, expires, ended, reason))
    for start, end in [(date(2025, 1, 1), date(2025, 12, 31)), (date(2025, 4, 1), date(2025, 6, 30))]:
        expected = domain.counts_by_commune(spells, Period(start, end))
        for indicator, field in [
            ("managed_at_start", "at_start"),
            ("managed_at_end", "at_end"),
            ("managed_new", "new"),
        ]:
            got = values(indicator, steps, start.isoformat(), end.isoformat(), breakdown="commune")
            want = {
                code: getattr(counts, field)
                for (code, _), counts in expected.items()
                if getattr(counts, field)
            }
            assert {g: n for g, (n, _) in got.items() if g and n} == want, (seed, indicator)
            assert got[""][0] == sum(want.values())


# --- shares, follow-ups, people counted once ---------------------------------------------------------------


def test_completers_placed_within_thirty_days_counts_the_boundary_day():
    steps = [
        step(
            "rehab.admission.discharged.v1",
            "2025-03-01",
            1,
            completed="true",
            kind="compulsory",
            reason="completed",
        ),
        step("aftercare.case.placed.v1", "2025-03-31", 1),  # day 30: in time
        step("health.methadone.ended.v1", "2025-03-01", 2, reason="completed"),
        step("aftercare.case.placed.v1", "2025-04-01", 2),  # day 31: late
        step(
            "rehab.admission.discharged.v1",
            "2025-03-05",
            3,
            completed="false",
            kind="compulsory",
            reason="absconded",
        ),
        step("health.methadone.ended.v1", "2025-02-01", 4, reason="completed", sex="female"),
    ]
    assert values("completers_in_aftercare_share", steps, "2025-01-01", "2025-03-31") == {"": (1, 3)}
    by_sex = values("completers_in_aftercare_share", steps, "2025-01-01", "2025-03-31", breakdown="sex")
    assert by_sex == {"": (1, 3), "female": (0, 1), "male": (1, 2)}
    result = compute(
        CATALOGUE.get("completers_in_aftercare_share"),
        Facts(steps),
        Period(date(2025, 1, 1), date(2025, 3, 31)),
    )
    assert result.total().value == pytest.approx(100 / 3)


def test_reach_of_services_counts_a_person_once_even_in_two_communes():
    steps = [
        step("registry.management.decided.v1", "2025-01-10", 1, record="m1", expires_on="2026-01-10"),
        step("aftercare.case.placed.v1", "2025-02-01", 1, record="c1", commune=BA_DINH, ends_on="2026-02-01"),
        step("aftercare.support.given.v1", "2025-03-01", 1, record="c1", commune=BA_DINH, kind="loan"),
        step("registry.management.decided.v1", "2025-01-10", 2, record="m2", expires_on="2026-01-10"),
        # Person 3's term ended before the period: not in the denominator.
        step("registry.management.decided.v1", "2023-01-10", 3, record="m3", expires_on="2024-01-10"),
        step("health.methadone.enrolled.v1", "2025-03-01", 3, record="ep3"),
    ]
    got = values("reach_services_share", steps, "2025-01-01", "2025-12-31", breakdown="commune")
    assert got == {"": (1, 2), HOAN_KIEM: (1, 2), BA_DINH: (1, 1)}


def test_methadone_active_at_end_and_new_with_the_year_before():
    steps = [
        step("health.methadone.enrolled.v1", "2024-03-01", 1, record="ep1"),
        step("health.methadone.enrolled.v1", "2025-02-01", 2, record="ep2"),
        step("health.methadone.ended.v1", "2025-06-01", 2, record="ep2", reason="dropped_out"),
        step("health.methadone.enrolled.v1", "2025-07-01", 3, record="ep3"),
    ]
    facts = Facts(steps)
    period = Period(date(2025, 1, 1), date(2025, 12, 31))
    active = compute(CATALOGUE.get("methadone_active_at_end"), facts, period, compare_previous_year=True)
    assert (active.total().numerator, active.previous_of("").numerator) == (2, 1)
    assert values("methadone_new", steps, "2025-01-01", "2025-12-31") == {"": (2, None)}
    assert values("methadone_dropout_share", steps, "2025-01-01", "2025-12-31") == {"": (1, 3)}


def test_support_by_kind_counts_events_and_people():
    steps = [
        step("aftercare.support.given.v1", "2025-03-01", 1, kind="loan"),
        step("aftercare.support.given.v1", "2025-04-01", 1, kind="loan"),
        step("aftercare.support.given.v1", "2025-04-01", 1, kind="schooling"),
        step("aftercare.support.given.v1", "2025-04-01", 2, kind="counselling"),
    ]
    assert values("support_events", steps, "2025-01-01", "2025-12-31", breakdown="kind") == {
        "": (4, None),
        "counselling": (1, None),
        "loan": (2, None),
        "schooling": (1, None),
    }
    assert values("support_people", steps, "2025-01-01", "2025-12-31") == {"": (2, None)}
    assert values("support_loans_training_jobs", steps, "2025-01-01", "2025-12-31") == {"": (1, None)}


def test_communes_are_counted_from_acts_without_a_person():
    steps = [
        step("aftercare.model.changed.v1", "2025-02-01", None, record="", status="started"),
        step(
            "aftercare.model.changed.v1", "2025-02-01", None, record="", commune=BA_DINH, status="maintained"
        ),
        step(
            "aftercare.model.changed.v1", "2025-09-01", None, record="", commune=BA_DINH, status="maintained"
        ),
    ]
    assert values("communes_starting_model", steps, "2025-01-01", "2025-12-31") == {"": (1, None)}
    assert values("communes_maintaining_model", steps, "2025-01-01", "2025-12-31") == {"": (1, None)}


def test_an_end_corrected_later_replaces_the_first_one():
    steps = [
        step("registry.management.decided.v1", "2025-01-10", 1, record="m1", expires_on="2026-01-10"),
        step("registry.management.ended.v1", "2025-02-01", 1, record="m1", reason="missing"),
        step("registry.management.ended.v1", "2025-08-01", 1, record="m1", reason="imprisoned"),
    ]
    assert values("managed_at_end", steps, "2025-01-01", "2025-06-30") == {"": (1, None)}


# --- the catalogue refuses what it cannot count ------------------------------------------------------------


def one(**changes) -> dict:
    indicator = {
        "id": "x",
        "name": {"vi": "Chỉ tiêu", "en": "Indicator"},
        "counts": "people",
        "breakdowns": ["sex"],
        "numerator": {"select": [{"event": "aftercare.support.given.v1"}]},
    }
    indicator.update(changes)
    return {"version": "test", "indicator": [indicator]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (one(counts="cases"), "`counts` must be one of people, events, communes"),
        (
            one(numerator={"select": [{"event": "aftercare.support.given.v2"}]}),
            "is not an event type reporting keeps",
        ),
        (
            one(numerator={"select": [{"event": "aftercare.support.given.v1", "where": {"reason": ["x"]}}]}),
            "carries no code 'reason' (it carries kind)",
        ),
        (one(breakdowns=["facility_code"]), "breakdown 'facility_code' is neither"),
        (one(numerator={}), "needs exactly one of `select` or `spell`"),
        (one(numerator={"spell": {"start": [], "at": "end"}}), "`start` is empty"),
        (
            one(numerator={"spell": {"start": ["health.methadone.enrolled.v1"], "at": "middle"}}),
            "`at` must be one of start, end, during",
        ),
        (
            one(
                numerator={
                    "select": [{"event": "aftercare.support.given.v1"}],
                    "followed_by": {"within_days": 0},
                }
            ),
            "`within_days` must be a whole number",
        ),
        ({"indicator": []}, "`version` must be a non-empty string"),
        (
            {"version": "v", "indicator": [one()["indicator"][0], one()["indicator"][0]]},
            "id 'x' is used twice",
        ),
    ],
)
def test_a_wrong_catalogue_is_refused_with_the_place(data, message):
    with pytest.raises(cat.CatalogueError) as refused:
        cat.parse(data, source="mine.toml")
    assert message in str(refused.value)
    assert str(refused.value).startswith("mine.toml")


def test_a_new_indicator_needs_no_code():
    data = one(
        id="schooling_minors",
        breakdowns=["age_band"],
        numerator={"select": [{"event": "aftercare.support.given.v1", "where": {"kind": ["schooling"]}}]},
    )
    catalogue = cat.parse(data)
    steps = [
        step("aftercare.support.given.v1", "2025-03-01", 1, age_band="14_to_16", kind="schooling"),
        step("aftercare.support.given.v1", "2025-03-01", 2, kind="loan"),
    ]
    result = compute(
        catalogue.get("schooling_minors"),
        Facts(steps),
        Period(date(2025, 1, 1), date(2025, 12, 31)),
        breakdown="age_band",
    )
    assert [(v.group, v.numerator) for v in result.values] == [("", 1), ("14_to_16", 1)]


# --- plans -------------------------------------------------------------------------------------------------


def plan_data(**changes) -> dict:
    data = {
        "id": "mine",
        "title": {"vi": "Kế hoạch", "en": "Plan"},
        "source": "Kế hoạch số 1/KH-UBND",
        "province": "01",
        "period": {"start": date(2025, 1, 1), "end": date(2025, 12, 31)},
        "target": [
            {
                "id": "dossiers",
                "indicator": "compulsory_dossiers_opened",
                "value": 120,
                "prorate": True,
                "label": {"vi": "120 hồ sơ", "en": "120 dossiers"},
            }
        ],
    }
    data.update(changes)
    return data


def test_the_four_plans_of_the_brief_load_and_map_to_the_catalogue():
    loaded = plans.load_all(CATALOGUE)
    assert set(loaded) == {"ha-noi-43-2023", "ha-noi-110-2023", "ha-dong-2021-2025", "lai-chau-city-2022"}
    ha_noi_110 = loaded["ha-noi-110-2023"]
    assert {t.indicator_id: t.value for t in ha_noi_110.targets}["methadone_active_at_end"] == 5300
    assert loaded["lai-chau-city-2022"].province_code == "12"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"province": "99"}, "province '99' is not a province code"),
        ({"communes": ["26743"]}, "commune 26743 (Phường Bến Thành) is not in province 01"),
        ({"communes": ["123"]}, "commune '123'"),
        (
            {"period": {"start": "2025-12-31", "end": "2025-01-01"}},
            "period ends (2025-01-01) before it starts",
        ),
        (
            {"period": {"start": "2025-02-30", "end": "2025-12-31"}},
            "period.start: '2025-02-30' is not a date",
        ),
        (
            {"target": [{"id": "t", "indicator": "happiness", "value": 1, "label": {"vi": "a", "en": "b"}}]},
            "indicator 'happiness' is not in the catalogue",
        ),
        (
            {
                "target": [
                    {
                        "id": "t",
                        "indicator": "reach_services_share",
                        "value": 180,
                        "label": {"vi": "a", "en": "b"},
                    }
                ]
            },
            "is a share in %; 180 is more than 100",
        ),
        ({"target": []}, "no [[target]] tables"),
    ],
)
def test_a_wrong_plan_is_refused_with_the_file_and_place(changes, message):
    with pytest.raises(plans.PlanError) as refused:
        plans.parse(plan_data(**changes), CATALOGUE, source="my-plan.toml")
    assert str(refused.value).startswith("my-plan.toml")
    assert message in str(refused.value)


def test_a_plan_file_with_broken_toml_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('id = "x"\nperiod = {', encoding="utf-8")
    with pytest.raises(plans.PlanError, match=r"bad\.toml: not valid TOML"):
        plans.load_file(path, CATALOGUE)


def test_pro_rated_progress_compares_with_the_share_of_the_year_elapsed():
    plan = plans.parse(plan_data(), CATALOGUE)
    target = plan.targets[0]
    mid_year = date(2025, 7, 2)  # 183 of 365 days: 50.1 %

    def status(actual):
        return plans.progress(
            target, kind="count", counts="events", actual=actual, previous=None, plan=plan, as_of=mid_year
        )

    on_track = status(61)
    assert on_track.status == "on_track" and on_track.expected_share == pytest.approx(100 * 183 / 365)
    assert on_track.share_reached == pytest.approx(100 * 61 / 120)
    assert status(59).status == "behind"
    assert status(120).status == "met"
    assert plans.measured_period(plan, date(2024, 12, 31)) is None
    assert plans.measured_period(plan, mid_year) == Period(date(2025, 1, 1), mid_year)


def test_below_previous_year_and_shares_are_not_pro_rated():
    plan = plans.parse(plan_data(), CATALOGUE)
    lower = plans.Target("d", "methadone_dropout_share", "below_previous_year", 0, "a", "b", False)
    result = plans.progress(
        lower, kind="share", counts="people", actual=8.0, previous=10.0, plan=plan, as_of=date(2025, 6, 1)
    )
    assert (result.status, result.measure, result.expected_share) == ("met", "percent", None)
    share = plans.Target("r", "reach_services_share", "at_least", 80, "a", "b", False)
    assert (
        plans.progress(
            share,
            kind="share",
            counts="people",
            actual=79.9,
            previous=None,
            plan=plan,
            as_of=date(2025, 6, 1),
        ).status
        == "behind"
    )


def test_differences_name_changed_appeared_and_vanished_figures():
    from services.reporting.signoff import SignedValue, differences

    signed = [
        SignedValue("a", "", 2, None, 2.0),
        SignedValue("b", "", 1, 2, 50.0),
        SignedValue("c", "", 0, 0, None),
    ]
    current = [
        SignedValue("a", "", 2, None, 2.0),
        SignedValue("b", "", 1, 4, 25.0),
        SignedValue("d", "", 1, None, 1.0),
    ]
    assert [(d.indicator_id, d.signed, d.current) for d in differences(signed, current)] == [
        ("b", 50.0, 25.0),
        ("d", None, 1.0),
    ]


# --- every indicator of the catalogue on one hand-computed year ----------------------------------------------


def year_2025() -> list[Step]:
    """Seven people in Hoàn Kiếm (HK) and Ba Đình (BD), 2023-2026; see the expected values for the sums."""
    s = step
    p1 = {"sex": "male", "age_band": "18_to_30"}
    p2 = {"sex": "female", "age_band": "30_and_over"}
    return [
        # P1, HK: detected, managed within 15 days, used again, addicted, dossier, compulsory rehab, aftercare.
        s(
            "registry.drug_test.positive_recorded.v1",
            "2025-01-05",
            1,
            record="t1",
            substance="heroin",
            during_management="false",
            **p1,
        ),
        # The end is recorded before the decision it ends (late delivery): it still belongs to m1.
        s("registry.management.ended.v1", "2025-03-12", 1, record="m1", reason="missing", **p1),
        s("registry.management.decided.v1", "2025-01-20", 1, record="m1", expires_on="2026-01-20", **p1),
        s(
            "registry.drug_test.positive_recorded.v1",
            "2025-03-01",
            1,
            record="t2",
            substance="heroin",
            during_management="true",
            **p1,
        ),
        s("health.determination.concluded.v1", "2025-03-10", 1, record="d1", result="addicted", **p1),
        # A corrected end, recorded later, replaces the first one.
        s("registry.management.ended.v1", "2025-03-10", 1, record="m1", reason="addicted", **p1),
        s("registry.compulsory_dossier.opened.v1", "2025-04-01", 1, record="cd1", status="opened", **p1),
        s(
            "registry.compulsory_dossier.submitted.v1",
            "2025-04-05",
            1,
            record="cd1",
            status="submitted",
            **p1,
        ),
        s("registry.compulsory_dossier.decided.v1", "2025-05-01", 1, record="cd1", status="granted", **p1),
        s(
            "rehab.admission.admitted.v1",
            "2025-05-10",
            1,
            record="a1",
            kind="compulsory",
            facility_private="false",
            **p1,
        ),
        s("rehab.training.given.v1", "2025-08-01", 1, record="a1", trade="welding", **p1),
        s(
            "rehab.admission.discharged.v1",
            "2025-11-10",
            1,
            record="a1",
            kind="compulsory",
            reason="completed",
            completed="true",
            **p1,
        ),
        s("aftercare.case.placed.v1", "2025-11-20", 1, record="c1", ends_on="2027-11-20", **p1),
        s("aftercare.support.given.v1", "2025-12-01", 1, record="c1", kind="loan", **p1),
        # P2: managed in HK until the term ran out; moved to BD, where methadone ended and aftercare ran.
        s("registry.management.decided.v1", "2024-06-01", 2, record="m2", expires_on="2025-06-01", **p2),
        s("health.methadone.enrolled.v1", "2024-09-01", 2, record="ep2", **p2),
        s(
            "health.methadone.ended.v1",
            "2025-02-01",
            2,
            record="ep2",
            commune=BA_DINH,
            reason="completed",
            **p2,
        ),
        s(
            "aftercare.case.placed.v1",
            "2025-04-15",
            2,
            record="c2",
            commune=BA_DINH,
            ends_on="2026-04-15",
            **p2,
        ),
        s(
            "aftercare.support.given.v1",
            "2025-05-01",
            2,
            record="c2",
            commune=BA_DINH,
            kind="counselling",
            **p2,
        ),
        s(
            "aftercare.relapse.confirmed.v1",
            "2025-09-01",
            2,
            record="c2",
            commune=BA_DINH,
            adult="true",
            **p2,
        ),
        # P3, BD, a minor: detected, managed 150 days later, voluntary rehab at the family (ends in 2026).
        s(
            "registry.drug_test.positive_recorded.v1",
            "2025-02-01",
            3,
            record="t3",
            commune=BA_DINH,
            age_band="16_to_18",
            substance="cannabis",
            during_management="false",
        ),
        s(
            "registry.management.decided.v1",
            "2025-07-01",
            3,
            record="m3",
            commune=BA_DINH,
            age_band="16_to_18",
            expires_on="2026-07-01",
        ),
        s(
            "rehab.admission.admitted.v1",
            "2025-07-10",
            3,
            record="a3",
            commune=BA_DINH,
            age_band="16_to_18",
            kind="voluntary_family",
            facility_private="false",
        ),
        s(
            "rehab.admission.discharged.v1",
            "2026-01-10",
            3,
            record="a3",
            commune=BA_DINH,
            age_band="16_to_18",
            kind="voluntary_family",
            reason="completed",
            completed="true",
        ),
        # P4, BD: voluntary at a private facility, left; then methadone, dropped out.
        s(
            "rehab.admission.admitted.v1",
            "2025-02-01",
            4,
            record="a4",
            commune=BA_DINH,
            sex="female",
            kind="voluntary_facility",
            facility_private="true",
        ),
        s(
            "rehab.admission.discharged.v1",
            "2025-05-01",
            4,
            record="a4",
            commune=BA_DINH,
            sex="female",
            kind="voluntary_facility",
            reason="self_terminated",
            completed="false",
        ),
        s("health.methadone.enrolled.v1", "2025-06-01", 4, record="ep4", commune=BA_DINH, sex="female"),
        s(
            "health.methadone.ended.v1",
            "2025-10-01",
            4,
            record="ep4",
            commune=BA_DINH,
            sex="female",
            reason="dropped_out",
        ),
        # P5, HK: on methadone since 2023, terminated for violation in 2025.
        s("health.methadone.enrolled.v1", "2023-05-01", 5, record="ep5", age_band="30_and_over"),
        s(
            "health.methadone.ended.v1",
            "2025-08-01",
            5,
            record="ep5",
            age_band="30_and_over",
            reason="terminated_violation",
        ),
        # P6, HK: on methadone from March, still at the end of the year.
        s("health.methadone.enrolled.v1", "2025-03-01", 6, record="ep6", age_band="30_and_over"),
        # P7, HK: managed from September, no service reached.
        s("registry.management.decided.v1", "2025-09-01", 7, record="m7", expires_on="2026-09-01"),
        # Communes: HK starts a model; BD maintains its model (said twice, one commune).
        s("aftercare.model.changed.v1", "2025-02-01", None, record="", status="started"),
        s("aftercare.model.changed.v1", "2025-03-01", None, record="", commune=BA_DINH, status="maintained"),
        s("aftercare.model.changed.v1", "2025-09-01", None, record="", commune=BA_DINH, status="maintained"),
    ]


# indicator → (numerator, denominator or None) for 2025, whole unit; worked out by hand from year_2025().
EXPECTED_2025 = {
    "managed_at_start": (1, None),  # P2
    "managed_at_end": (2, None),  # P3, P7 (P1 ended, P2 expired)
    "managed_new": (3, None),  # P1, P3, P7
    "detected_users": (2, None),  # P1 (two tests), P3
    "detected_managed_share": (1, 2),  # P1 within 15 days; P3 after 150
    "reach_services_share": (3, 4),  # P1, P2, P3 of P1, P2, P3, P7
    "completers": (2, None),  # P1 rehab, P2 methadone
    "completers_in_aftercare_share": (1, 2),  # P1 after 10 days; P2 after 73
    "aftercare_relapse_share": (1, 2),  # P2 of P1, P2
    "aftercare_relapse_12m_cohort": (1, 2),  # P2 relapsed 139 days after placement
    "compulsory_dossiers_opened": (1, None),
    "compulsory_dossiers_submitted": (1, None),
    "compulsory_decisions_granted": (1, None),
    "compulsory_admitted": (1, None),
    "voluntary_admitted": (2, None),  # P3 family, P4 facility
    "voluntary_facility_admitted": (1, None),
    "private_facility_admitted": (1, None),
    "voluntary_completed": (0, None),  # P3 completes in 2026
    "voluntary_completion_share": (0, 1),  # P4 left
    "methadone_active_at_end": (1, None),  # P6
    "methadone_new": (2, None),  # P4, P6
    "methadone_dropouts": (1, None),  # P4
    "methadone_terminations": (1, None),  # P5
    "methadone_dropout_share": (1, 4),  # P4 of P2, P4, P5, P6
    "support_people": (2, None),
    "support_events": (2, None),
    "support_loans_training_jobs": (1, None),  # P1's loan; counselling is not one
    "trained_in_facilities": (1, None),
    "communes_maintaining_model": (1, None),
    "communes_starting_model": (1, None),
    "communes_with_voluntary_rehab": (1, None),  # BD
}


def test_every_indicator_on_a_hand_computed_year():
    assert set(EXPECTED_2025) == set(CATALOGUE.indicators), (
        "a new indicator needs its hand-computed value here"
    )
    facts, period = Facts(year_2025()), Period(date(2025, 1, 1), date(2025, 12, 31))
    got = {}
    for indicator_id, indicator in CATALOGUE.indicators.items():
        total = compute(indicator, facts, period).total()
        got[indicator_id] = (total.numerator, total.denominator)
    assert got == EXPECTED_2025


def test_a_person_who_moved_counts_in_each_commune_and_once_in_the_total():
    facts, period = Facts(year_2025()), Period(date(2025, 1, 1), date(2025, 12, 31))
    reach = compute(CATALOGUE.get("reach_services_share"), facts, period, breakdown="commune")
    # P2's management counts in HK where it was decided, her aftercare in BD where she lived by then.
    assert {v.group: (v.numerator, v.denominator) for v in reach.values} == {
        "": (3, 4),
        HOAN_KIEM: (2, 3),  # P1, P2 reached; of P1, P2, P7
        BA_DINH: (2, 2),  # P2, P3
    }
    placed = compute(CATALOGUE.get("completers_in_aftercare_share"), facts, period, breakdown="commune")
    assert {v.group: (v.numerator, v.denominator) for v in placed.values} == {
        "": (1, 2),
        BA_DINH: (0, 1),
        HOAN_KIEM: (1, 1),
    }
    by_kind = compute(CATALOGUE.get("voluntary_admitted"), facts, period, breakdown="kind")
    assert [(v.group, v.numerator) for v in by_kind.values] == [
        ("", 2),
        ("voluntary_facility", 1),
        ("voluntary_family", 1),
    ]
    previous = compute(CATALOGUE.get("managed_at_end"), facts, period, compare_previous_year=True)
    assert previous.previous_of("").numerator == 1  # P2 on 2024-12-31


def test_every_code_value_the_catalogue_filters_on_is_one_a_department_emits():
    """A misspelt value ("dropout" for "dropped_out") would silently count zero: check against the
    departments' own closed lists."""
    from services.aftercare.domain import cases
    from services.health.domain import determination, methadone
    from services.registry import dossier_rules
    from services.rehab.domain import terms

    def values(enum) -> set[str]:
        return {member.value for member in enum}

    emitted = {
        ("health.methadone.ended.v1", "reason"): values(methadone.EndReason),
        ("health.determination.concluded.v1", "result"): {r.value for r in determination.Result},
        ("rehab.admission.admitted.v1", "kind"): values(terms.Kind),
        ("rehab.admission.admitted.v1", "facility_private"): {"true", "false"},
        ("rehab.admission.discharged.v1", "kind"): values(terms.Kind),
        ("rehab.admission.discharged.v1", "completed"): {"true", "false"},
        ("rehab.admission.discharged.v1", "reason"): values(terms.DischargeReason),
        ("registry.drug_test.positive_recorded.v1", "during_management"): {"true", "false"},
        ("registry.compulsory_dossier.decided.v1", "status"): values(dossier_rules.Status),
        ("aftercare.support.given.v1", "kind"): set(cases.SUPPORT_KINDS),
        ("aftercare.model.changed.v1", "status"): {"started", "maintained", "stopped"},
    }
    used = set()
    for indicator in CATALOGUE.indicators.values():
        for measure in indicator.measures():
            selectors = [*measure.select, *measure.with_step]
            if measure.followed_by:
                selectors += measure.followed_by.select
            for selector in selectors:
                for code, wanted in selector.where:
                    known = emitted.get((selector.event, code))
                    assert known is not None, (
                        f"{indicator.indicator_id}: add {selector.event} {code} to this test"
                    )
                    assert wanted <= known, (
                        f"{indicator.indicator_id}: {sorted(wanted - known)} never emitted"
                    )
                    used.add((selector.event, code))
    assert used
