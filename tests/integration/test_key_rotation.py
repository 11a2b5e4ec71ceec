"""Rotation of the field keys while the registry runs and writes, on a real database (SQLite, PostgreSQL):
afterwards no value needs the old key, which can then be deleted; reads go on working throughout."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from lienthong import fieldkeys, keyrotation
from lienthong.cli import app
from lienthong.db import create_engine
from lienthong.fieldcrypto import FieldCipher, MasterKey
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import registry_pb2 as pb
from lienthong_contracts.registry.v1 import registry_pb2_grpc
from services.registry.main import build_plan
from services.registry.settings import RegistrySettings
from services.registry.storage.tables import persons
from tests.conftest import RunningService

pytestmark = pytest.mark.integration
READER = (("x-officer-id", "CA-HK-0042"), ("x-purpose", "key rotation check"))


@dataclass
class Operator:
    """What the operator works with: the service's settings and master key, and the database."""

    settings: RegistrySettings
    master: MasterKey
    engine: AsyncEngine


@pytest.fixture
async def operator(nats_server, database_url):
    settings = RegistrySettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0
    )
    engine = create_engine(database_url)
    try:
        yield Operator(settings, MasterKey(settings.master_key_bytes()), engine)
    finally:
        await engine.dispose()


def name(n: int) -> str:
    return f"Nguyễn Văn Số{n}"


async def register(stub, n: int) -> pb.RegisterPersonResponse:
    person = await stub.RegisterPerson(
        pb.RegisterPersonRequest(
            citizen_id=f"00109001{n:04d}",
            full_name=name(n),
            date_of_birth="1990-01-01",
            sex=common_pb2.SEX_MALE,
            commune_code="00070",
        )
    )
    await stub.RecordPositiveDrugTest(
        pb.RecordPositiveDrugTestRequest(
            person_id=person.person_id, tested_on="2025-01-05", substance="heroin", place=f"Nơi {n}"
        )
    )
    await stub.IssueManagementDecision(
        pb.IssueManagementDecisionRequest(
            person_id=person.person_id, decision_number=f"{n}/QĐ-UBND", decided_on="2025-01-10"
        )
    )
    return person


async def all_read_back(stub, people: dict[int, str]) -> None:
    for n, person_id in people.items():
        record = await stub.GetPerson(pb.GetPersonRequest(person_id=person_id), metadata=READER)
        assert (record.full_name, record.citizen_id) == (name(n), f"00109001{n:04d}")
        assert [t.place for t in record.drug_tests] == [f"Nơi {n}"]
        assert [m.decision_number for m in record.managements] == [f"{n}/QĐ-UBND"]


WRITTEN = (
    "persons.citizen_id_enc",
    "persons.full_name_enc",
    "drug_tests.place_enc",
    "managements.decision_number_enc",
)


def on_version(found: keyrotation.KeyStatus, version: int, columns=WRITTEN) -> set[int]:
    """How many values of each column are on that key version (as a set: all equal → one number)."""
    return {found.values[column].get(version, 0) for column in columns}


async def test_rotation_while_the_service_writes_leaves_nothing_on_the_old_key(operator):
    settings, master, engine = operator.settings, operator.master, operator.engine
    async with RunningService(build_plan(settings)) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            people = {n: (await register(stub, n)).person_id for n in range(12)}
            before = await keyrotation.status(engine)
            assert on_version(before, 1) == {12}

            # The operator rotates while staff go on registering people and reading records.
            progress: list[keyrotation.Progress] = []

            async def staff_at_work() -> dict[int, str]:
                added = {n: (await register(stub, n)).person_id for n in range(12, 20)}
                await all_read_back(stub, people)
                return added

            rotation, added = await asyncio.gather(
                keyrotation.rotate(engine, master, batch_size=5, on_progress=progress.append),
                staff_at_work(),
            )
            people.update(added)
            assert rotation.version == 2 and rotation.remaining == 0 and rotation.undecryptable == []
            assert rotation.rows["persons"] >= 12 and progress
            assert all(p.done <= p.total for p in progress)

            after = await keyrotation.status(engine)
            assert on_version(after, 1, after.values) == {0}, after.values  # nothing needs key v1
            assert on_version(after, 2) == {20}
            assert not any(None in counts for counts in after.values.values())
            people[20] = (await register(stub, 20)).person_id  # new writes take v2
            async with service.plan.infra.sessions() as session:
                tokens = (await session.execute(select(persons.c.full_name_enc))).scalars().all()
            assert len(tokens) == 21 and all(t.startswith("2:") for t in tokens)
            await all_read_back(stub, people)

    # The old key is deleted for good; a restarted service reads everything.
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM data_keys WHERE purpose = 'field' AND version = 1"))
    async with RunningService(build_plan(settings)) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            await all_read_back(registry_pb2_grpc.RegistryServiceStub(channel), people)
    kept = [(k.purpose, k.version) for k in (await keyrotation.status(engine)).keys]
    assert kept == [("blind_index", 1), ("field", 2)]  # no new "v1" was made at the restart


async def test_a_moved_value_is_named_and_left_alone_by_the_rotation(operator):
    settings, master, engine = operator.settings, operator.master, operator.engine
    async with RunningService(build_plan(settings)) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            a, b = await register(stub, 1), await register(stub, 2)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE persons SET full_name_enc = (SELECT full_name_enc FROM persons WHERE person_id = :a)"
                " WHERE person_id = :b"
            ),
            {"a": a.person_id, "b": b.person_id},
        )
    rotation = await keyrotation.rotate(engine, master, batch_size=1)
    assert rotation.undecryptable == [f"persons.full_name_enc {b.person_id}"]
    assert rotation.remaining == 1 and rotation.rows["persons"] == 1


async def test_keys_rotate_command_reports_progress_and_needs_the_services_master_key(
    operator, database_url, monkeypatch
):
    settings = operator.settings
    monkeypatch.delenv("LIENTHONG_MASTER_KEY", raising=False)
    runner = CliRunner()

    async def cli(*args: str, env: dict | None = None):
        return await asyncio.to_thread(runner.invoke, app, list(args), env=env)

    async with RunningService(build_plan(settings)) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            people = {n: (await register(stub, n)).person_id for n in range(3)}

            refused = await cli(
                "keys", "rotate", "--database-url", database_url, env={"LIENTHONG_MASTER_KEY": "cd" * 32}
            )
            assert refused.exit_code == 1 and "cannot rotate" in refused.output
            assert operator.master.key_id in refused.output

            done = await cli("keys", "rotate", "--database-url", database_url, "--batch-size", "2")
            assert done.exit_code == 0, done.output
            assert "persons: 2/3 rows re-encrypted" in done.output
            assert "persons: 3/3 rows re-encrypted" in done.output
            assert "no value needs a key older than v2" in done.output  # v2: the refused run added none
            await all_read_back(stub, people)

            shown = await cli("keys", "status", "--database-url", database_url)
            assert shown.exit_code == 0, shown.output
            assert "persons.full_name_enc" in shown.output and "blind_index" in shown.output
            row = next(line for line in shown.output.splitlines() if "persons.full_name_enc" in line)
            cells = [cell.strip() for cell in row.split("│") if cell.strip()]
            assert cells == ["persons.full_name_enc", "0", "3", "0"]  # v1, v2, under no known key


async def test_a_value_written_with_the_old_key_behind_the_pass_is_caught_by_the_next_sweep(operator):
    """A service transaction that took its cipher just before the new key committed writes with the old
    key; if that row is already behind the rotation's cursor, the next sweep must still move it."""
    settings, master, engine = operator.settings, operator.master, operator.engine
    async with RunningService(build_plan(settings)) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            people = {n: (await register(stub, n)).person_id for n in range(6)}
            async with engine.connect() as connection:
                fields, index = await connection.run_sync(lambda c: fieldkeys.load(c, master))
            stale = FieldCipher({1: fields[1]}, 1, index)  # what the service held before the rotation
            n_first, first = min(people.items(), key=lambda item: item[1])
            wrote: list[str] = []

            async def meanwhile(p: keyrotation.Progress) -> None:
                if p.table == "persons" and not wrote:  # the first batch, holding `first`, is done
                    token = stale.encrypt("persons", "full_name_enc", first, name(n_first))
                    async with engine.begin() as connection:
                        await connection.execute(
                            text("UPDATE persons SET full_name_enc = :t WHERE person_id = :p"),
                            {"t": token, "p": first},
                        )
                    wrote.append(token)

            rotation = await keyrotation.rotate(
                engine, master, batch_size=2, settle_seconds=0, on_progress=meanwhile
            )
            assert wrote and rotation.sweeps == 2 and rotation.remaining == 0
            after = await keyrotation.status(engine)
            assert on_version(after, 1, after.values) == {0}
            await all_read_back(stub, people)


async def test_a_service_reads_values_under_a_key_it_has_not_loaded_yet_and_then_writes_with_it(operator):
    """The service looks for a newer key only now and then; a value under a key it does not hold yet makes
    it load the keys at once instead of failing the read."""
    settings, master, engine = operator.settings, operator.master, operator.engine
    async with RunningService(build_plan(settings)) as service:
        service.plan.infra.field_keys.refresh_seconds = 3600  # it would not look again during this test
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            people = {n: (await register(stub, n)).person_id for n in range(3)}
            rotation = await keyrotation.rotate(engine, master, settle_seconds=0)
            assert rotation.version == 2 and rotation.remaining == 0
            await all_read_back(stub, people)
            people[3] = (await register(stub, 3)).person_id
            async with service.plan.infra.sessions() as session:
                token = await session.scalar(
                    select(persons.c.full_name_enc).where(persons.c.person_id == people[3])
                )
            assert token.startswith("2:")
