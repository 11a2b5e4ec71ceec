"""Compulsory-rehab dossiers through the registry's gRPC API, with their events on REGISTRY."""

from __future__ import annotations

import grpc
import nats
import pytest

from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import events_pb2, registry_pb2, registry_pb2_grpc
from services.registry.main import build_plan
from services.registry.settings import RegistrySettings
from tests.conftest import RunningService, eventually

pytestmark = pytest.mark.integration


async def test_dossier_from_opening_to_court_decision(nats_server, database_url):
    settings = RegistrySettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0
    )
    async with RunningService(build_plan(settings)) as service:
        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            person = await stub.RegisterPerson(
                registry_pb2.RegisterPersonRequest(
                    citizen_id="001090012345",
                    full_name="Đỗ Văn Dũng",
                    date_of_birth="1990-02-02",
                    sex=common_pb2.SEX_MALE,
                    commune_code="00070",
                )
            )
            dossier = await stub.OpenCompulsoryDossier(
                registry_pb2.OpenCompulsoryDossierRequest(
                    person_id=person.person_id, ground="methadone_refused_or_stopped", opened_on="2025-03-01"
                )
            )
            assert (dossier.status, dossier.law_version, dossier.minor) == ("opened", "law_73_2021", False)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.RecordCourtDecision(
                    registry_pb2.RecordCourtDecisionRequest(
                        dossier_id=dossier.dossier_id,
                        decided_on="2025-04-01",
                        granted=True,
                        term_months=18,
                        facility_code="HN-CS2",
                    )
                )
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            await stub.SubmitCompulsoryDossier(
                registry_pb2.SubmitCompulsoryDossierRequest(
                    dossier_id=dossier.dossier_id, submitted_on="2025-03-10"
                )
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.RecordCourtDecision(
                    registry_pb2.RecordCourtDecisionRequest(
                        dossier_id=dossier.dossier_id,
                        decided_on="2025-04-01",
                        granted=True,
                        term_months=30,
                        facility_code="HN-CS2",
                    ),
                    metadata=(("accept-language", "en"),),
                )
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "12 to 24 months" in refused.value.details()
            decided = await stub.RecordCourtDecision(
                registry_pb2.RecordCourtDecisionRequest(
                    dossier_id=dossier.dossier_id,
                    decided_on="2025-04-01",
                    granted=True,
                    term_months=18,
                    facility_code="HN-CS2",
                )
            )
            assert (decided.status, decided.term_months, decided.facility_code) == ("granted", 18, "HN-CS2")

        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()

        async def four_events():
            return (await js.stream_info("REGISTRY")).state.messages == 4

        await eventually(four_events, message="register + 3 dossier events")
        last = await js.get_msg("REGISTRY", 4)
        await nc.close()
    assert last.subject == "registry.compulsory_dossier.decided.v1"
    event = events_pb2.CompulsoryDossierChanged()
    event.ParseFromString(last.data)
    assert (event.status, event.term_months, event.facility_code, event.ground) == (
        "granted",
        18,
        "HN-CS2",
        "methadone_refused_or_stopped",
    )
    assert event.person.pseudonym == person.pseudonym and b"001090012345" not in last.data
    assert last.headers["lt-aggregate-version"] == "4"
