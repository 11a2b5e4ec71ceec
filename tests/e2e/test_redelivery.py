"""The lifecycle with every event delivered twice and in shuffled order ends in the same state.

First the three paths of test_lifecycle.py run on the real system (five processes, one nats-server), and
every event the departments published is read back from their streams. Then each consuming service is
started afresh, with a fresh database and a fresh nats-server holding only its source streams, twice:
once with the events in the order they were published, once with every event twice (a second copy under
another Nats-Msg-Id, as a relay re-publishing after the duplicate window would send it) in a seeded
shuffled order. Both runs must leave the same state in the service's database: the same rows, ids the
service generated itself aside. Reporting, which holds nothing but what events say, must also equal the
live run's reporting database.

The seed is printed on failure; set LIENTHONG_TEST_SEED to replay one.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError

from lienthong import bus
from lienthong.localrun import LocalSystem
from lienthong.natsserver import NatsServer
from services.aftercare.main import build_plan as aftercare_plan
from services.aftercare.settings import AftercareSettings
from services.health.main import build_plan as health_plan
from services.health.settings import HealthSettings
from services.registry.main import build_plan as registry_plan
from services.registry.settings import RegistrySettings
from services.rehab.main import build_plan as rehab_plan
from services.rehab.settings import RehabSettings
from services.reporting.main import build_plan as reporting_plan
from services.reporting.settings import ReportingSettings
from tests.conftest import RunningService, eventually
from tests.e2e.test_lifecycle import (
    methadone_paths_completion_opens_aftercare_and_termination_is_a_dossier_ground,
    one_person_through_every_department,
    voluntary_family_rehab_under_labour_opens_aftercare_and_reporting_sees_who_acted,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SEED = int(os.environ.get("LIENTHONG_TEST_SEED", "20251123"))
STREAMS = ("REGISTRY", "HEALTH", "REHAB", "AFTERCARE")
CONSUMING_SERVICES: dict[str, tuple[type, Callable]] = {
    "registry": (RegistrySettings, registry_plan),
    "health": (HealthSettings, health_plan),
    "rehab": (RehabSettings, rehab_plan),
    "aftercare": (AftercareSettings, aftercare_plan),
    "reporting": (ReportingSettings, reporting_plan),
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
# Relay bookkeeping, not state: which process holds the relay lease.
# data_keys: each database draws its own random keys (encrypted values are compared as present or absent).
NOT_STATE = {"relay_lease", "alembic_version", "data_keys"}


@dataclass(frozen=True)
class Published:
    stream: str
    subject: str
    data: bytes
    headers: dict[str, str]


@pytest.fixture
def system(tmp_path: Path):
    # Without NATS accounts: the test reads every stream and consumer itself, as no department may.
    local = LocalSystem(tmp_path / "run", fresh=True, prefer_default_ports=False, nats_accounts=False)
    local.start()
    try:
        yield local
    finally:
        local.stop()


async def read_streams(url: str) -> list[Published]:
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        events = []
        for stream in STREAMS:
            info = await js.stream_info(stream)
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg(stream, sequence)
                events.append(Published(stream, message.subject, message.data, dict(message.headers or {})))
        return events
    finally:
        await connection.close()


async def settled(url: str, streams: tuple[str, ...]) -> bool:
    """Every stream has been read to the end by every consumer on it, and nothing is waiting for an ack."""
    connection = await nats.connect(url)
    try:
        js = connection.jetstream()
        for stream in streams:
            consumers = await js.consumers_info(stream)
            if not consumers or any(c.num_pending or c.num_ack_pending for c in consumers):
                return False
        return True
    finally:
        await connection.close()


async def replay(
    name: str, events: list[Published], folder: Path, *, twice_shuffled: bool
) -> tuple[dict[str, list], int]:
    """Start ``name`` afresh on ``events`` of its source streams; its state afterwards and deliveries made."""
    settings_class, build_plan = CONSUMING_SERVICES[name]
    database = folder / f"{name}.db"
    with NatsServer(folder / "nats", sync_always=False) as server:  # creates the folder
        plan = build_plan(
            settings_class(
                nats_url=server.url,
                database_url=f"sqlite:///{database}",
                grpc_port=0,
                metrics_port=0,
                ack_wait_seconds=5,
            )
        )
        sources = tuple(sorted({consumer.spec.stream for consumer in plan.consumers}))
        deliveries = [e for e in events if e.stream in sources]
        wanted = sum(
            any(
                c.spec.stream == e.stream and matches(c.spec.filter_subject, e.subject)
                for c in plan.consumers
            )
            for e in deliveries
        )
        if twice_shuffled:
            copies = [(e, copy) for e in deliveries for copy in (1, 2)]
            random.Random(f"{SEED}-{name}").shuffle(copies)
        else:
            copies = [(e, 1) for e in deliveries]
        connection = await nats.connect(server.url)
        try:
            js = connection.jetstream()
            for stream in sources:
                await bus.declare_stream(js, bus.StreamSpec(stream, [f"{stream.lower()}.>"]))
            for event, copy in copies:
                headers = {**event.headers, "Nats-Msg-Id": f"{event.headers['ce-id']}/{copy}"}
                await js.publish(event.subject, event.data, headers=headers, stream=event.stream)
        finally:
            await connection.close()
        async with RunningService(plan):
            await eventually(lambda: settled(server.url, sources), timeout=60, message=f"{name} caught up")
            await asyncio.sleep(0.5)  # let the relay publish what the last batch wrote
        await check_no_dead_letters(server.url, name)
    return state_of(database, known=known_ids(events)), wanted


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` the rest."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for i, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > i
        if i >= len(tokens) or token not in ("*", tokens[i]):
            return False
    return len(tokens) == len(wanted)


async def check_no_dead_letters(url: str, name: str) -> None:
    connection = await nats.connect(url)
    try:
        info = await connection.jetstream().stream_info(f"DLQ_{name.upper()}")
        assert info.state.messages == 0, f"{name} dead-lettered events of the lifecycle (seed {SEED})"
    except NotFoundError:
        pass
    finally:
        await connection.close()


def known_ids(events: list[Published]) -> set[str]:
    """Every UUID the departments put in the events; any other UUID in a replay was made by the replay."""
    found: set[str] = set()
    for event in events:
        found.update(UUID.findall(event.data.decode("latin-1")))
        for value in event.headers.values():
            found.update(UUID.findall(value))
    return found


def state_of(database: Path, *, known: set[str]) -> dict[str, list]:
    """Each table's rows as a sorted list, without clock times and with self-made ids blanked."""

    def canonical(value):
        if isinstance(value, bytes):
            return "<bytes>"
        if isinstance(value, str):
            value = MOMENT.sub("<time>", value)  # when something was recorded, e.g. ce-time in outbox headers
            return UUID.sub(lambda m: m.group() if m.group() in known else "<generated>", value)
        return value

    with sqlite3.connect(database) as db:
        tables = [
            row[0]
            for row in db.execute(
                "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
            )
            if row[0] not in NOT_STATE
        ]
        state = {}
        for table in sorted(tables):
            columns = [
                column
                for _, column, kind, *_ in db.execute(f"pragma table_info({table})")
                if not any(clock in kind.upper() for clock in ("DATETIME", "TIMESTAMP"))
                # The outbox position and stream sequence depend on interleaving, not on what was decided.
                and column not in ("position", "stream_sequence")
            ]
            rows = db.execute(f"select {', '.join(columns)} from {table}")
            encrypted = [column.endswith("_enc") for column in columns]  # random nonce, per-database key
            state[table] = sorted(
                (
                    tuple(
                        "<encrypted>" if enc and v is not None else canonical(v)
                        for v, enc in zip(row, encrypted, strict=True)
                    )
                    for row in rows
                ),
                key=repr,
            )
    return state


async def test_every_event_twice_and_shuffled_ends_in_the_same_state(system: LocalSystem, tmp_path: Path):
    await one_person_through_every_department(system)
    await methadone_paths_completion_opens_aftercare_and_termination_is_a_dossier_ground(system)
    await voluntary_family_rehab_under_labour_opens_aftercare_and_reporting_sees_who_acted(system)
    assert system.nats is not None
    await eventually(lambda: settled(system.nats.url, STREAMS), timeout=60, message="live system settled")
    events = await read_streams(system.nats.url)
    by_stream = {stream: sum(e.stream == stream for e in events) for stream in STREAMS}
    assert all(by_stream.values()), by_stream

    for name in CONSUMING_SERVICES:
        in_order, consumed = await replay(name, events, tmp_path / f"{name}-once", twice_shuffled=False)
        shuffled, _ = await replay(name, events, tmp_path / f"{name}-twice", twice_shuffled=True)
        assert consumed > 0
        for table in in_order:
            assert shuffled[table] == in_order[table], f"{name}.{table} differs (seed {SEED})"
        assert len(in_order["inbox"]) == consumed, f"{name} applied each event once (seed {SEED})"
        if name == "reporting":
            # Reporting holds only what the events say: the replays equal the live read model.
            live = state_of(system.data_dir / "reporting.db", known=known_ids(events))
            for table in live:
                assert in_order[table] == live[table], f"live reporting.{table} differs (seed {SEED})"
