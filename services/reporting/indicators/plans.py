"""Plans as data: a plan file (TOML) names its unit, its period and its targets, each mapped to an
indicator of the catalogue. Loading refuses, with the file and the place, any unknown indicator, unit or
period; progress against a plan is pure arithmetic on the actual figures.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from lienthong import units
from lienthong.errors import InvalidInput
from services.reporting.domain import Period
from services.reporting.indicators.catalogue import Catalogue, CatalogueError, check_date

SHIPPED = Path(__file__).with_name("plans")
COMPARISONS = ("at_least", "at_most", "below_previous_year")


class PlanError(CatalogueError):
    pass


@dataclass(frozen=True)
class Target:
    target_id: str
    indicator_id: str
    comparison: str
    value: float
    label_vi: str
    label_en: str
    # Flows counted over the year (dossiers, admissions) are expected to build up through it; stocks
    # (people on methadone at year end) and shares are not pro-rated.
    prorate: bool


@dataclass(frozen=True)
class Plan:
    plan_id: str
    title_vi: str
    title_en: str
    source: str
    province_code: str
    commune_codes: tuple[str, ...]
    period: Period
    targets: tuple[Target, ...]
    path: str = ""


@dataclass(frozen=True)
class Progress:
    target: Target
    measure: str  # count, percent or communes
    actual: float | None
    previous: float | None = None
    expected_share: float | None = None  # % of the period elapsed, for pro-rated targets
    share_reached: float | None = None
    status: str = "no_data"  # met, on_track, behind, no_data


def load_file(path: Path, catalogue: Catalogue) -> Plan:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path.name}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise PlanError(f"{path.name}: not UTF-8 text") from None
    return parse(data, catalogue, source=path.name)


def load_all(catalogue: Catalogue, extra_dirs: tuple[Path, ...] = ()) -> dict[str, Plan]:
    plans: dict[str, Plan] = {}
    for folder in (SHIPPED, *extra_dirs):
        if not folder.is_dir():
            raise PlanError(f"plan folder {folder} does not exist")
        for path in sorted(folder.glob("*.toml")):
            plan = load_file(path, catalogue)
            if plan.plan_id in plans:
                raise PlanError(
                    f"{path.name}: plan id {plan.plan_id!r} is also used by {plans[plan.plan_id].path}"
                )
            plans[plan.plan_id] = plan
    return plans


def _text(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PlanError(f"{where}: `{key}` must be a non-empty string")
    return value


def _date(value: Any, where: str) -> date:
    try:
        return check_date(value, where)
    except CatalogueError as exc:
        raise PlanError(str(exc)) from None


def parse(data: dict[str, Any], catalogue: Catalogue, *, source: str = "plan") -> Plan:
    plan_id = _text(data, "id", source)
    title = data.get("title")
    if not isinstance(title, dict):
        raise PlanError(f"{source}: `title` must have `vi` and `en`")
    province = _text(data, "province", source)
    try:
        units.province_name(province)
    except InvalidInput:
        raise PlanError(
            f"{source}: province {province!r} is not a province code of the official list"
        ) from None
    communes = data.get("communes", [])
    if not isinstance(communes, list):
        raise PlanError(f"{source}: `communes` must be a list of commune codes")
    for code in communes:
        try:
            commune = units.commune(str(code), field="communes")
        except InvalidInput as exc:
            raise PlanError(f"{source}: commune {code!r}: {exc.en}") from None
        if commune.province_code != province:
            raise PlanError(f"{source}: commune {code} ({commune.name}) is not in province {province}")
    period_data = data.get("period")
    if not isinstance(period_data, dict):
        raise PlanError(f"{source}: `period` must be {{ start = YYYY-MM-DD, end = YYYY-MM-DD }}")
    start = _date(period_data.get("start"), f"{source}: period.start")
    end = _date(period_data.get("end"), f"{source}: period.end")
    if end < start:
        raise PlanError(f"{source}: period ends ({end}) before it starts ({start})")
    targets = data.get("target", [])
    if not isinstance(targets, list) or not targets:
        raise PlanError(f"{source}: no [[target]] tables")
    checked: list[Target] = []
    for index, item in enumerate(targets):
        target = _target(item, catalogue, f"{source}: target[{index}]")
        if any(t.target_id == target.target_id for t in checked):
            raise PlanError(f"{source}: target id {target.target_id!r} is used twice")
        checked.append(target)
    return Plan(
        plan_id=plan_id,
        title_vi=_text(title, "vi", f"{source}: title"),
        title_en=_text(title, "en", f"{source}: title"),
        source=_text(data, "source", source),
        province_code=province,
        commune_codes=tuple(str(c) for c in communes),
        period=Period(start, end),
        targets=tuple(checked),
        path=source,
    )


def _target(item: Any, catalogue: Catalogue, where: str) -> Target:
    if not isinstance(item, dict):
        raise PlanError(f"{where}: must be a table")
    target_id = _text(item, "id", where)
    where = f"{where} {target_id!r}"
    indicator_id = _text(item, "indicator", where)
    if indicator_id not in catalogue.indicators:
        raise PlanError(
            f"{where}: indicator {indicator_id!r} is not in the catalogue (version {catalogue.version})"
        )
    indicator = catalogue.indicators[indicator_id]
    comparison = item.get("comparison", "at_least")
    if comparison not in COMPARISONS:
        raise PlanError(f"{where}: comparison must be one of {', '.join(COMPARISONS)}, not {comparison!r}")
    value = item.get("value", 0 if comparison == "below_previous_year" else None)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PlanError(f"{where}: `value` must be a number ≥ 0")
    if indicator.kind == "share" and value > 100:
        raise PlanError(f"{where}: {indicator_id} is a share in %; {value} is more than 100")
    label = item.get("label")
    if not isinstance(label, dict):
        raise PlanError(f"{where}: `label` must have `vi` and `en`")
    prorate = item.get("prorate", False)
    if not isinstance(prorate, bool):
        raise PlanError(f"{where}: `prorate` must be true or false")
    if prorate and indicator.kind == "share":
        raise PlanError(f"{where}: a share ({indicator_id}) cannot be pro-rated")
    return Target(
        target_id=target_id,
        indicator_id=indicator_id,
        comparison=comparison,
        value=float(value),
        label_vi=_text(label, "vi", f"{where}: label"),
        label_en=_text(label, "en", f"{where}: label"),
        prorate=prorate,
    )


def measured_period(plan: Plan, as_of: date) -> Period | None:
    """The part of the plan's period that has happened by ``as_of``; None before it starts."""
    if as_of < plan.period.start:
        return None
    return Period(plan.period.start, min(as_of, plan.period.end))


def elapsed_share(period: Period, as_of: date) -> float:
    days = (period.end - period.start).days + 1
    done = (min(as_of, period.end) - period.start).days + 1
    return max(0.0, min(100.0, 100.0 * done / days))


def progress(
    target: Target,
    *,
    kind: str,
    counts: str,
    actual: float | None,
    previous: float | None,
    plan: Plan,
    as_of: date,
) -> Progress:
    measure = "percent" if kind == "share" else ("communes" if counts == "communes" else "count")
    if actual is None:
        return Progress(target, measure, None, previous)
    if target.comparison == "below_previous_year":
        if previous is None:
            return Progress(target, measure, actual, None)
        return Progress(target, measure, actual, previous, status="met" if actual < previous else "behind")
    reached = 100.0 * actual / target.value if target.value else None
    expected = elapsed_share(plan.period, as_of) if target.prorate else None
    if target.comparison == "at_most":
        status = "met" if actual <= target.value else "behind"
    elif actual >= target.value:
        status = "met"
    elif expected is not None and reached is not None and reached >= expected:
        status = "on_track"
    else:
        status = "behind"
    return Progress(target, measure, actual, previous, expected, reached, status)
