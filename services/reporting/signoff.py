"""Sign-off: a unit's report for a period, approved and frozen as a snapshot. Pure.

Events that arrive after the sign-off never change the snapshot; they show as differences between the
signed figures and the figures computed now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.reporting.domain import Period
from services.reporting.indicators import engine


@dataclass(frozen=True)
class SignedValue:
    indicator_id: str
    group: str
    numerator: int
    denominator: int | None
    value: float | None


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    period: Period
    province_code: str
    commune_code: str  # "" for the whole province
    signed_by: str
    signed_at: datetime
    catalogue_version: str
    values: tuple[SignedValue, ...]


@dataclass(frozen=True)
class Difference:
    indicator_id: str
    group: str
    signed: float | None
    current: float | None


def values_of(results: Sequence[engine.Result]) -> tuple[SignedValue, ...]:
    return tuple(
        SignedValue(r.indicator_id, v.group, v.numerator, v.denominator, v.value)
        for r in results
        for v in r.values
    )


def differences(signed: Sequence[SignedValue], current: Sequence[SignedValue]) -> list[Difference]:
    """Every figure that is not what was signed, including figures that appeared or vanished since."""
    before = {(v.indicator_id, v.group): v.value for v in signed}
    now = {(v.indicator_id, v.group): v.value for v in current}
    keys = list(before) + [k for k in now if k not in before]
    return [
        Difference(i, g, before.get((i, g)), now.get((i, g)))
        for i, g in keys
        if before.get((i, g)) != now.get((i, g))
    ]
