"""How big and how long each figure runs, per mode."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Sizes:
    mode: str
    rounds: int
    publish_events: int  # raw async publish, per round
    relay_backlog: int  # outbox rows the relay drains, per round
    replay_people: int  # people of the national generator whose events are replayed (≈ 19.5 each)
    seconds: float  # closed-loop duration of the commit, gRPC, command and read figures, per round
    latency_rate: float  # commands per second for command → visible
    latency_seconds: float
    national_scale: float  # share of the 250,000 people written to the steps table
    report_repeats: int
    memory_repeats: int
    scale_curve: tuple[float, ...] = ()  # national scales also measured for the report scale curve
    rebuild_curve: tuple[float, ...] = ()  # national scales replayed for the rebuild scale curve
    people_pool: int = 0  # synthetic people registered through gRPC (enough for every round)

    def as_dict(self) -> dict:
        return asdict(self)


QUICK = Sizes(
    mode="quick",
    rounds=3,
    publish_events=2_000,
    relay_backlog=2_000,
    replay_people=300,  # ≈ 6,000 events
    seconds=1.0,
    latency_rate=200.0,
    latency_seconds=3.0,
    national_scale=0.1,
    report_repeats=3,
    memory_repeats=1,
    people_pool=10_000,
)

FULL = Sizes(
    mode="full",
    rounds=3,
    publish_events=20_000,
    relay_backlog=100_000,
    replay_people=5_000,  # ≈ 100,000 events
    seconds=10.0,
    latency_rate=200.0,
    latency_seconds=60.0,
    national_scale=1.0,
    report_repeats=3,
    memory_repeats=1,
    scale_curve=(0.1, 0.3),
    rebuild_curve=(0.1, 0.3),
    people_pool=80_000,
)

# The plumbing only: every figure, tiny, for the test suite.
SMOKE = Sizes(
    mode="smoke",
    rounds=1,
    publish_events=200,
    relay_backlog=200,
    replay_people=15,
    seconds=0.3,
    latency_rate=20.0,
    latency_seconds=1.0,
    national_scale=0.001,
    rebuild_curve=(0.0002,),
    report_repeats=2,
    memory_repeats=1,
    people_pool=2_000,
)


def pick(
    mode: str,
    *,
    rounds: int | None = None,
    scale: float | None = None,
    rebuild_curve: tuple[float, ...] | None = None,
) -> Sizes:
    sizes = {"quick": QUICK, "full": FULL, "smoke": SMOKE}[mode]
    if rebuild_curve is not None:
        sizes = replace(sizes, rebuild_curve=rebuild_curve)
    if rounds:
        sizes = replace(sizes, rounds=rounds)
    if scale:
        sizes = replace(sizes, national_scale=scale)
    return sizes
