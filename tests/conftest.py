"""Shared fixtures: a real nats-server per test on a free port, and a real database (SQLite always,
PostgreSQL too when LIENTHONG_TEST_POSTGRES_URL is set, as CI does)."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lienthong.codegen import problem
from lienthong.natsserver import NatsServer

POSTGRES_URL = os.environ.get("LIENTHONG_TEST_POSTGRES_URL", "")


def pytest_sessionstart(session: pytest.Session) -> None:
    message = problem()
    if message:
        raise pytest.UsageError(message)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


def _database_params() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    if POSTGRES_URL:
        params.append(pytest.param("postgresql", id="postgresql"))
    return params


@pytest.fixture(params=_database_params())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database: a SQLite file, or a throw-away PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    import asyncpg

    base = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    name = f"lt_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield base.rsplit("/", 1)[0] + "/" + name
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def eventually(check, *, timeout: float = 20.0, interval: float = 0.1, message: str = "condition"):
    """Poll an async ``check`` until it returns a truthy value; fail with ``message`` after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last value: {last!r})")


class RunningService:
    """A service's real ``serve()`` in this event loop, stopped through its stop event."""

    def __init__(self, plan) -> None:
        from lienthong.runtime import serve

        self.plan = plan
        self.stop = asyncio.Event()
        self.ready: dict = {}
        self._ready = asyncio.Event()

        def on_ready(info: dict) -> None:
            self.ready = info
            self._ready.set()

        self._task = asyncio.create_task(serve(plan, stop=self.stop, on_ready=on_ready))

    async def __aenter__(self) -> RunningService:
        done, _ = await asyncio.wait(
            [self._task, asyncio.create_task(self._ready.wait())],
            timeout=60,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._task in done:
            self._task.result()  # raises the start-up error
        if not self._ready.is_set():
            raise AssertionError("service did not become ready within 60s")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(self._task, timeout=60)

    @property
    def grpc_target(self) -> str:
        return self.ready["grpc"]

    @property
    def metrics_url(self) -> str:
        return self.ready["metrics"]


class ServiceProbe:
    """A running service's stub plus what tests read back: its outbox, its stream, its tables."""

    def __init__(self, stub, service: RunningService, js) -> None:
        self.stub, self.service, self.js = stub, service, js

    async def outbox_count(self) -> int:
        from sqlalchemy import func, select

        from lienthong.outbox import OUTBOX

        async with self.service.plan.infra.sessions() as session:
            return await session.scalar(select(func.count()).select_from(OUTBOX))

    async def stream_messages(self, stream: str, expected: int) -> list:
        """Wait until ``stream`` holds exactly ``expected`` messages, then return them in order."""

        async def count():
            try:
                return (await self.js.stream_info(stream)).state.messages == expected
            except Exception:
                return False

        await eventually(count, message=f"{expected} events in {stream}")
        return [await self.js.get_msg(stream, seq) for seq in range(1, expected + 1)]

    async def table(self, table):
        from sqlalchemy import select

        async with self.service.plan.infra.sessions() as session:
            return (await session.execute(select(table))).all()


# A 12-digit citizen ID standing on its own (not a run of digits inside a hex id, a uuid or a longer number).
CITIZEN_ID_LIKE = re.compile(rb"(?<![0-9A-Za-z_-])[0-9]{12}(?![0-9A-Za-z_-])")


async def stored_bytes(database_url: str) -> bytes:
    """What a department database holds, as someone with its files would read it: the SQLite file and its
    write-ahead log byte for byte, or every row of every table of a PostgreSQL database as text."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.split(":///", 1)[1])
        return b"".join(p.read_bytes() for p in sorted(path.parent.glob(f"{path.name}*")) if p.is_file())
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = [
            r[0]
            for r in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        chunks = [
            await connection.fetchval(f"SELECT coalesce(string_agg(t::text, chr(10)), '') FROM \"{name}\" t")
            for name in tables
        ]
    finally:
        await connection.close()
    return "\n".join(chunks).encode()


def plaintext_in(stored: bytes, secrets: list[str]) -> list[str]:
    """The secrets found in ``stored`` (UTF-8, as the services write text), and any 12-digit ID-like run."""
    found = [secret for secret in secrets if secret.encode() in stored]
    return found + [m.decode() for m in CITIZEN_ID_LIKE.findall(stored)]
