"""NATS separation, attacked: a real nats-server 2.15 started from the configuration lienthong.natsauth
generates from the data-sharing policy, each department connecting with its own nkey.

Every attack is checked twice: the client is told "permissions violation" for the subject, and the
server's own view (the monitoring endpoint /jsz, which needs no credentials) shows nothing changed: no
message stored, no consumer created, nothing delivered. The streams and the granted durables are set up by
the same code the services run at start (``bus.declare_stream``, ``runtime.declare_granted_durables``).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig

from lienthong import bus, natsauth, policy
from lienthong.deadletter import dead_letter_stream
from lienthong.natsserver import NatsServer, find_binary
from lienthong.policy import DEPARTMENTS, SERVICES
from lienthong.runtime import declare_granted_durables

pytestmark = pytest.mark.integration

POLICY = policy.load()
TODAY = date.today()
GRANTS = natsauth.grants(POLICY, TODAY)
STREAMS = [natsauth.stream_of(d) for d in DEPARTMENTS]


def probe_subjects(department: str) -> list[str]:
    """What each owner publishes: every literal subject the policy grants on its stream, and one no
    consumer but its wildcard readers (reporting) may see."""
    literal = {g.filter_subject for g in GRANTS if g.owner == department and "*" not in g.filter_subject}
    literal = {s for s in literal if not s.endswith(">")}
    return sorted(literal | {f"{department}.probe.unshared.v1"})


def matches(pattern: str, subject: str) -> bool:
    wanted, tokens = pattern.split("."), subject.split(".")
    for i, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > i
        if i >= len(tokens) or token not in ("*", tokens[i]):
            return False
    return len(tokens) == len(wanted)


class Accounts:
    """A running server with the generated accounts, streams declared and probe events published."""

    def __init__(self, folder: Path) -> None:
        self.keys = folder / "keys"
        public = natsauth.ensure_keys(self.keys)
        self.server = NatsServer(
            folder / "nats", extra_config=natsauth.accounts_config(POLICY, public, TODAY)
        ).start()

    def seed(self, service: str) -> str:
        return str(natsauth.key_file(self.keys, service))

    async def connect(self, service: str, errors: list[str] | None = None) -> nats.NATS:
        async def collect(exc: Exception) -> None:
            if errors is not None:
                errors.append(str(exc))

        return await nats.connect(
            self.server.url, nkeys_seed=self.seed(service), error_cb=collect, allow_reconnect=False
        )

    async def set_up(self) -> None:
        for service in SERVICES:
            connection = await self.connect(service)
            try:
                js = connection.jetstream()
                if service in DEPARTMENTS:
                    stream = natsauth.stream_of(service)
                    await bus.declare_stream(js, bus.StreamSpec(stream, [f"{service}.>"]))
                    await declare_granted_durables(js, service, TODAY)
                    for subject in probe_subjects(service):
                        await js.publish(subject, f"{subject} #1".encode(), stream=stream)
                await bus.declare_stream(js, dead_letter_stream(service))
            finally:
                await connection.close()

    def jsz(self) -> dict:
        """The server's view of every account's streams and consumers (monitoring port, loopback)."""
        url = f"{self.server.monitor_url}/jsz?accounts=true&streams=true&consumers=true&config=true"
        with urllib.request.urlopen(url, timeout=5) as response:
            data = json.load(response)
        view: dict = {}
        for account in data.get("account_details", []):
            for stream in account.get("stream_detail", []):
                view[(account["name"], stream["name"])] = {
                    "messages": stream["state"]["messages"],
                    "consumers": {
                        c["name"]: {
                            "filter": c["config"].get("filter_subject"),
                            "delivered": c["delivered"]["stream_seq"],
                            "ack_pending": c["num_ack_pending"],
                        }
                        for c in stream.get("consumer_detail", [])
                    },
                }
        return view

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Accounts]:
    system = Accounts(tmp_path_factory.mktemp("accounts"))
    try:
        asyncio.run(system.set_up())
        yield system
    finally:
        system.stop()


class Attempts:
    """Attacks run concurrently: each must get no answer and a permissions violation for its subject."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.calls: list = []

    def add(self, subject: str, call) -> None:
        self.calls.append((subject, call))

    async def all_refused(self) -> None:
        assert self.calls
        await asyncio.gather(*(refused(call, self.errors, subject) for subject, call in self.calls))


async def refused(call, errors: list[str], subject: str, *, timeout: float = 0.5) -> None:
    """``call`` gets no answer, and the server reported a permissions violation for ``subject``."""
    try:
        answer = await asyncio.wait_for(call(), timeout)
    except (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError):
        answer = None
    except nats.js.errors.APIError as exc:  # an answer from some JetStream, refusing: still no data
        answer = None
        assert exc.code in (403, 404, 503), exc
    assert answer is None, f"{subject}: expected a refusal, got {answer!r}"
    await asyncio.sleep(0.1)
    assert any(f'"{subject.lower()}"' in e for e in errors), (
        f"no permissions violation for {subject}: {errors}"
    )


# --- the configuration --------------------------------------------------------------------------------


def test_generated_config_passes_nats_server_check(tmp_path: Path) -> None:
    config = natsauth.generate(tmp_path, listen="127.0.0.1:4222", monitor="127.0.0.1:8222", store_dir="/data")
    result = subprocess.run(
        [find_binary(), "-t", "-c", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert config.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    for service in SERVICES:
        key = natsauth.key_file(tmp_path / "keys", service)
        assert key.stat().st_mode & 0o777 == 0o600
        assert key.read_text().startswith("SU"), "a user nkey seed"
        # The configuration holds public keys only, never a seed.
        assert natsauth.public_key(key) in config.read_text()
        assert key.read_text().strip() not in config.read_text()
    text = config.read_text()
    assert "sync_interval: always" in text and "http: 127.0.0.1:8222" in text


def test_an_import_the_owner_did_not_export_to_that_account_fails_the_check(tmp_path: Path) -> None:
    """rehab is not granted health's methadone outcomes: importing aftercare's durable is refused by
    ``nats-server -t`` itself, so a hand-edited config cannot widen the policy silently."""
    config = natsauth.generate(tmp_path, listen="127.0.0.1:4222", monitor="127.0.0.1:8222", store_dir="/data")
    text = config.read_text()
    stolen = (
        '{ service: { account: "HEALTH", subject: "$JS.API.CONSUMER.MSG.NEXT.HEALTH.aftercare-health" }, '
        'to: "JS.HEALTH.API.CONSUMER.MSG.NEXT.HEALTH.aftercare-health" }'
    )
    rehab = text.index("  REHAB {")
    imports = text.index("    imports: [\n", rehab) + len("    imports: [\n")
    config.write_text(text[:imports] + f"      {stolen}\n" + text[imports:])
    result = subprocess.run(
        [find_binary(), "-t", "-c", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "not authorized" in (result.stdout + result.stderr).lower()


def test_every_policy_flow_has_exactly_one_export_and_import() -> None:
    for grant in GRANTS:
        owner_exports = natsauth.exports(grant.owner, POLICY, TODAY)
        mine = [e for e in owner_exports if f".{grant.stream}.{grant.durable}" in e["service"]]
        assert len(mine) == 3 and all(e["accounts"] == [grant.reader.upper()] for e in mine)
        reader_imports = natsauth.imports(grant.reader, POLICY, TODAY)
        assert sum(f".{grant.stream}.{grant.durable}" in i["service"]["subject"] for i in reader_imports) == 3
    # Nothing is exported that the policy does not grant.
    exported = [e for s in SERVICES for e in natsauth.exports(s, POLICY, TODAY)]
    assert len(exported) == 3 * len(GRANTS)


# --- connecting ---------------------------------------------------------------------------------------


async def test_no_credentials_or_an_unknown_key_is_refused(accounts: Accounts, tmp_path: Path) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(accounts.server.url, allow_reconnect=False, max_reconnect_attempts=0)
    stranger = natsauth.ensure_keys(tmp_path / "stranger", ["registry"])
    assert stranger["registry"] not in natsauth.accounts_config(
        POLICY, natsauth.ensure_keys(accounts.keys), TODAY
    )
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            accounts.server.url,
            nkeys_seed=str(natsauth.key_file(tmp_path / "stranger", "registry")),
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )


# --- attacks, by each service's own credentials -------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_publishing_on_another_departments_subjects_is_refused(
    accounts: Accounts, service: str
) -> None:
    before = accounts.jsz()
    errors: list[str] = []
    connection = await accounts.connect(service, errors)
    attempts = Attempts(errors)
    try:
        js = connection.jetstream()
        for department in DEPARTMENTS:
            if department == service:
                continue
            stream = natsauth.stream_of(department)
            subject = f"{department}.probe.forged.v1"
            attempts.add(subject, lambda s=subject, st=stream: js.publish(s, b"forged", stream=st))
            dlq = f"dlq.{department}.{department}.probe.forged.v1"
            attempts.add(dlq, lambda s=dlq: js.publish(s, b"forged"))
        if service == "reporting":  # reporting owns no event stream at all
            attempts.add("reporting.x.y.v1", lambda: js.publish("reporting.x.y.v1", b"forged"))
        await attempts.all_refused()
    finally:
        await connection.close()
    assert accounts.jsz() == before, "a forged event was stored"


@pytest.mark.parametrize("service", SERVICES)
async def test_subscribing_to_everything_or_other_departments_receives_nothing(
    accounts: Accounts, service: str
) -> None:
    errors: list[str] = []
    connection = await accounts.connect(service, errors)
    received = []

    async def record(message) -> None:
        received.append(message.subject)

    try:
        targets = [">", "*.>", *(f"{d}.>" for d in DEPARTMENTS), "$JS.>", "_INBOX_OTHER.>"]
        for subject in targets:
            await connection.subscribe(subject, cb=record)
        await connection.flush()
        # Traffic in the service's own account while it listens: one of its own events.
        if service in DEPARTMENTS:
            owner_js = connection.jetstream()
            await owner_js.publish(f"{service}.probe.listened.v1", b"own", stream=natsauth.stream_of(service))
        await asyncio.sleep(0.3)
        for subject in targets:
            assert any(f'subscription to "{subject.lower()}"' in e for e in errors), (subject, errors)
    finally:
        await connection.close()
    assert received == []


@pytest.mark.parametrize("service", SERVICES)
async def test_creating_or_changing_consumers_is_refused(accounts: Accounts, service: str) -> None:
    before = accounts.jsz()
    errors: list[str] = []
    connection = await accounts.connect(service, errors)
    attempts = Attempts(errors)
    try:
        for stream in STREAMS:  # its own stream too: an owner creates only the durables the policy grants
            everything = f"{stream.lower()}.>"
            for prefix in ("$JS.API", natsauth.api_prefix(stream)):
                js = connection.jetstream(prefix=prefix)
                spy = ConsumerConfig(durable_name="spy", name="spy", filter_subject=everything)
                attempts.add(
                    f"{prefix}.CONSUMER.CREATE.{stream}.spy.{everything}",
                    lambda js=js, st=stream, c=spy: js.add_consumer(st, c),
                )
                attempts.add(
                    f"{prefix}.CONSUMER.DURABLE.CREATE.{stream}.spy",
                    lambda js=js, st=stream: js.add_consumer(st, ConsumerConfig(durable_name="spy")),
                )
                ephemeral = ConsumerConfig(filter_subject=everything)
                attempts.add(
                    f"{prefix}.CONSUMER.CREATE.{stream}",
                    lambda js=js, st=stream, c=ephemeral: js.add_consumer(st, c),
                )
        # Nor widen, or delete, the durable the policy granted to it.
        for grant in (g for g in GRANTS if g.reader == service):
            prefix = natsauth.api_prefix(grant.stream)
            js = connection.jetstream(prefix=prefix)
            wider = ConsumerConfig(
                durable_name=grant.durable, name=grant.durable, filter_subject=f"{grant.owner}.>"
            )
            attempts.add(
                f"{prefix}.CONSUMER.CREATE.{grant.stream}.{grant.durable}.{grant.owner}.>",
                lambda js=js, g=grant, c=wider: js.add_consumer(g.stream, c),
            )
            for delete in (
                f"{p}.CONSUMER.DELETE.{grant.stream}.{grant.durable}" for p in ("$JS.API", prefix)
            ):
                attempts.add(delete, lambda s=delete: connection.request(s, b""))
        await attempts.all_refused()
    finally:
        await connection.close()
    assert accounts.jsz() == before, "a consumer was created, changed or deleted"


@pytest.mark.parametrize("service", SERVICES)
async def test_direct_reads_of_stream_messages_are_refused(accounts: Accounts, service: str) -> None:
    errors: list[str] = []
    connection = await accounts.connect(service, errors)
    attempts = Attempts(errors)
    try:
        for stream in STREAMS:
            if stream == natsauth.stream_of(service):
                continue
            for prefix in ("$JS.API", natsauth.api_prefix(stream)):
                for api, body in (
                    (f"STREAM.MSG.GET.{stream}", b'{"seq": 1}'),
                    (f"DIRECT.GET.{stream}", b'{"seq": 1}'),
                    (f"DIRECT.GET.{stream}.{stream.lower()}.probe.unshared.v1", b""),
                    (f"STREAM.INFO.{stream}", b""),
                    (f"CONSUMER.LIST.{stream}", b""),
                ):
                    subject = f"{prefix}.{api}"
                    attempts.add(subject, lambda s=subject, b=body: connection.request(s, b))
        for api in ("STREAM.LIST", "STREAM.NAMES", "INFO"):
            subject = f"$JS.API.{api}"
            attempts.add(subject, lambda s=subject: connection.request(s, b""))
        await attempts.all_refused()
    finally:
        await connection.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_reading_through_a_durable_granted_to_another_department_is_refused(
    accounts: Accounts, service: str
) -> None:
    before = accounts.jsz()
    errors: list[str] = []
    connection = await accounts.connect(service, errors)
    attempts = Attempts(errors)
    try:
        for grant in GRANTS:
            if grant.reader == service:
                continue
            for prefix in ("$JS.API", natsauth.api_prefix(grant.stream)):
                for api in ("MSG.NEXT", "INFO"):
                    if api == "INFO" and prefix == "$JS.API" and grant.owner == service:
                        continue  # an owner inspects the durables it created on its own stream
                    subject = f"{prefix}.CONSUMER.{api}.{grant.stream}.{grant.durable}"
                    body = b'{"batch": 10, "expires": 300000000}' if api == "MSG.NEXT" else b""
                    attempts.add(subject, lambda s=subject, b=body: connection.request(s, b))
            ack = f"$JS.ACK.{grant.stream}.{grant.durable}.1.1.1.1.0"
            attempts.add(ack, lambda s=ack: connection.request(s, b"+ACK"))
        await attempts.all_refused()
    finally:
        await connection.close()
    assert accounts.jsz() == before, "something was delivered through another department's durable"


# --- what the policy grants works, and only within its filter ------------------------------------------


async def test_each_receiver_reads_exactly_its_filter_through_its_granted_durable(tmp_path: Path) -> None:
    system = Accounts(tmp_path)
    try:
        await system.set_up()
        stored = {d: probe_subjects(d) for d in DEPARTMENTS}
        for grant in GRANTS:
            connection = await system.connect(grant.reader)
            try:
                js = connection.jetstream(prefix=natsauth.api_prefix(grant.stream))
                info = await js.consumer_info(grant.stream, grant.durable)
                assert info.config.filter_subject == grant.filter_subject
                subscription = await js.pull_subscribe_bind(durable=grant.durable, stream=grant.stream)
                got = []
                while True:
                    try:
                        messages = await subscription.fetch(batch=50, timeout=0.5)
                    except nats.errors.TimeoutError:
                        break
                    for message in messages:
                        got.append(message.subject)
                        await message.ack_sync()
                expected = [s for s in stored[grant.owner] if matches(grant.filter_subject, s)]
                assert sorted(got) == expected, grant
                assert got, f"{grant.durable} should see something"
            finally:
                await connection.close()
        view = system.jsz()
        for grant in GRANTS:
            durable = view[(natsauth.account_of(grant.owner), grant.stream)]["consumers"][grant.durable]
            assert durable["ack_pending"] == 0 and durable["filter"] == grant.filter_subject
        # The owner's streams hold exactly the durables the policy grants, nothing more.
        for department in DEPARTMENTS:
            consumers = view[(natsauth.account_of(department), natsauth.stream_of(department))]["consumers"]
            assert set(consumers) == {g.durable for g in GRANTS if g.owner == department}
    finally:
        system.stop()


def test_monitoring_listens_on_loopback_and_jetstream_fsyncs_every_write(accounts: Accounts) -> None:
    varz = accounts.server.varz()
    assert varz["http_host"] == "127.0.0.1"
    assert varz["jetstream"]["config"].get("sync_always") is True


# --- the plumbing a service runs, under accounts --------------------------------------------------------


async def test_a_consumer_waits_for_its_granted_durable_binds_to_it_and_dead_letters_to_its_own_stream(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lienthong.consumer import BatchConsumer, ConsumerSpec
    from lienthong.db import create_engine, session_factory
    from lienthong.deadletter import DeadLetters
    from lienthong.envelope import Envelope
    from lienthong.metrics import ConsumerMetrics, new_registry
    from tests.conftest import eventually
    from tests.integration.test_consumer import apply, decode, metadata, tally

    grant = next(g for g in GRANTS if g.durable == "health")
    system = Accounts(tmp_path)
    engine = create_engine(f"sqlite:///{tmp_path / 'health.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    registry = new_registry()
    broker = bus.make_broker(
        system.server.url,
        client_name="lienthong-health",
        registry=registry,
        nkey_seed_file=Path(system.seed("health")),
    )
    dead_letters = DeadLetters(broker, "health")
    consumer = BatchConsumer(
        broker=broker,
        sessions=sessions,
        spec=ConsumerSpec(
            name=grant.durable,
            stream=grant.stream,
            filter_subject=grant.filter_subject,
            max_deliver=10,
            fetch_timeout_seconds=0.2,
        ),
        decode=decode,
        apply=apply,
        metrics=ConsumerMetrics.create(registry),
        dead_letters=dead_letters,
    )
    owner = None
    try:
        js = await bus.connect(broker)
        await bus.declare_stream(js, dead_letters.stream)
        await broker.start()
        attaching = asyncio.create_task(consumer.attach(granted=True))
        await asyncio.sleep(1.0)
        assert not consumer.attached.is_set(), "bound before the owner created the durable"

        owner = await system.connect("registry")
        owner_js = owner.jetstream()
        await bus.declare_stream(owner_js, bus.StreamSpec("REGISTRY", ["registry.>"]))
        await declare_granted_durables(owner_js, "registry", TODAY)
        await attaching
        # The server gives up after its own max_deliver: the consumer dead-letters before that.
        assert consumer.spec.max_deliver == bus.MAX_DELIVER

        def event(subject: str, payload: bytes) -> tuple[str, bytes, dict]:
            envelope = Envelope.new(
                subject=subject,
                source="lienthong/registry",
                person="1:ab",
                aggregate_id="a",
                aggregate_version=1,
                agency="police",
                payload=payload,
            )
            return subject, payload, envelope.headers()

        for subject, payload, headers in (
            event(grant.filter_subject, b"count a"),
            event(grant.filter_subject, b"poison"),
            event("registry.person.registered.v1", b"count not-for-health"),
        ):
            await owner_js.publish(subject, payload, headers=headers, stream="REGISTRY")

        async def settled():
            info = await consumer.info()
            return await tally(sessions) == {"a": 1} and not info.num_pending and not info.num_ack_pending

        await eventually(settled, message="health applied its one event")
        dlq = await js.stream_info(dead_letters.stream.name)
        assert dlq.state.messages == 1
        consumers = system.jsz()[("REGISTRY", "REGISTRY")]["consumers"]
        assert set(consumers) == {g.durable for g in GRANTS if g.owner == "registry"}
        # A refusal reaches the service's log, naming the subject.
        with caplog.at_level("WARNING", logger="lienthong.bus"):
            await broker.publish(b"forged", "registry.person.registered.v1")
            await eventually(
                lambda: _async(any("NATS refused" in r.message for r in caplog.records)),
                timeout=5,
                message="the refusal logged",
            )
    finally:
        await consumer.close()
        await broker.stop()
        if owner is not None:
            await owner.close()
        await engine.dispose()
        system.stop()


async def _async(value):
    return value
