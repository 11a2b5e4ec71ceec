"""The project's own figures: each runs the real code path (a service process where the figure is
about the system) and returns what one round measured."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc
import nats
from nats.js.errors import NotFoundError
from sqlalchemy import insert

from bench.processes import start_service
from bench.raw import closed_loop
from bench.wire import WireEvent, outbox_row, with_new_id
from lienthong import bus, migrate
from lienthong.db import create_engine, session_factory
from lienthong.demo import PersonPlan, build_scenario
from lienthong.localrun import ServiceProcess
from lienthong.metrics import OutboxMetrics, new_registry
from lienthong.outbox import OUTBOX, OutboxRelay
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import registry_pb2, registry_pb2_grpc
from services.registry.event_mapping import STREAM as REGISTRY_STREAM
from services.registry.event_mapping import SUBJECTS as REGISTRY_SUBJECTS
from services.registry.main import MIGRATIONS as REGISTRY_MIGRATIONS
from services.reporting.sources import SOURCES

READER = (("x-officer-id", "bench-officer"), ("x-purpose", "benchmark read"), ("accept-language", "en"))
_SEX = {"male": common_pb2.SEX_MALE, "female": common_pb2.SEX_FEMALE}


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def _moment(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


async def _poll(check, *, timeout: float, interval: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


# Inbox rows are never deleted, so the largest rowid is their number: O(log n), where count(*) would
# scan an index of a million rows ten times a second, on the cores the service is measured on.
_APPLIED = "SELECT coalesce(max(rowid), 0) FROM inbox"


def _count(db: str, sql: str) -> int:
    if not Path(db).exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
            return c.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # not migrated yet
        return 0


# --- (1) rebuild: replay the department streams into a fresh read model -------------------------------


@dataclass(frozen=True)
class Rebuild:
    rate: float  # events per second, steady state (between the first and the last batch)
    wall_seconds: float  # from the process being ready to the last event applied, as seen by a poller
    rss_kib: int


async def delete_reporting_consumers(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for source in SOURCES:
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(source.stream, source.consumer)
    finally:
        await nc.close()


async def rebuild_round(
    url: str, total: int, data_dir: Path, log_dir: Path, tag: str, *, profile: Path | None = None
) -> Rebuild:
    """The reporting process from an empty database, consuming every stream from its start (its real
    consumers: decode, inbox, apply in batches, ack), until it has applied ``total`` events. With
    ``profile``, the process runs under pyinstrument and writes its profile there when it stops."""
    from bench.processes import memory_kib

    await delete_reporting_consumers(url)
    db = str(data_dir / f"reporting-rebuild-{tag}.db")
    process = start_service(
        "reporting",
        nats_url=url,
        database_url=f"sqlite:///{db}",
        log_dir=log_dir,
        tag=f"rebuild-{tag}",
        module="bench.profiled" if profile else None,
        extra_env={"LIENTHONG_BENCH_PROFILE": str(profile)} if profile else None,
    )
    ready = time.perf_counter()
    try:
        await _poll(
            lambda: _count(db, _APPLIED) >= total,
            timeout=max(120.0, total / 200),
            interval=0.1,
            what=f"reporting to apply {total} events (log: {process.log_path})",
        )
        wall = time.perf_counter() - ready
        rss = memory_kib(process.pid or 0).get("VmHWM", 0)
    finally:
        process.stop()
    with contextlib.closing(sqlite3.connect(db)) as c:
        first, last = c.execute("SELECT min(processed_at), max(processed_at) FROM inbox").fetchone()
        in_last = c.execute("SELECT count(*) FROM inbox WHERE processed_at = ?", (last,)).fetchone()[0]
    span = _moment(last) - _moment(first)
    rate = (total - in_last) / span if span > 0 else total / max(wall, 1e-9)
    return Rebuild(rate, wall, rss)


# --- (2) the outbox relay draining a backlog -------------------------------------------------------------


async def declare_registry_stream(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await bus.declare_stream(
            nc.jetstream(), bus.StreamSpec(name=REGISTRY_STREAM, subjects=REGISTRY_SUBJECTS)
        )
    finally:
        await nc.close()


async def relay_round(url: str, events: Sequence[WireEvent], data_dir: Path, tag: str) -> float:
    """``lienthong.outbox.OutboxRelay`` (the registry's relay, with the service's broker factory) publishing
    a backlog of registry events from a migrated registry database to its stream: events per second."""
    engine = create_engine(f"sqlite:///{data_dir / f'relay-{tag}.db'}")
    broker = None
    try:
        await migrate.upgrade(engine, REGISTRY_MIGRATIONS)
        sessions = session_factory(engine)
        rows = [outbox_row(with_new_id(e)) for e in events]
        for i in range(0, len(rows), 5000):
            async with sessions.begin() as session:
                await session.execute(insert(OUTBOX), rows[i : i + 5000])
        registry = new_registry()
        broker = bus.make_broker(url, client_name="bench-relay", registry=registry)
        js = await bus.connect(broker)
        before = (await js.stream_info(REGISTRY_STREAM)).state.messages
        relay = OutboxRelay(
            sessions=sessions,
            broker=broker,
            stream=REGISTRY_STREAM,
            holder=f"bench-{tag}",
            metrics=OutboxMetrics.create(registry),
        )
        started = time.perf_counter()
        task = asyncio.create_task(relay.run())
        try:
            while True:
                if task.done():
                    task.result()
                    raise RuntimeError("the relay stopped")
                published = (await js.stream_info(REGISTRY_STREAM)).state.messages - before
                if published >= len(rows):
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
        finally:
            relay.stop()
            await asyncio.gather(task, return_exceptions=True)
        return len(rows) / elapsed
    finally:
        if broker is not None:
            bus.mark_closing(broker)
            await broker.stop()
        await engine.dispose()


# --- (3, 4) gRPC commands and reads on the registry process ---------------------------------------------


class People:
    """Synthetic people to register (the demo's generator: valid citizen IDs, names, communes)."""

    def __init__(self, count: int, seed: int = 2031) -> None:
        self._plans: Iterator[PersonPlan] = iter(build_scenario(count, seed))

    def next(self) -> PersonPlan:
        try:
            return next(self._plans)
        except StopIteration:
            raise RuntimeError("bench ran out of synthetic people: raise the count") from None


def register_request(plan: PersonPlan) -> registry_pb2.RegisterPersonRequest:
    return registry_pb2.RegisterPersonRequest(
        citizen_id=plan.citizen_id,
        full_name=plan.full_name,
        date_of_birth=plan.date_of_birth.isoformat(),
        sex=_SEX[plan.sex],
        commune_code=plan.commune_code,
    )


@dataclass
class Registered:
    person_ids: list[str]
    pseudonyms: list[str]


async def commands_round(
    target: str, people: People, seconds: float, registered: Registered, *, in_flight: int = 50
) -> tuple[float, int]:
    """RegisterPerson through the registry's gRPC API, ``in_flight`` at a time: (commands per second,
    errors). Each command validates the citizen ID, writes the person and an outbox row in one
    transaction and wakes the relay, which publishes it meanwhile."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)

        async def call(_i: int) -> None:
            response = await stub.RegisterPerson(register_request(people.next()), timeout=30, metadata=READER)
            registered.person_ids.append(response.person_id)
            registered.pseudonyms.append(response.pseudonym)

        rate, _latencies, errors = await closed_loop(call, in_flight=in_flight, seconds=seconds)
    return rate, errors


async def reads_round(
    target: str, person_ids: Sequence[str], seconds: float, *, in_flight: int = 50
) -> tuple[float, list[float], int]:
    """GetPerson with officer and purpose metadata (each read is recorded in the audit table, in its own
    transaction, before the record is returned): (reads per second, latencies, errors)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)

        async def call(i: int) -> None:
            person_id = person_ids[(i * 7919) % len(person_ids)]
            await stub.GetPerson(
                registry_pb2.GetPersonRequest(person_id=person_id), timeout=30, metadata=READER
            )

        return await closed_loop(call, in_flight=in_flight, seconds=seconds)


# --- (5) command → visible in reporting -----------------------------------------------------------------


async def wait_applied(db: str, at_least: int, timeout: float) -> None:
    await _poll(
        lambda: _count(db, _APPLIED) >= at_least,
        timeout=timeout,
        interval=0.2,
        what=f"reporting to catch up with {at_least} events",
    )


async def visibility(
    registry_target: str, reporting_db: str, people: People, *, rate: float, seconds: float
) -> tuple[list[float], int, float]:
    """RegisterPerson at a steady ``rate`` (open loop) while a poller reads reporting's ``steps`` table
    every 10 ms: for each command, milliseconds from sending it to its step being readable there; also
    the errors and the rate at which the registry actually answered."""
    count = int(rate * seconds)
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    errors = 0
    done = asyncio.Event()

    def poller_step(connection: sqlite3.Connection, last: int) -> int:
        now = time.perf_counter()
        for rowid, pseudonym in connection.execute(
            "SELECT rowid, pseudonym FROM steps WHERE rowid > ? ORDER BY rowid", (last,)
        ):
            last = rowid
            if pseudonym is not None and pseudonym not in seen:
                seen[pseudonym] = now
        return last

    async def poller() -> None:
        connection = sqlite3.connect(f"file:{reporting_db}?mode=ro", uri=True, timeout=5)
        try:
            last = connection.execute("SELECT coalesce(max(rowid), 0) FROM steps").fetchone()[0]
            while not done.is_set() or any(p not in seen for p in sent):
                last = poller_step(connection, last)
                await asyncio.sleep(0.01)
        finally:
            connection.close()

    async with grpc.aio.insecure_channel(registry_target) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)

        answered: list[float] = []

        async def command(plan: PersonPlan) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                response = await stub.RegisterPerson(register_request(plan), timeout=120, metadata=READER)
            except grpc.aio.AioRpcError:
                errors += 1
                return
            sent[response.pseudonym] = started
            answered.append(time.perf_counter())

        watcher = asyncio.create_task(poller())
        tasks = []
        t0 = time.perf_counter()
        for i in range(count):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(command(people.next())))
        await asyncio.gather(*tasks)
        done.set()
        try:
            await asyncio.wait_for(watcher, timeout=60)
        except TimeoutError:
            errors += sum(1 for p in sent if p not in seen)
    latencies = [(seen[p] - t) * 1000 for p, t in sent.items() if p in seen]
    achieved = len(answered) / (max(answered) - t0) if answered else 0.0
    return latencies, errors, achieved


def start_registry(url: str, data_dir: Path, log_dir: Path) -> ServiceProcess:
    return start_service(
        "registry",
        nats_url=url,
        database_url=f"sqlite:///{data_dir / 'registry.db'}",
        log_dir=log_dir,
        tag="system",
    )
