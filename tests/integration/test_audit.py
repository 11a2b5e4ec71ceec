"""The audit chain of personal-data reads, attacked: on a real department service and a real database."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from lienthong import audit
from lienthong.cli import app
from lienthong.settings import AuditSettings
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import registry_pb2, registry_pb2_grpc
from services.registry.main import build_plan
from services.registry.settings import RegistrySettings
from tests.conftest import RunningService

pytestmark = pytest.mark.integration
KEY = AuditSettings().audit_key_bytes()
READER = (("x-officer-id", "CA-HK-0042"), ("x-purpose", "verify identity"), ("x-request-id", "req-7"))


@pytest.fixture
async def registry(nats_server, database_url):
    settings = RegistrySettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0
    )
    async with RunningService(build_plan(settings)) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            yield registry_pb2_grpc.RegistryServiceStub(channel), service, database_url


async def register(stub, n: int) -> registry_pb2.RegisterPersonResponse:
    return await stub.RegisterPerson(
        registry_pb2.RegisterPersonRequest(
            citizen_id=f"00109001{n:04d}",
            full_name="Nguyễn Văn An",
            date_of_birth="1990-01-01",
            sex=common_pb2.SEX_MALE,
            commune_code="00070",
        )
    )


async def records(service) -> list[audit.Record]:
    async with service.plan.infra.sessions() as session:
        return await audit.all_records(session)


async def sql(service, *statements: str) -> None:
    async with service.plan.infra.sessions.begin() as session:
        for statement in statements:
            await session.execute(text(statement))


DROP_GUARDS = {
    "sqlite": ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
    "postgresql": ["DROP TRIGGER audit_log_no_change ON audit_log"],
}


async def test_n_concurrent_reads_make_n_chained_records(registry):
    stub, service, _ = registry
    people = [await register(stub, n) for n in range(5)]
    reads = [
        stub.GetPerson(registry_pb2.GetPersonRequest(person_id=p.person_id), metadata=READER)
        for p in people
        for _ in range(4)
    ]
    answers = await asyncio.gather(*reads)
    assert len(answers) == 20
    chain = await records(service)
    assert len(chain) == 20 and sorted(r.seq for r in chain) == list(range(1, 21))
    assert {r.read.request_id for r in chain} == {"req-7"}
    assert audit.verify(chain, KEY).ok
    first = people[0]
    async with service.plan.infra.sessions() as session:
        seen = await audit.query(session, subject=first.pseudonym)
        by_officer = await audit.query(session, officer_id="CA-HK-0042")
    assert len(seen) == 4 and {r.read.record_id for r in seen} == {first.person_id}
    assert len(by_officer) == 20


async def test_a_read_whose_audit_cannot_be_written_returns_no_data(registry):
    stub, service, url = registry
    person = await register(stub, 1)
    sabotage = {
        "sqlite": [
            "CREATE TRIGGER audit_full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        ],
        "postgresql": [
            "CREATE FUNCTION audit_full() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
            "CREATE TRIGGER audit_full BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_full()",
        ],
    }
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    await sql(service, *sabotage[dialect])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetPerson(
            registry_pb2.GetPersonRequest(person_id=person.person_id),
            metadata=(*READER, ("accept-language", "en")),
        )
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "could not be recorded in the audit log" in refused.value.details()
    assert "Nguyễn" not in str(refused.value)
    assert await records(service) == []


async def test_the_table_refuses_changes_and_verify_names_the_first_bad_record(registry, tmp_path):
    stub, service, url = registry
    person = await register(stub, 1)
    for _ in range(5):
        await stub.GetPerson(registry_pb2.GetPersonRequest(person_id=person.person_id), metadata=READER)
    with pytest.raises(Exception, match="append-only"):
        await sql(service, "UPDATE audit_log SET purpose = 'nothing' WHERE seq = 2")
    with pytest.raises(Exception, match="append-only"):
        await sql(service, "DELETE FROM audit_log WHERE seq = 2")
    assert audit.verify(await records(service), KEY).ok

    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    await sql(service, *DROP_GUARDS[dialect])  # an intruder with the database's own rights

    # Edited: record 3's purpose changed.
    await sql(service, "UPDATE audit_log SET purpose = 'routine' WHERE seq = 3")
    verdict = audit.verify(await records(service), KEY)
    assert (verdict.ok, verdict.first_bad, verdict.reason) == (False, 3, "its content was changed")
    await sql(service, "UPDATE audit_log SET purpose = 'verify identity' WHERE seq = 3")
    assert audit.verify(await records(service), KEY).ok

    # Reordered: records 2 and 4 swap places (their numbers).
    await sql(
        service,
        "UPDATE audit_log SET seq = 100 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE seq = 100",
    )
    verdict = audit.verify(await records(service), KEY)
    assert (verdict.ok, verdict.first_bad) == (False, 2)

    # Deleted: put them back, then remove record 4.
    await sql(
        service,
        "UPDATE audit_log SET seq = 100 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE seq = 100",
    )
    assert audit.verify(await records(service), KEY).ok
    await sql(service, "DELETE FROM audit_log WHERE seq = 4")
    verdict = audit.verify(await records(service), KEY)
    assert (verdict.ok, verdict.first_bad, verdict.reason) == (False, 5, "record 4 is missing")

    # The operator's command says the same, with exit status 1.
    result = await asyncio.to_thread(CliRunner().invoke, app, ["audit", "verify", "--database-url", url])
    assert result.exit_code == 1 and "chain broken at record 5: record 4 is missing" in result.output
    # A chain rebuilt without the key does not verify either.
    assert not audit.verify(await records(service), b"someone else's key, 32 bytes long!").ok


async def test_audit_query_from_the_command_line(registry):
    stub, _, url = registry
    person = await register(stub, 3)
    await stub.GetPerson(registry_pb2.GetPersonRequest(person_id=person.person_id), metadata=READER)
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["audit", "query", "--person", person.pseudonym, "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert "1 reads" in result.output and "CA-HK-0042" in result.output and "verify identity" in result.output
    ok = await asyncio.to_thread(CliRunner().invoke, app, ["audit", "verify", "--database-url", url])
    assert ok.exit_code == 0 and "1 records, chain intact" in ok.output
    nothing = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["audit", "query", "--officer", "CA-HK-0042", "--to", "2020-01-01", "--database-url", url],
    )
    assert "0 reads" in nothing.output
