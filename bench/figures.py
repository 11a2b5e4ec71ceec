"""What a run measured: figures with their rounds, the baseline each is divided by, and its goal."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Goal:
    """``ratio_at_least``: median ÷ baseline median ≥ value; ``at_most``: median ≤ value (in the unit)."""

    kind: str
    value: float
    text: str

    def met(self, figure: Figure, ratio: float | None) -> bool | None:
        if not figure.samples:
            return None
        if self.kind == "ratio_at_least":
            return None if ratio is None else ratio >= self.value
        return figure.value <= self.value


@dataclass
class Figure:
    key: str
    label: str
    unit: str
    kind: str  # "baseline", "project" or "info"
    baseline: str | None = None  # key of the figure it is divided by
    goal: Goal | None = None
    samples: list[float] = field(default_factory=list)
    note: str = ""
    stat: str = "median"  # or "p95", "p99": a percentile of the samples (one per call)
    higher_is_better: bool = True

    @property
    def value(self) -> float:
        if not self.samples:
            return float("nan")
        if self.stat == "median":
            return statistics.median(self.samples)
        return percentile(self.samples, float(self.stat.removeprefix("p")))

    @property
    def low(self) -> float:
        return min(self.samples) if self.samples else float("nan")

    @property
    def high(self) -> float:
        return max(self.samples) if self.samples else float("nan")


@dataclass
class Run:
    mode: str
    figures: dict[str, Figure] = field(default_factory=dict)
    machine: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    artefacts: dict[str, str] = field(default_factory=dict)
    scale_curve: list[dict] = field(default_factory=list)
    rebuild_curve: list[dict] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures[figure.key] = figure
        return figure

    def record(self, key: str, value: float) -> None:
        self.figures[key].samples.append(float(value))

    def ratio(self, figure: Figure) -> float | None:
        base = self.figures.get(figure.baseline or "")
        if base is None or not base.samples or not figure.samples or not base.value:
            return None
        return figure.value / base.value

    def rows(self) -> list[dict]:
        rows = []
        for f in self.figures.values():
            ratio = self.ratio(f)
            met = f.goal.met(f, ratio) if f.goal else None
            rows.append(
                {
                    "key": f.key,
                    "label": f.label,
                    "kind": f.kind,
                    "unit": f.unit,
                    "stat": f.stat,
                    "value": f.value if f.samples else None,
                    "min": f.low if f.samples else None,
                    "max": f.high if f.samples else None,
                    "rounds": len(f.samples),
                    "samples": f.samples if len(f.samples) <= 50 else None,
                    "baseline": f.baseline,
                    "ratio": ratio,
                    "goal": f.goal.text if f.goal else None,
                    "goal_kind": f.goal.kind if f.goal else None,
                    "goal_value": f.goal.value if f.goal else None,
                    "met": met,
                    "note": f.note,
                }
            )
        return rows
