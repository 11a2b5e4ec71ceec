"""A write through the registry's gRPC API shows up in reporting's gRPC query, over a real nats-server."""

from __future__ import annotations

import grpc
import pytest

from lienthong.natsserver import NatsServer
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import registry_pb2, registry_pb2_grpc
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.registry.main import build_plan as registry_plan
from services.registry.settings import RegistrySettings
from services.reporting.main import build_plan as reporting_plan
from services.reporting.settings import ReportingSettings
from tests.conftest import RunningService, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def second_database_url(database_url: str, tmp_path):
    """Reporting's own database: same kind as ``database_url``, never shared with the registry."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'reporting.db'}"
        return
    import asyncpg

    base, _, name = database_url.rpartition("/")
    other = f"{name}_rep"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE DATABASE "{other}"')
    finally:
        await conn.close()
    yield f"{base}/{other}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
    finally:
        await conn.close()


async def test_grpc_write_shows_up_in_the_reporting_query(
    nats_server: NatsServer, database_url, second_database_url
):
    registry = RegistrySettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0
    )
    reporting = ReportingSettings(
        nats_url=nats_server.url, database_url=second_database_url, grpc_port=0, metrics_port=0
    )
    async with (
        RunningService(registry_plan(registry)) as reg,
        RunningService(reporting_plan(reporting)) as rep,
    ):
        async with (
            grpc.aio.insecure_channel(reg.grpc_target) as reg_channel,
            grpc.aio.insecure_channel(rep.grpc_target) as rep_channel,
        ):
            reg_stub = registry_pb2_grpc.RegistryServiceStub(reg_channel)
            rep_stub = reporting_pb2_grpc.ReportingServiceStub(rep_channel)
            managed = []
            for n, commune in enumerate(["00070", "00070", "00004"]):
                person = await reg_stub.RegisterPerson(
                    registry_pb2.RegisterPersonRequest(
                        citizen_id=f"00109901234{n}",
                        full_name=f"Người Thử {n}",
                        date_of_birth="1999-05-05",
                        sex=common_pb2.SEX_MALE,
                        commune_code=commune,
                    )
                )
                await reg_stub.RecordPositiveDrugTest(
                    registry_pb2.RecordPositiveDrugTestRequest(
                        person_id=person.person_id, tested_on="2025-02-01", substance="heroin"
                    )
                )
                managed.append(
                    await reg_stub.IssueManagementDecision(
                        registry_pb2.IssueManagementDecisionRequest(
                            person_id=person.person_id, decision_number=f"{n}/QĐ", decided_on="2025-02-10"
                        )
                    )
                )
            await reg_stub.EndManagement(
                registry_pb2.EndManagementRequest(
                    management_id=managed[0].management_id, ended_on="2025-08-01", reason="imprisoned"
                )
            )

            # Events reporting does not aggregate yet are acknowledged, never dead-lettered.
            moved = await reg_stub.RecordMove(
                registry_pb2.RecordMoveRequest(
                    person_id=person.person_id,
                    new_commune_code="00070",
                    moved_on="2025-09-01",
                    reported_at="2025-09-01T10:00:00+07:00",
                )
            )
            assert not moved.reported_late and moved.law_version == "law_73_2021"
            await reg_stub.OpenCompulsoryDossier(
                registry_pb2.OpenCompulsoryDossierRequest(
                    person_id=person.person_id, ground="no_voluntary_rehab", opened_on="2025-09-02"
                )
            )

            async def caught_up():
                status = await rep_stub.GetIngestStatus(reporting_pb2.IngestStatusRequest())
                return status.events_applied == 12 and status

            status = await eventually(
                caught_up, timeout=30, message="reporting applied all 12 registry events"
            )
            assert status.events_dead_lettered == 0
            report = await rep_stub.GetManagementReport(
                reporting_pb2.ManagementReportRequest(period_start="2025-01-01", period_end="2025-12-31")
            )
    rows = {row.commune_code: row for row in report.rows}
    assert rows["00070"].commune_name == "Phường Hoàn Kiếm"
    assert (
        rows["00070"].at_period_start,
        rows["00070"].new_in_period,
        rows["00070"].ended_total,
        rows["00070"].at_period_end,
    ) == (0, 2, 1, 1)
    assert [(r.reason, r.count) for r in rows["00070"].ended_in_period] == [("imprisoned", 1)]
    assert (rows["00004"].new_in_period, rows["00004"].at_period_end) == (1, 1)
    assert (report.total.new_in_period, report.total.ended_total, report.total.at_period_end) == (3, 1, 2)


async def test_reporting_serves_before_the_registry_exists_and_attaches_when_it_does(
    nats_server: NatsServer, database_url, second_database_url
):
    """One department's API never waits for another: reporting answers at once, consumes later."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    registry = RegistrySettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0
    )
    reporting = ReportingSettings(
        nats_url=nats_server.url, database_url=second_database_url, grpc_port=0, metrics_port=0
    )
    async with RunningService(reporting_plan(reporting)) as rep:
        async with grpc.aio.insecure_channel(rep.grpc_target) as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            rep_stub = reporting_pb2_grpc.ReportingServiceStub(channel)
            status = await rep_stub.GetIngestStatus(reporting_pb2.IngestStatusRequest())
            assert status.events_applied == 0
            async with RunningService(registry_plan(registry)) as reg:
                async with grpc.aio.insecure_channel(reg.grpc_target) as reg_channel:
                    await registry_pb2_grpc.RegistryServiceStub(reg_channel).RegisterPerson(
                        registry_pb2.RegisterPersonRequest(
                            citizen_id="001099012345",
                            full_name="Lê Văn Bình",
                            date_of_birth="1999-05-05",
                            sex=common_pb2.SEX_MALE,
                            commune_code="00070",
                        )
                    )

                async def applied():
                    status = await rep_stub.GetIngestStatus(reporting_pb2.IngestStatusRequest())
                    return status.events_applied == 1

                await eventually(applied, timeout=30, message="reporting attached and applied the event")
