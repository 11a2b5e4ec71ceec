"""The management list's review workflow through gRPC: propose, approve or reject, with who/when/basis."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy import func, select

from lienthong.outbox import OUTBOX
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import registry_pb2 as pb
from lienthong_contracts.registry.v1 import registry_pb2_grpc
from services.registry.main import build_plan
from services.registry.settings import RegistrySettings
from tests.conftest import RunningService

pytestmark = pytest.mark.integration


async def test_addition_and_removal_take_effect_only_when_approved_by_someone_else(nats_server, database_url):
    settings = RegistrySettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0
    )
    async with RunningService(build_plan(settings)) as service:

        async def events() -> int:
            async with service.plan.infra.sessions() as session:
                return await session.scalar(select(func.count()).select_from(OUTBOX))

        async with grpc.aio.insecure_channel(service.grpc_target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            person = await stub.RegisterPerson(
                pb.RegisterPersonRequest(
                    citizen_id="001099012345",
                    full_name="Vũ Văn Em",
                    date_of_birth="1999-05-05",
                    sex=common_pb2.SEX_MALE,
                    commune_code="00070",
                )
            )
            await stub.RecordPositiveDrugTest(
                pb.RecordPositiveDrugTestRequest(
                    person_id=person.person_id, tested_on="2025-01-05", substance="heroin"
                )
            )
            before = await events()
            add = await stub.ProposeListChange(
                pb.ProposeListChangeRequest(
                    change="add",
                    person_id=person.person_id,
                    proposed_by="CA-HK-01",
                    proposed_on="2025-01-08",
                    legal_basis="Điều 23 Luật 73/2021/QH14",
                )
            )
            assert add.state == "pending" and await events() == before  # a proposal changes no status
            pending = await stub.ListPendingProposals(pb.ListPendingProposalsRequest(commune_code="00070"))
            assert [p.proposal_id for p in pending.proposals] == [add.proposal_id]
            assert not (
                await stub.ListPendingProposals(pb.ListPendingProposalsRequest(commune_code="00004"))
            ).proposals

            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ProposeListChange(
                    pb.ProposeListChangeRequest(
                        change="add",
                        person_id=person.person_id,
                        proposed_by="CA-HK-02",
                        proposed_on="2025-01-09",
                        legal_basis="x",
                    )
                )
            assert dict(refused.value.trailing_metadata())["error-code"] == "proposal.already_pending"
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ReviewListChange(
                    pb.ReviewListChangeRequest(
                        proposal_id=add.proposal_id,
                        approve=True,
                        reviewed_by="CA-HK-01",
                        reviewed_on="2025-01-10",
                        decision_number="3/QĐ-UBND",
                    )
                )
            assert dict(refused.value.trailing_metadata())["error-code"] == "proposal.same_reviewer"

            approved = await stub.ReviewListChange(
                pb.ReviewListChangeRequest(
                    proposal_id=add.proposal_id,
                    approve=True,
                    reviewed_by="CT-UBND-HK",
                    reviewed_on="2025-01-10",
                    decision_number="3/QĐ-UBND",
                    note="Đồng ý",
                )
            )
            assert approved.proposal.state == "approved" and approved.proposal.reviewed_by == "CT-UBND-HK"
            assert (approved.management.decided_on, approved.management.expires_on) == (
                "2025-01-10",
                "2026-01-10",
            )
            assert await events() == before + 1  # the management decision

            remove = await stub.ProposeListChange(
                pb.ProposeListChangeRequest(
                    change="remove",
                    person_id=person.person_id,
                    proposed_by="CA-HK-01",
                    proposed_on="2025-05-01",
                    legal_basis="Bản án số 12/2025/HS-ST",
                    management_id=approved.management.management_id,
                    end_reason="imprisoned",
                )
            )
            rejected = await stub.ReviewListChange(
                pb.ReviewListChangeRequest(
                    proposal_id=remove.proposal_id,
                    approve=False,
                    reviewed_by="CT-UBND-HK",
                    reviewed_on="2025-05-02",
                    note="Chưa có bản án có hiệu lực",
                )
            )
            assert rejected.proposal.state == "rejected" and not rejected.HasField("management")
            assert await events() == before + 1
            record = await stub.GetPerson(
                pb.GetPersonRequest(person_id=person.person_id),
                metadata=(("x-officer-id", "a"), ("x-purpose", "check")),
            )
            assert record.managements[0].ended_on == ""

            again = await stub.ProposeListChange(
                pb.ProposeListChangeRequest(
                    change="remove",
                    person_id=person.person_id,
                    proposed_by="CA-HK-01",
                    proposed_on="2025-06-01",
                    legal_basis="Bản án số 12/2025/HS-ST có hiệu lực",
                    management_id=approved.management.management_id,
                    end_reason="imprisoned",
                )
            )
            ended = await stub.ReviewListChange(
                pb.ReviewListChangeRequest(
                    proposal_id=again.proposal_id,
                    approve=True,
                    reviewed_by="CT-UBND-HK",
                    reviewed_on="2025-06-02",
                )
            )
            assert (ended.management.ended_on, ended.management.end_reason) == ("2025-06-02", "imprisoned")
            assert await events() == before + 2
