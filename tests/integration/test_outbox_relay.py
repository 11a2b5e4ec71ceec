"""The outbox relay against a real nats-server and a real database."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import MetaData, func, select, update

from lienthong import bus, inbox, outbox
from lienthong.db import create_engine, session_factory
from lienthong.envelope import Envelope
from lienthong.metrics import OutboxMetrics, new_registry
from lienthong.natsserver import NatsServer
from lienthong.outbox import OUTBOX, OutboxRelay, add_to_outbox
from tests.conftest import eventually

pytestmark = pytest.mark.integration

STREAM = bus.StreamSpec(name="TESTDEPT", subjects=["testdept.>"])


def envelope(n: int) -> Envelope:
    return Envelope.new(
        subject="testdept.thing.happened.v1",
        source="lienthong/testdept",
        person=f"1:{n:032x}",
        aggregate_id=f"agg-{n}",
        aggregate_version=1,
        agency="police",
        payload=f"payload {n}".encode(),
    )


@pytest.fixture
async def sessions(database_url: str):
    engine = create_engine(database_url)
    metadata = MetaData()
    outbox.define_tables_v1(metadata)
    inbox.define_table_v1(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield session_factory(engine)
    await engine.dispose()


async def make_relay(sessions, server: NatsServer, holder: str = "test"):
    registry = new_registry()
    broker = bus.make_broker(server.url, client_name=holder, registry=registry)
    js = await bus.connect(broker)
    await bus.declare_stream(js, STREAM)
    relay = OutboxRelay(
        sessions=sessions,
        broker=broker,
        stream=STREAM.name,
        holder=holder,
        metrics=OutboxMetrics.create(registry),
        poll_interval=0.05,
    )
    return relay, broker, js, registry


async def stream_messages(js) -> int:
    try:
        return (await js.stream_info(STREAM.name)).state.messages
    except NotFoundError:
        return 0


async def test_relay_publishes_committed_rows_and_marks_them(sessions, nats_server):
    relay, broker, js, registry = await make_relay(sessions, nats_server)
    async with sessions.begin() as session:
        for n in range(25):
            await add_to_outbox(session, envelope(n))
    assert await relay.acquire_lease()
    assert await relay.publish_pending() == 25
    assert await stream_messages(js) == 25
    async with sessions() as session:
        unpublished = await session.scalar(select(func.count()).where(OUTBOX.c.published_at.is_(None)))
    assert unpublished == 0
    msg = await js.get_last_msg(STREAM.name, "testdept.thing.happened.v1")
    assert msg.headers["Nats-Msg-Id"] == msg.headers["ce-id"]
    assert msg.headers["content-type"] == "application/protobuf"
    await relay.refresh_lag()
    assert registry.get_sample_value("lienthong_outbox_pending_events") == 0
    assert (
        registry.get_sample_value(
            "lienthong_outbox_published_total",
            {"stream": "TESTDEPT", "subject": "testdept.thing.happened.v1"},
        )
        == 25
    )
    await broker.stop()


async def test_event_relayed_twice_reaches_the_stream_once(sessions, nats_server):
    """A relay that crashed after the PubAck but before marking its rows publishes them again."""
    relay, broker, js, registry = await make_relay(sessions, nats_server)
    async with sessions.begin() as session:
        for n in range(10):
            await add_to_outbox(session, envelope(n))
    assert await relay.acquire_lease()
    await relay.publish_pending()
    async with sessions.begin() as session:  # the crash: marks lost
        await session.execute(update(OUTBOX).values(published_at=None))
    assert await relay.publish_pending() == 10
    assert await stream_messages(js) == 10
    assert registry.get_sample_value("lienthong_outbox_duplicate_acks_total", {"stream": "TESTDEPT"}) == 10
    await broker.stop()


async def test_only_one_relay_holds_the_lease(sessions, nats_server):
    first, broker1, _, _ = await make_relay(sessions, nats_server, holder="first")
    second, broker2, _, _ = await make_relay(sessions, nats_server, holder="second")
    assert await first.acquire_lease()
    assert not await second.acquire_lease()
    assert await first.acquire_lease()  # renewal by the holder
    await broker1.stop()
    await broker2.stop()


async def test_rows_committed_while_nats_is_down_are_published_when_it_returns(sessions, nats_server):
    relay, broker, js, _registry = await make_relay(sessions, nats_server)
    task = asyncio.create_task(relay.run())
    nats_server.stop()
    async with sessions.begin() as session:
        for n in range(30):
            await add_to_outbox(session, envelope(n))
    relay.notify()
    await asyncio.sleep(1.0)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).where(OUTBOX.c.published_at.is_(None))) == 30
    nats_server.start()  # same port, same store

    async def all_marked():
        async with sessions() as session:
            return await session.scalar(select(func.count()).where(OUTBOX.c.published_at.is_(None))) == 0

    await eventually(all_marked, timeout=30, message="outbox drained after NATS came back")
    assert await stream_messages(js) == 30
    relay.stop()
    await task
    await broker.stop()
