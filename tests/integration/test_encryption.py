"""Personal fields encrypted at rest, attacked on a real registry and a real database (SQLite and
PostgreSQL): the stored bytes hold no name or citizen ID, a value moved to another row or column does not
decrypt, citizen IDs are unique and found through the blind index only, a wrong master key stops the
service, and rows written before encryption are encrypted when the service first starts."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from lienthong import fieldkeys, migrate
from lienthong.db import create_engine
from lienthong.fieldcrypto import KeyRingError, MasterKey
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import registry_pb2 as pb
from lienthong_contracts.registry.v1 import registry_pb2_grpc
from services.registry import storage
from services.registry.main import MIGRATIONS, build_plan
from services.registry.settings import RegistrySettings
from services.registry.storage.tables import audit_log, persons
from tests.conftest import RunningService, plaintext_in, stored_bytes

pytestmark = pytest.mark.integration

READER = (("x-officer-id", "CA-HK-0042"), ("x-purpose", "verify identity"), ("accept-language", "en"))
AN = ("001099012345", "Nguyễn Văn An", "1999-04-02", common_pb2.SEX_MALE)
HOA = ("001199054321", "Trần Thị Hoà", "1999-07-07", common_pb2.SEX_FEMALE)
OTHER_MASTER_KEY = "ab" * 32


def settings_for(nats_server, database_url: str, **overrides) -> RegistrySettings:
    return RegistrySettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0, **overrides
    )


@pytest.fixture
async def registry(nats_server, database_url):
    async with RunningService(build_plan(settings_for(nats_server, database_url))) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            yield registry_pb2_grpc.RegistryServiceStub(channel), service, database_url


async def register(stub, who) -> pb.RegisterPersonResponse:
    citizen_id, name, born, sex = who
    return await stub.RegisterPerson(
        pb.RegisterPersonRequest(
            citizen_id=citizen_id, full_name=name, date_of_birth=born, sex=sex, commune_code="00070"
        )
    )


async def read(stub, person_id: str) -> pb.Person:
    return await stub.GetPerson(pb.GetPersonRequest(person_id=person_id), metadata=READER)


async def sql(service, statement: str, **params) -> list:
    async with service.plan.infra.sessions.begin() as session:
        result = await session.execute(text(statement), params)
        return result.all() if result.returns_rows else []


async def test_after_normal_use_the_stored_bytes_hold_no_name_citizen_id_or_note(registry):
    stub, service, url = registry
    an, hoa = await register(stub, AN), await register(stub, HOA)
    await stub.RecordPositiveDrugTest(
        pb.RecordPositiveDrugTestRequest(
            person_id=an.person_id, tested_on="2025-01-05", substance="heroin", place="Nhà số 5 ngõ Huế"
        )
    )
    await stub.IssueManagementDecision(
        pb.IssueManagementDecisionRequest(
            person_id=an.person_id, decision_number="12/QĐ-UBND", decided_on="2025-01-10"
        )
    )
    await stub.RecordPositiveDrugTest(
        pb.RecordPositiveDrugTestRequest(
            person_id=hoa.person_id, tested_on="2025-02-01", substance="methamphetamine"
        )
    )
    proposal = await stub.ProposeListChange(
        pb.ProposeListChangeRequest(
            change="add",
            person_id=hoa.person_id,
            proposed_by="CA-HK-01",
            proposed_on="2025-02-03",
            legal_basis="Điều 23 Luật 73/2021; hàng xóm Lê Văn Tám báo tin",
        )
    )
    await stub.ReviewListChange(
        pb.ReviewListChangeRequest(
            proposal_id=proposal.proposal_id,
            approve=True,
            reviewed_by="CT-UBND-HK",
            reviewed_on="2025-02-05",
            decision_number="31/QĐ-UBND",
            note="Đã gặp gia đình bà Phạm Thị Lụa",
        )
    )
    record = await read(stub, an.person_id)
    assert (record.citizen_id, record.full_name) == AN[:2]
    assert [t.place for t in record.drug_tests] == ["Nhà số 5 ngõ Huế"]
    assert [m.decision_number for m in record.managements] == ["12/QĐ-UBND"]
    pending = await stub.ListPendingProposals(pb.ListPendingProposalsRequest())
    assert pending.proposals == []

    secrets = [*AN[:2], *HOA[:2], "Nhà số 5", "12/QĐ", "31/QĐ", "Lê Văn Tám", "Phạm Thị Lụa", "Nguyễn", "Hoà"]
    stored = await stored_bytes(url)
    assert an.pseudonym.encode() in stored  # we are looking at the right data
    assert plaintext_in(stored, secrets) == []
    async with service.plan.infra.sessions() as session:
        tokens = (await session.execute(select(persons.c.citizen_id_enc, persons.c.full_name_enc))).all()
    assert all(t.startswith("1:") for row in tokens for t in row)


async def test_a_value_moved_to_another_row_or_column_does_not_decrypt(registry):
    stub, service, _ = registry
    an, hoa = await register(stub, AN), await register(stub, HOA)
    await sql(
        service,
        "UPDATE persons SET full_name_enc = (SELECT full_name_enc FROM persons WHERE person_id = :an) "
        "WHERE person_id = :hoa",
        an=an.person_id,
        hoa=hoa.person_id,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await read(stub, hoa.person_id)
    error = refused.value
    assert error.code() == grpc.StatusCode.DATA_LOSS
    assert dict(error.trailing_metadata())["error-code"] == "field.undecryptable"
    assert f"persons.full_name_enc of record {hoa.person_id} does not decrypt" in error.details()
    assert "Nguy" not in str(error) and "Tr" + "ần" not in str(error)
    assert (await read(stub, an.person_id)).full_name == AN[1]  # the original still reads

    await sql(
        service, "UPDATE persons SET full_name_enc = citizen_id_enc WHERE person_id = :an", an=an.person_id
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await read(stub, an.person_id)
    assert refused.value.code() == grpc.StatusCode.DATA_LOSS
    assert "persons.full_name_enc" in refused.value.details()
    async with service.plan.infra.sessions() as session:
        reads = await session.scalar(select(func.count()).select_from(audit_log))
    assert reads == 1  # only the read that returned data is on record


async def test_citizen_ids_are_found_and_kept_unique_through_the_blind_index_only(registry):
    stub, service, _ = registry
    an = await register(stub, AN)
    async with service.plan.infra.sessions() as session:
        assert await storage.find_person_id_by_citizen_id(session, AN[0]) == an.person_id
        assert await storage.find_person_id_by_citizen_id(session, HOA[0]) is None
        columns = await session.run_sync(
            lambda s: [c["name"] for c in inspect(s.connection()).get_columns("persons")]
        )
        (index,) = (await session.execute(select(persons.c.citizen_id_index))).one()
    assert "citizen_id" not in columns and "full_name" not in columns
    master = MasterKey(service.plan.infra.settings.master_key_bytes())
    async with service.plan.infra.sessions() as session:
        _, index_key = await session.run_sync(lambda s: fieldkeys.load(s.connection(), master))
    import hashlib
    import hmac

    expected = hmac.new(
        index_key, b"lienthong.blind-index/1\x00citizen_id\x00" + AN[0].encode(), hashlib.sha256
    )
    assert index == expected.hexdigest() and AN[0] not in index

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await register(stub, (AN[0], "Người Khác", *AN[2:]))
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert dict(refused.value.trailing_metadata())["error-code"] == "person.already_registered"
    assert an.person_id in dict(refused.value.trailing_metadata())["message-en"]

    # The database itself refuses a second row with the same index, whatever the code does.
    with pytest.raises(IntegrityError):
        await sql(
            service,
            "INSERT INTO persons (person_id, citizen_id_enc, citizen_id_index, full_name_enc, date_of_birth,"
            " sex, commune_code, province_code, pseudonym, registered_on, version)"
            " SELECT 'x', citizen_id_enc, citizen_id_index, full_name_enc, date_of_birth, sex, commune_code,"
            " province_code, pseudonym, registered_on, version FROM persons",
        )

    # Two registrations of one new citizen ID at once: one person, the other call refused.
    results = await asyncio.gather(register(stub, HOA), register(stub, HOA), return_exceptions=True)
    refusals = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(refusals) == 1, results
    assert refusals[0].code() == grpc.StatusCode.ALREADY_EXISTS, refusals[0]
    async with service.plan.infra.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(persons)) == 2


async def test_a_service_given_another_master_key_does_not_start_and_names_the_keys(
    nats_server, database_url
):
    async with RunningService(build_plan(settings_for(nats_server, database_url))) as service:
        first = MasterKey(service.plan.infra.settings.master_key_bytes()).key_id
    wrong = settings_for(nats_server, database_url, master_key=OTHER_MASTER_KEY)
    with pytest.raises(KeyRingError) as refused:
        async with RunningService(build_plan(wrong)):
            pass
    message = str(refused.value)
    assert first in message and MasterKey(bytes.fromhex(OTHER_MASTER_KEY)).key_id in message
    assert OTHER_MASTER_KEY not in message and "LIENTHONG_MASTER_KEY" in message


# --- rows from before encryption at rest -------------------------------------------------------------------

PLAINTEXT_ROWS = [
    "INSERT INTO persons (person_id, citizen_id, full_name, date_of_birth, sex, commune_code, province_code,"
    " pseudonym, registered_on, version) VALUES ('0192f0c4-0000-7000-8000-0000000000a1', '001099012345', 'Nguyễn Văn An', '1999-04-02',"
    " 'male', '00070', '01', '1:0123456789abcdef0123456789abcdef', '2024-12-01', 3)",
    "INSERT INTO drug_tests (test_id, person_id, tested_on, substance, place, during_management) VALUES"
    " ('0192f0c4-0000-7000-8000-0000000000a2', '0192f0c4-0000-7000-8000-0000000000a1', '2024-12-02', 'heroin', 'Nhà số 5 ngõ Huế', false)",
    "INSERT INTO managements (management_id, person_id, decision_number, decided_on, expires_on, commune_code,"
    " province_code) VALUES ('0192f0c4-0000-7000-8000-0000000000a3', '0192f0c4-0000-7000-8000-0000000000a1', '12/QĐ-UBND', '2024-12-05', '2025-12-05', '00070', '01')",
    "INSERT INTO list_proposals (proposal_id, change, person_id, proposed_by, proposed_on, legal_basis, state)"
    " VALUES ('0192f0c4-0000-7000-8000-0000000000a4', 'remove', '0192f0c4-0000-7000-8000-0000000000a1', 'CA-HK-01', '2025-01-02', 'Lê Văn Tám báo tin', 'pending')",
]


async def _at_0007_with_plaintext_rows(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine, MIGRATIONS, revision="0007")
        async with engine.begin() as connection:
            for statement in PLAINTEXT_ROWS:
                await connection.execute(text(statement))
        # Migrated without the service's key (an operator running Alembic by hand): refused, nothing changed.
        with pytest.raises(KeyRingError, match="persons holds personal data in plaintext"):
            await migrate.upgrade(engine, MIGRATIONS)
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT version_num FROM alembic_version")) == "0007"
            assert await connection.scalar(text("SELECT full_name FROM persons")) == "Nguyễn Văn An"
    finally:
        await engine.dispose()


async def test_rows_written_before_encryption_are_encrypted_when_the_service_first_starts(
    nats_server, database_url
):
    await _at_0007_with_plaintext_rows(database_url)
    async with RunningService(build_plan(settings_for(nats_server, database_url))) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            record = await read(stub, "0192f0c4-0000-7000-8000-0000000000a1")
            assert (record.citizen_id, record.full_name) == AN[:2]
            assert [t.place for t in record.drug_tests] == ["Nhà số 5 ngõ Huế"]
            assert [m.decision_number for m in record.managements] == ["12/QĐ-UBND"]
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await register(stub, AN)
            assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS  # the index was filled too
            proposals = await stub.ListPendingProposals(pb.ListPendingProposalsRequest())
            assert [p.legal_basis for p in proposals.proposals] == ["Lê Văn Tám báo tin"]
    # Stopped: SQLite has folded its write-ahead log into the file; the old pages were zeroed when freed.
    stored = await stored_bytes(database_url)
    assert plaintext_in(stored, [*AN[:2], "Nhà số 5", "12/QĐ", "Lê Văn Tám"]) == []
