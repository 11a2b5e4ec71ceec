"""The idempotent batch consumer and its dead letters, against a real nats-server and database."""

from __future__ import annotations

import asyncio

import nats.errors
import pytest
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, func, select, update

from lienthong import bus, inbox
from lienthong.consumer import BatchConsumer, ConsumerSpec, InvariantBroken
from lienthong.db import create_engine, session_factory
from lienthong.deadletter import DeadLetters
from lienthong.envelope import BadEvent, Envelope
from lienthong.metrics import ConsumerMetrics, new_registry
from tests.conftest import eventually

pytestmark = pytest.mark.integration

STREAM = bus.StreamSpec(name="TESTDEPT", subjects=["testdept.>"])
metadata = MetaData()
TALLY = Table(
    "tally", metadata, Column("key", String(50), primary_key=True), Column("n", Integer, nullable=False)
)
inbox.define_table_v1(metadata)


def decode(envelope: Envelope) -> str:
    text = envelope.payload.decode("utf-8", errors="strict") if envelope.payload.isascii() else None
    if not text or not text.startswith("count "):
        raise BadEvent("payload is not a tally event")
    return text.removeprefix("count ")


async def apply(session, batch) -> None:
    for delivered in batch:
        if delivered.event == "forbidden":
            raise InvariantBroken(delivered.envelope.event_id, "tally key 'forbidden' breaks the invariant")
        updated = await session.execute(
            update(TALLY).where(TALLY.c.key == delivered.event).values(n=TALLY.c.n + 1)
        )
        if updated.rowcount == 0:
            await session.execute(TALLY.insert().values(key=delivered.event, n=1))


@pytest.fixture
async def env(database_url, nats_server):
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    registry = new_registry()
    broker = bus.make_broker(nats_server.url, client_name="test-consumer", registry=registry)
    spec = ConsumerSpec(
        name="tester",
        stream=STREAM.name,
        filter_subject="testdept.>",
        max_deliver=3,
        batch_size=50,
        fetch_timeout_seconds=0.2,
    )
    dead_letters = DeadLetters(broker, "tester")
    consumer = BatchConsumer(
        broker=broker,
        sessions=sessions,
        spec=spec,
        decode=decode,
        apply=apply,
        metrics=ConsumerMetrics.create(registry),
        dead_letters=dead_letters,
    )
    js = await bus.connect(broker)
    await bus.declare_stream(js, STREAM)
    await bus.declare_stream(js, dead_letters.stream)
    await broker.start()
    await consumer.attach()
    yield sessions, js, consumer, registry
    await broker.stop()
    await engine.dispose()


async def publish(js, key: str, *, event_id: str | None = None, msg_id: str | None = None, headers=None):
    envelope = Envelope.new(
        subject="testdept.thing.counted.v1",
        source="lienthong/testdept",
        person="1:ab",
        aggregate_id="a",
        aggregate_version=1,
        agency="police",
        payload=f"count {key}".encode(),
    )
    h = envelope.headers()
    if event_id:
        h["ce-id"] = event_id
    if msg_id:
        h["Nats-Msg-Id"] = msg_id
    if headers is not None:
        h = headers
    await js.publish("testdept.thing.counted.v1", envelope.payload, headers=h, stream=STREAM.name)
    return h.get("ce-id")


async def tally(sessions) -> dict[str, int]:
    async with sessions() as session:
        return dict((await session.execute(select(TALLY.c.key, TALLY.c.n))).all())


async def test_same_event_delivered_twice_counts_once(env):
    sessions, js, _consumer, registry = env
    event_id = await publish(js, "a")
    # A second copy with another Nats-Msg-Id gets past JetStream de-duplication, as after the window.
    await publish(js, "a", event_id=event_id, msg_id="another-message-id")
    await publish(js, "b")
    await eventually(lambda: _equals(tally(sessions), {"a": 1, "b": 1}), message="tally applied")
    await eventually(lambda: _no_pending(js), message="all acked")
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(inbox.INBOX)) == 2
    assert (
        registry.get_sample_value(
            "lienthong_events_consumed_total",
            {"consumer": "tester", "subject": "testdept.thing.counted.v1", "outcome": "duplicate"},
        )
        == 1
    )


async def test_poison_events_go_to_the_dead_letter_stream_and_good_ones_flow(env):
    sessions, js, _consumer, _registry = env
    await publish(js, "x", headers={"ce-specversion": "1.0"})  # headers missing
    await js.publish(
        "testdept.thing.counted.v1", b"\xff\x00garbage", stream=STREAM.name
    )  # no envelope at all
    await publish(js, "forbidden")  # decodes, but the applier refuses it
    await publish(js, "good")
    await eventually(lambda: _equals(tally(sessions), {"good": 1}), message="good event applied")

    async def dead_count():
        return (await js.stream_info("DLQ_TESTER")).state.messages == 3

    await eventually(dead_count, message="three dead letters")
    reasons = []
    for seq in (1, 2, 3):
        msg = await js.get_msg("DLQ_TESTER", seq)
        reasons.append(msg.headers["lt-dlq-reason"])
        assert msg.headers["lt-dlq-original-subject"] == "testdept.thing.counted.v1"
    assert any("missing header" in r for r in reasons)
    assert any("breaks the invariant" in r for r in reasons)
    await eventually(lambda: _no_pending(js), message="nothing left pending")


async def _equals(awaitable, expected):
    return (await awaitable) == expected


async def _no_pending(js):
    info = await js.consumer_info(STREAM.name, "tester")
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_fetch_timeouts_surface_as_nats_timeouts(nats_server, monkeypatch):
    """FastStream's pull loop only survives nats.errors.TimeoutError; nats-py can raise a bare one when its
    wait for the server's first reply runs out. The plumbing makes fetch keep to the documented type."""
    import nats
    import nats.errors

    import lienthong.consumer  # noqa: F401  (installs the translation)

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.add_stream(name="EMPTY", subjects=["empty.>"])
    subscription = await js.pull_subscribe("empty.>", durable="probe", stream="EMPTY")

    async def reply_never_arrives(timeout=None):
        raise TimeoutError  # what nats-py's own wait raises

    monkeypatch.setattr(subscription._sub, "next_msg", reply_never_arrives)
    with pytest.raises(TimeoutError) as caught:
        await subscription.fetch(5, timeout=1)
    await nc.close()
    assert type(caught.value) is nats.errors.TimeoutError


# --- pause, resume, and reading the stream again from the start (reporting's rebuild) ---------------


async def test_a_paused_consumer_fetches_nothing_until_resumed(env):
    sessions, js, consumer, _registry = env
    await publish(js, "a")
    await eventually(lambda: _equals(tally(sessions), {"a": 1}), message="a applied")
    await consumer.pause()
    await consumer.pause()  # twice is harmless
    assert consumer.paused
    await publish(js, "b")
    await asyncio.sleep(1.0)  # five fetch timeouts of this consumer
    assert await tally(sessions) == {"a": 1}
    info = await js.consumer_info(STREAM.name, "tester")
    assert (info.num_pending, info.num_ack_pending) == (1, 0)
    await consumer.resume()
    assert not consumer.paused
    await eventually(lambda: _equals(tally(sessions), {"a": 1, "b": 1}), message="b applied after resume")
    await eventually(lambda: _no_pending(js), message="all acked")


async def test_recreated_from_the_start_it_reads_every_event_again_and_applies_only_new_ones(env):
    sessions, js, consumer, _registry = env
    for key in ("a", "b", "a"):
        await publish(js, key)
    await eventually(lambda: _equals(tally(sessions), {"a": 2, "b": 1}), message="applied once")
    with pytest.raises(RuntimeError, match="must be paused"):
        await consumer.recreate_from_start()
    await consumer.pause()
    await consumer.recreate_from_start()
    info = await js.consumer_info(STREAM.name, "tester")
    assert (info.num_pending, info.delivered.stream_seq) == (3, 0)
    await consumer.resume()
    # The inbox still holds the three events: each is delivered again and acked as a duplicate.
    await eventually(lambda: _no_pending(js), message="all acked again")
    assert await tally(sessions) == {"a": 2, "b": 1}
    await consumer.pause()
    async with sessions.begin() as session:
        await session.execute(delete(TALLY))
        await session.execute(delete(inbox.INBOX))
    await consumer.recreate_from_start()
    await consumer.resume()
    await eventually(lambda: _equals(tally(sessions), {"a": 2, "b": 1}), message="tally rebuilt")
    await eventually(lambda: _no_pending(js), message="all acked after the rebuild")


async def test_recreating_a_durable_that_was_lost_or_on_a_missing_stream(env):
    _sessions, js, consumer, _registry = env
    await consumer.pause()
    await js.delete_consumer(STREAM.name, "tester")
    await consumer.recreate_from_start()  # nothing to delete: created anyway
    assert (await js.consumer_info(STREAM.name, "tester")).config.deliver_policy == DeliverPolicy.ALL
    await js.delete_stream(STREAM.name)
    with pytest.raises(NotFoundError):
        await consumer.recreate_from_start()


async def test_a_replayed_poison_event_is_not_copied_to_the_dead_letters_twice(env):
    sessions, js, consumer, _registry = env
    await publish(js, "forbidden")
    await publish(js, "good")
    await eventually(lambda: _equals(tally(sessions), {"good": 1}), message="good event applied")
    await eventually(lambda: _no_pending(js), message="poison terminated")
    assert (await js.stream_info("DLQ_TESTER")).state.messages == 1
    # Past JetStream's duplicate window the copy's Nats-Msg-Id no longer protects: only the memory does.
    config = (await js.stream_info("DLQ_TESTER")).config
    config.duplicate_window = 0.2
    await js.update_stream(config=config)
    await asyncio.sleep(0.4)

    # A fresh DeadLetters, as after a restart: it reads what the stream holds at its first dead letter.
    consumer._dead_letters = DeadLetters(consumer._broker, "tester")
    await consumer.pause()
    async with sessions.begin() as session:
        await session.execute(delete(TALLY))
        await session.execute(delete(inbox.INBOX))
    await consumer.recreate_from_start()
    await consumer.resume()
    await eventually(lambda: _equals(tally(sessions), {"good": 1}), message="good event applied again")
    await eventually(lambda: _no_pending(js), message="poison terminated again")
    assert (await js.stream_info("DLQ_TESTER")).state.messages == 1
    # A poison event not held yet is copied, and then held too.
    await publish(js, "forbidden")
    await eventually(lambda: _no_pending(js), message="new poison terminated")
    assert (await js.stream_info("DLQ_TESTER")).state.messages == 2
    assert await consumer._dead_letters.load_held() == 2


async def test_the_dead_letters_held_are_read_to_the_end_even_when_the_server_answers_slowly(
    env, monkeypatch
):
    _sessions, js, consumer, _registry = env
    await publish(js, "forbidden")
    await eventually(lambda: _no_pending(js), message="poison terminated")
    fetch = JetStreamContext.PullSubscription.fetch
    slow = {"left": 2}

    async def slow_first_answers(self, batch=1, timeout=5, heartbeat=None):
        if batch == 1000 and slow["left"]:  # the dead-letter reader's fetches, not the consumer's
            slow["left"] -= 1
            raise nats.errors.TimeoutError
        return await fetch(self, batch, timeout, heartbeat)

    monkeypatch.setattr(JetStreamContext.PullSubscription, "fetch", slow_first_answers)
    assert await DeadLetters(consumer._broker, "tester").load_held() == 1
    assert slow["left"] == 0
