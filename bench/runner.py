"""One benchmark run: servers, raw anchors and project figures interleaved round by round, then the
national-scale figures; every process it starts is stopped by its own handle at the end."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import nats

from bench import national, project, raw, reports, wire
from bench.figures import Figure, Goal, Run
from bench.modes import Sizes
from bench.processes import memory_kib, start_service
from lienthong import bus
from lienthong.natsserver import NatsServer, find_binary

Say = Callable[[str], None]
PUB_STREAM, PUB_SUBJECT = "BENCH_PUB", "benchpub.event"


def define(run: Run, *, postgres: bool) -> None:
    b, p, i = "baseline", "project", "info"
    add = run.add
    add(
        Figure(
            "raw_js_publish",
            "JetStream async publish + PubAck, Nats-Msg-Id (nats-py, ≤ 4000 in flight; sync_interval always)",
            "msgs/s",
            b,
        )
    )
    add(
        Figure(
            "raw_js_pull",
            "JetStream pull fetch(500) + ack each (nats-py), the rebuild's events and server",
            "msgs/s",
            b,
        )
    )
    add(
        Figure(
            "raw_sqlite_commit",
            "SQLite one-row transactions (WAL, synchronous=FULL; SQLAlchemy async + aiosqlite, the services' engine)",
            "commits/s",
            b,
        )
    )
    add(
        Figure(
            "raw_sqlite_commit_stdlib",
            "same with stdlib sqlite3 (no event loop, no thread hop), for reference",
            "commits/s",
            i,
        )
    )
    if postgres:
        add(
            Figure(
                "raw_pg_commit",
                "PostgreSQL one-row transactions (SQLAlchemy async + asyncpg)",
                "commits/s",
                b,
            )
        )
    add(
        Figure(
            "raw_grpc_c50",
            "grpc.aio unary round trips, 50 in flight, loopback, separate server process",
            "calls/s",
            b,
        )
    )
    add(
        Figure(
            "rebuild",
            "(1) reporting rebuild: replay of the four streams into a fresh read model (reporting process)",
            "events/s",
            p,
            "raw_js_pull",
            Goal("ratio_at_least", 0.5, "≥ 50 % of raw pull-consume"),
        )
    )
    add(
        Figure(
            "relay",
            "(2) outbox relay draining a backlog (lienthong.outbox.OutboxRelay; sync_interval always)",
            "events/s",
            p,
            "raw_js_publish",
            Goal("ratio_at_least", 0.5, "≥ 50 % of raw async publish"),
        )
    )
    add(
        Figure(
            "commands",
            "(3) registry RegisterPerson over gRPC, 50 in flight (registry process; relay running)",
            "commands/s",
            p,
            "raw_sqlite_commit",
            Goal("ratio_at_least", 0.8, "≥ 80 % of raw one-row commits"),
        )
    )
    add(
        Figure(
            "commands_c1",
            "registry RegisterPerson over gRPC, 1 in flight (to tell write contention from per-command cost)",
            "commands/s",
            i,
            "raw_sqlite_commit",
        )
    )
    add(
        Figure(
            "reads",
            "(4) registry GetPerson with officer/purpose (audit row written), 50 in flight",
            "reads/s",
            p,
            "raw_grpc_c50",
            Goal("ratio_at_least", 0.25, "≥ 25 % of raw unary round trips"),
        )
    )
    add(
        Figure(
            "visible_p99",
            "(5) command → visible in reporting's read model, p99",
            "ms",
            p,
            goal=Goal("at_most", 250, "p99 < 250 ms"),
            stat="p99",
            higher_is_better=False,
        )
    )
    add(
        Figure(
            "report_province_year",
            "(6) province-year report, every indicator × every breakdown (Hà Nội, 2025), p95",
            "ms",
            p,
            goal=Goal("at_most", 100, "p95 < 100 ms"),
            stat="p95",
            higher_is_better=False,
        )
    )
    add(
        Figure(
            "report_communes",
            "(6) all communes of the province, one indicator, one year, p95",
            "ms",
            p,
            goal=Goal("at_most", 300, "p95 < 300 ms"),
            stat="p95",
            higher_is_better=False,
        )
    )
    add(
        Figure(
            "reporting_rss",
            "(7) reporting process peak resident memory serving the national read model",
            "MB",
            p,
            goal=Goal("at_most", 200, "< 200 MB"),
            higher_is_better=False,
        )
    )
    add(
        Figure(
            "registry_rss",
            "(7) registry process peak resident memory after the command and read rounds",
            "MB",
            p,
            goal=Goal("at_most", 200, "< 200 MB"),
            higher_is_better=False,
        )
    )
    add(
        Figure(
            "rebuild_rss",
            "reporting process peak resident memory during a rebuild round",
            "MB",
            i,
            higher_is_better=False,
        )
    )
    add(
        Figure(
            "report_grpc",
            "province-year report with all breakdowns + communes report through reporting's gRPC API",
            "ms",
            i,
            higher_is_better=False,
        )
    )


def machine() -> dict:
    cpu = ""
    mhz = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("cpu MHz") and not mhz:
                mhz = line.split(":", 1)[1].strip()
    memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    versions = {}
    for name in ("nats-py", "faststream", "sqlalchemy", "aiosqlite", "asyncpg", "grpcio", "protobuf"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    import subprocess

    nats_version = subprocess.run([find_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    import os

    return {
        "cpu": cpu,
        "cpu_mhz": mhz,
        "cpus": os.cpu_count(),
        "memory": memory,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "nats_server": nats_version,
        "packages": versions,
        "load_average_start": os.getloadavg(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def _declare(url: str, specs: list[bus.StreamSpec]) -> None:
    nc = await nats.connect(url)
    try:
        for spec in specs:
            await bus.declare_stream(nc.jetstream(), spec)
    finally:
        await nc.close()


async def _fill(url: str, events: Iterable[wire.WireEvent]) -> dict[str, int]:
    """Publish ``events`` (streamed: a national replay does not fit in a list) and wait for every ack."""
    nc = await nats.connect(url)
    counts: dict[str, int] = {}
    try:
        js = nc.jetstream(publish_async_max_pending=4000)
        futures = []
        for event in events:
            futures.append(await js.publish_async(event.subject, event.payload, headers=dict(event.headers)))
            counts[event.stream] = counts.get(event.stream, 0) + 1
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await nc.close()
    return counts


async def _rebuild_point(scale: float, work: Path, logs: Path, say: Say) -> dict:
    """The rebuild and its raw anchor on a replay of ``scale`` × the national events, on a server of its
    own (default fsync, like the rounds' replay server), one round each."""
    people = round(national.NATIONAL_PEOPLE * scale)
    say(f"rebuild scale curve: {scale:.0%} of national scale ({people:,} people's events)")
    server = NatsServer(work / f"nats-curve-{scale}", sync_always=False).start()
    try:
        await _declare(
            server.url, [bus.StreamSpec(name=s, subjects=[f"{s.lower()}.>"]) for s in wire.STREAMS.values()]
        )
        counts = await _fill(server.url, wire.events(national.acts(people, seed=3)))
        total = sum(counts.values())
        say(f"  {total:,} events on the streams; raw pull, then the reporting process")
        pulled = await raw.js_pull(server.url, counts, "bench-raw-curve")
        rebuilt = await project.rebuild_round(server.url, total, work, logs, f"curve-{scale}")
    finally:
        server.stop()
    return {
        "scale": scale,
        "replay_events": total,
        "raw_pull_per_s": round(pulled),
        "rebuild_events_per_s": round(rebuilt.rate),
        "rebuild_ratio": round(rebuilt.rate / pulled, 3),
        "rebuild_rss_mb": round(rebuilt.rss_kib / 1024),
    }


def _registry_events(count: int) -> list[wire.WireEvent]:
    """``count`` registry events of the generator's people (cycled with fresh ids when more are asked)."""
    people = max(10, count // 14 + 10)
    found = [e for e in wire.events(national.acts(people, seed=11)) if e.stream == "REGISTRY"]
    return [wire.with_new_id(e) for e in itertools.islice(itertools.cycle(found), count)]


async def run_bench(
    sizes: Sizes,
    *,
    out_dir: Path,
    postgres: str | None,
    say: Say,
    work_dir: Path | None = None,
    profile: bool = True,
) -> Run:
    run = Run(mode=sizes.mode, settings=sizes.as_dict())
    define(run, postgres=bool(postgres))
    run.machine = machine()
    own_dir = work_dir is None
    work = Path(work_dir or tempfile.mkdtemp(prefix="lienthong-bench-"))
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    servers: list[NatsServer] = []
    echo = raw.EchoServer()
    registry = None
    try:
        say(
            "starting nats-servers (two with sync_interval always, one with the default sync for the replay), the gRPC echo server and the registry"
        )
        publish_server = NatsServer(work / "nats-publish", sync_always=True).start()
        system_server = NatsServer(work / "nats-system", sync_always=True).start()
        replay_server = NatsServer(work / "nats-replay", sync_always=False).start()
        servers += [publish_server, system_server, replay_server]
        echo.start()
        registry = project.start_registry(system_server.url, work, logs)
        assert registry.endpoint is not None
        target = registry.endpoint.grpc

        say("generating the replay stream (national generator → real wire format) and the relay backlog")
        replay_events = list(wire.events(national.acts(sizes.replay_people, seed=3)))
        await _declare(
            replay_server.url,
            [bus.StreamSpec(name=s, subjects=[f"{s.lower()}.>"]) for s in wire.STREAMS.values()],
        )
        replay_counts = await _fill(replay_server.url, replay_events)
        replay_total = sum(replay_counts.values())
        run.settings["replay_events"] = replay_counts
        relay_events = _registry_events(max(sizes.relay_backlog, sizes.publish_events))
        await _declare(
            publish_server.url,
            [bus.StreamSpec(name=PUB_STREAM, subjects=["benchpub.>"])],
        )
        await project.declare_registry_stream(publish_server.url)
        people = project.People(sizes.people_pool)
        registered = project.Registered([], [])
        grpc_latencies: list[float] = []
        read_latencies: list[float] = []
        errors = {"commands": 0, "reads": 0, "grpc": 0, "visible": 0}

        for number in range(1, sizes.rounds + 1):
            say(f"round {number}/{sizes.rounds}")
            run.record(
                "raw_js_publish",
                await raw.js_publish_async(
                    publish_server.url, PUB_STREAM, PUB_SUBJECT, relay_events[: sizes.publish_events]
                ),
            )
            run.record(
                "relay",
                await project.relay_round(
                    publish_server.url, relay_events[: sizes.relay_backlog], work, str(number)
                ),
            )
            run.record(
                "raw_js_pull", await raw.js_pull(replay_server.url, replay_counts, f"bench-raw-{number}")
            )
            rebuilt = await project.rebuild_round(replay_server.url, replay_total, work, logs, str(number))
            run.record("rebuild", rebuilt.rate)
            run.record("rebuild_rss", rebuilt.rss_kib / 1024)
            run.record(
                "raw_sqlite_commit",
                await raw.db_commits(f"sqlite:///{work / f'commit-{number}.db'}", sizes.seconds),
            )
            run.record(
                "raw_sqlite_commit_stdlib",
                raw.sqlite_commits_stdlib(work / f"commit-stdlib-{number}.db", sizes.seconds),
            )
            if postgres:
                run.record("raw_pg_commit", await raw.db_commits(postgres, sizes.seconds))
            rate, failed = await project.commands_round(target, people, sizes.seconds, registered)
            run.record("commands", rate)
            errors["commands"] += failed
            rate, failed = await project.commands_round(
                target, people, sizes.seconds, registered, in_flight=1
            )
            run.record("commands_c1", rate)
            errors["commands"] += failed
            rate, latencies, failed = await raw.grpc_unary(echo.address, in_flight=50, seconds=sizes.seconds)
            run.record("raw_grpc_c50", rate)
            grpc_latencies += latencies
            errors["grpc"] += failed
            rate, latencies, failed = await project.reads_round(target, registered.person_ids, sizes.seconds)
            run.record("reads", rate)
            read_latencies += latencies
            errors["reads"] += failed

        if profile:
            say("one more rebuild, with the reporting process under pyinstrument (its rate is not recorded)")
            profile_path = out_dir / "profile-rebuild"
            await project.rebuild_round(
                replay_server.url, replay_total, work, logs, "profiled", profile=profile_path
            )
            run.artefacts["rebuild_profile_html"] = str(profile_path.with_suffix(".html"))
            run.artefacts["rebuild_profile_text"] = str(profile_path.with_suffix(".txt"))

        say(
            f"command → visible: reporting catches up, then {sizes.latency_rate:.0f} commands/s for {sizes.latency_seconds:.0f} s"
        )
        visible_db = work / "reporting-visible.db"
        reporting = start_service(
            "reporting",
            nats_url=system_server.url,
            database_url=f"sqlite:///{visible_db}",
            log_dir=logs,
            tag="visible",
        )
        try:
            await project.wait_applied(str(visible_db), len(registered.person_ids), timeout=600)
            latencies, failed, achieved = await project.visibility(
                target, str(visible_db), people, rate=sizes.latency_rate, seconds=sizes.latency_seconds
            )
            run.figures["visible_p99"].samples = latencies
            run.settings["visible_achieved_rate"] = round(achieved, 1)
            errors["visible"] += failed
        finally:
            reporting.stop()
        run.record("registry_rss", memory_kib(registry.pid or 0).get("VmHWM", 0) / 1024)
        registry.stop()
        registry = None

        people_count = max(10, round(national.NATIONAL_PEOPLE * sizes.national_scale))
        say(f"national generator: {people_count:,} people into reporting's steps table")
        data = await reports.build(work / "reporting-national.db", people_count)
        run.settings["national"] = {
            "people": data.people,
            "steps": data.steps,
            "write_seconds": round(data.seconds, 1),
        }
        say(f"  {data.steps:,} steps written in {data.seconds:.0f} s; timing the reports")
        whole, communes = await reports.report_timings(data.url, sizes.report_repeats)
        run.figures["report_province_year"].samples = whole
        run.figures["report_communes"].samples = communes
        if profile:
            run.artefacts.update(await reports.profile_report(data.url, out_dir))
        memory = await reports.memory_round(system_server.url, data, logs, sizes.memory_repeats)
        run.record("reporting_rss", memory.peak_kib / 1024)
        run.figures["report_grpc"].samples = memory.grpc_ms
        run.scale_curve.append(_curve_point(sizes.national_scale, data, whole, communes, run))
        for scale in sizes.scale_curve:
            count = round(national.NATIONAL_PEOPLE * scale)
            say(f"scale curve: {scale:.0%} of national scale ({count:,} people)")
            point = await reports.build(work / f"reporting-national-{scale}.db", count)
            w, c = await reports.report_timings(point.url, max(3, sizes.report_repeats // 2))
            run.scale_curve.append(_curve_point(scale, point, w, c, None))
        run.scale_curve.sort(key=lambda p: p["scale"])
        for scale in sizes.rebuild_curve:
            run.rebuild_curve.append(await _rebuild_point(scale, work, logs, say))

        grpc_latencies.sort()
        read_latencies.sort()
        run.notes += _notes(run, errors, grpc_latencies, read_latencies, replay_total)
    finally:
        if registry is not None:
            registry.stop()
        echo.stop()
        for server in servers:
            server.stop()
        run.machine["load_average_end"] = __import__("os").getloadavg()
        run.machine["duration_seconds"] = round(time.perf_counter() - started, 1)
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
    return run


def _curve_point(
    scale: float, data: reports.NationalData, whole: list[float], communes: list[float], run: Run | None
) -> dict:
    from bench.figures import percentile

    point = {
        "scale": scale,
        "people": data.people,
        "steps": data.steps,
        "write_seconds": round(data.seconds, 1),
        "report_province_year_p95_ms": round(percentile(whole, 95), 1),
        "report_communes_p95_ms": round(percentile(communes, 95), 1),
    }
    return point


def _notes(
    run: Run, errors: dict, grpc_latencies: list[float], read_latencies: list[float], replay_total: int
) -> list[str]:
    from bench.figures import percentile

    notes = []
    if grpc_latencies:
        notes.append(
            f"raw gRPC c50 latency p50 {percentile(grpc_latencies, 50):.1f} ms, p99 {percentile(grpc_latencies, 99):.1f} ms; "
            f"GetPerson p50 {percentile(read_latencies, 50):.1f} ms, p99 {percentile(read_latencies, 99):.1f} ms"
            if read_latencies
            else ""
        )
    visible = run.figures["visible_p99"].samples
    if visible:
        notes.append(
            f"command → visible: {len(visible)} commands sent at {run.settings['latency_rate']:.0f}/s, answered at "
            f"{run.settings.get('visible_achieved_rate', 0):.0f}/s; p50 {percentile(visible, 50):.0f} ms, max {max(visible):.0f} ms"
        )
    notes.append(f"replay: {replay_total:,} events over the four department streams, per round")
    notes.append("errors (refused or failed calls): " + ", ".join(f"{k} {v}" for k, v in errors.items()))
    return [n for n in notes if n]
