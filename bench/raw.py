"""Raw anchors: what nats-py, the database driver and grpc.aio do on this machine with no project code.

Each function runs one round and returns a rate per second (the gRPC one also its latencies).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import text

from bench.grpc_echo import METHOD
from bench.wire import WireEvent, with_new_id
from lienthong.db import _sqlite_pragmas, create_engine

ROOT = Path(__file__).resolve().parent.parent


async def js_publish_async(url: str, stream: str, subject: str, events: Sequence[WireEvent]) -> float:
    """nats-py ``publish_async`` of every event (≤ 4000 in flight), each with its own ``Nats-Msg-Id``,
    until the last PubAck: messages per second."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(publish_async_max_pending=4000)
        batch = [with_new_id(e) for e in events]
        started = time.perf_counter()
        futures = [
            await js.publish_async(subject, e.payload, headers=dict(e.headers), stream=stream) for e in batch
        ]
        acks = await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
        if any(ack.stream != stream or ack.duplicate for ack in acks):
            raise RuntimeError("raw publish: an ack from the wrong stream or a duplicate")
        return len(batch) / elapsed
    finally:
        await nc.close()


async def js_pull(url: str, streams: dict[str, int], durable: str) -> float:
    """nats-py pull consumers (``fetch(500)``, ``ack()`` each), one per stream, all at once, from the first
    message of each stream to the last: messages per second over all of them."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    total = sum(streams.values())

    async def drain(stream: str, count: int) -> None:
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=20_000,
        )
        sub = await js.pull_subscribe("", durable=durable, stream=stream, config=config)
        got = 0
        while got < count:
            try:
                messages = await sub.fetch(500, timeout=2)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            for message in messages:
                await message.ack()
            got += len(messages)
        await sub.unsubscribe()

    try:
        started = time.perf_counter()
        await asyncio.gather(*(drain(s, n) for s, n in streams.items() if n))
        elapsed = time.perf_counter() - started
        await nc.flush()
        return total / elapsed
    finally:
        for stream in streams:
            try:
                await js.delete_consumer(stream, durable)
            except Exception:
                pass
        await nc.close()


_UPSERT = (
    "INSERT INTO bench_commit (k, n, note) VALUES (:k, 1, :note) "
    "ON CONFLICT (k) DO UPDATE SET n = bench_commit.n + 1, note = excluded.note"
)


async def db_commits(url: str, seconds: float) -> float:
    """One-row transactions, one after the other, through the project's engine factory (SQLite: WAL and
    synchronous=FULL; PostgreSQL: asyncpg): commits per second."""
    engine = create_engine(url)
    try:
        async with engine.begin() as c:
            await c.execute(
                text("CREATE TABLE IF NOT EXISTS bench_commit (k INTEGER PRIMARY KEY, n INTEGER, note TEXT)")
            )
        count, key = 0, 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            async with engine.begin() as c:
                await c.execute(text(_UPSERT), {"k": key % 1000, "note": f"row {key}"})
            count += 1
            key += 1
        elapsed = time.perf_counter() - started
        async with engine.begin() as c:
            await c.execute(text("DROP TABLE bench_commit"))
        return count / elapsed
    finally:
        await engine.dispose()


def sqlite_commits_stdlib(path: Path, seconds: float) -> float:
    """The same one-row transactions with the stdlib sqlite3 module (same pragmas), for reference."""
    connection = sqlite3.connect(path, isolation_level=None)
    _sqlite_pragmas(connection, None)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS bench_commit (k INTEGER PRIMARY KEY, n INTEGER, note TEXT)"
    )
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        connection.execute("BEGIN")
        connection.execute(_UPSERT, {"k": count % 1000, "note": f"row {count}"})
        connection.execute("COMMIT")
        count += 1
    elapsed = time.perf_counter() - started
    connection.execute("DROP TABLE bench_commit")
    connection.close()
    return count / elapsed


class EchoServer:
    """The raw gRPC server (``bench.grpc_echo``) in its own process."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.address = ""

    def start(self) -> EchoServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.grpc_echo"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("bench.grpc_echo did not start")
        self.address = f"127.0.0.1:{json.loads(line)['port']}"
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


async def closed_loop(call, *, in_flight: int, seconds: float) -> tuple[float, list[float], int]:
    """``in_flight`` callers each calling ``call(i)`` back to back for ``seconds``: (calls per second,
    latencies in ms, errors)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def caller() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await call(next(counter))
            except grpc.aio.AioRpcError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


async def grpc_unary(address: str, *, in_flight: int, seconds: float) -> tuple[float, list[float], int]:
    async with grpc.aio.insecure_channel(address) as channel:
        echo = channel.unary_unary(METHOD)
        await echo(b"warm-up", timeout=10)
        return await closed_loop(lambda _i: echo(b"ping", timeout=10), in_flight=in_flight, seconds=seconds)
