"""gRPC edge of the registry: turn requests into typed values (refusing bad ones with a specific,
bilingual message) and domain results into responses."""

from __future__ import annotations

import re
from datetime import datetime

import grpc

from lienthong.cccd import Sex
from lienthong.dates import parse_date
from lienthong.errors import InvalidInput, PermissionDenied
from lienthong.grpcserver import metadata_value
from lienthong.text import clean_text
from lienthong.units import commune
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import registry_pb2, registry_pb2_grpc
from services.registry import dossier_rules, proposal_rules
from services.registry.handlers import Registry

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name
_PSEUDONYM = re.compile(r"[0-9]{1,6}:[0-9a-f]{32}", re.ASCII)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_SEX_IN = {common_pb2.SEX_MALE: Sex.MALE, common_pb2.SEX_FEMALE: Sex.FEMALE}
_SEX_OUT = {v: k for k, v in _SEX_IN.items()}


def _uuid(value: str, field: str) -> str:
    if not _UUID.fullmatch(value):
        raise InvalidInput(
            f"{field}.format",
            f"{field} phải là mã UUID do hệ thống cấp (nhận được {value[:60]!r}).",
            f"{field} must be a UUID issued by the system (got {value[:60]!r}).",
        )
    return value


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII
)


def _timestamp(value: str, field: str) -> datetime:
    problem = InvalidInput(
        f"{field}.format",
        f"{field} phải có dạng 2026-07-02T08:30:00+07:00 (có múi giờ), nhận được {value[:40]!r}.",
        f"{field} must look like 2026-07-02T08:30:00+07:00 (with an offset), got {value[:40]!r}.",
    )
    if not _RFC3339.fullmatch(value):
        raise problem
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise problem from None


def _sex(value: int) -> Sex:
    if value not in _SEX_IN:
        raise InvalidInput(
            "sex.required", "Phải chọn giới tính nam hoặc nữ.", "Sex must be SEX_MALE or SEX_FEMALE."
        )
    return _SEX_IN[value]


def _iso(day) -> str:
    return day.isoformat() if day else ""


def _proposal(p: proposal_rules.Proposal) -> registry_pb2.ListProposal:
    return registry_pb2.ListProposal(
        proposal_id=p.proposal_id,
        change=p.change.value,
        person_id=p.person_id,
        proposed_by=p.proposed_by,
        proposed_on=p.proposed_on.isoformat(),
        legal_basis=p.legal_basis,
        management_id=p.management_id or "",
        end_reason=p.end_reason or "",
        state=p.state.value,
        reviewed_by=p.reviewed_by or "",
        reviewed_on=_iso(p.reviewed_on),
        review_note=p.review_note or "",
        decision_number=p.decision_number or "",
    )


def _management(m) -> registry_pb2.Management:
    return registry_pb2.Management(
        management_id=m.management_id,
        decision_number=m.decision_number,
        decided_on=m.decided_on.isoformat(),
        expires_on=m.expires_on.isoformat(),
        ended_on=_iso(m.ended_on),
        end_reason=m.end_reason.value if m.end_reason else "",
        law_version=m.law_version,
    )


def _dossier(d: dossier_rules.Dossier) -> registry_pb2.CompulsoryDossier:
    return registry_pb2.CompulsoryDossier(
        dossier_id=d.dossier_id,
        person_id=d.person_id,
        ground=d.ground.value,
        status=d.status.value,
        opened_on=d.opened_on.isoformat(),
        submitted_on=d.submitted_on.isoformat() if d.submitted_on else "",
        decided_on=d.decided_on.isoformat() if d.decided_on else "",
        term_months=d.term_months or 0,
        facility_code=d.facility_code or "",
        minor=d.minor,
        law_version=d.law_version,
    )


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def RegisterPerson(self, request, context):
        person = await self._registry.register_person(
            citizen_id=request.citizen_id,
            full_name=request.full_name,
            date_of_birth=parse_date(request.date_of_birth, field="date_of_birth"),
            sex=_sex(request.sex),
            commune_code=request.commune_code,
        )
        return registry_pb2.RegisterPersonResponse(person_id=person.person_id, pseudonym=person.pseudonym)

    async def RecordPositiveDrugTest(self, request, context):
        test = await self._registry.record_positive_test(
            person_id=_uuid(request.person_id, "person_id"),
            tested_on=parse_date(request.tested_on, field="tested_on"),
            substance=request.substance,
            place=request.place,
        )
        return registry_pb2.RecordPositiveDrugTestResponse(
            test_id=test.test_id, during_management=test.during_management
        )

    async def IssueManagementDecision(self, request, context):
        management = await self._registry.issue_management_decision(
            person_id=_uuid(request.person_id, "person_id"),
            decision_number=request.decision_number,
            decided_on=parse_date(request.decided_on, field="decided_on"),
        )
        return registry_pb2.IssueManagementDecisionResponse(
            management_id=management.management_id,
            expires_on=management.expires_on.isoformat(),
            law_version=management.law_version,
        )

    async def EndManagement(self, request, context):
        await self._registry.end_management(
            management_id=_uuid(request.management_id, "management_id"),
            ended_on=parse_date(request.ended_on, field="ended_on"),
            reason=request.reason,
        )
        return registry_pb2.EndManagementResponse()

    async def ProposeListChange(self, request, context):
        proposal = await self._registry.propose_list_change(
            change=request.change,
            person_id=_uuid(request.person_id, "person_id"),
            proposed_by=request.proposed_by,
            proposed_on=parse_date(request.proposed_on, field="proposed_on"),
            legal_basis=request.legal_basis,
            management_id=_uuid(request.management_id, "management_id") if request.management_id else None,
            end_reason=request.end_reason,
        )
        return _proposal(proposal)

    async def ReviewListChange(self, request, context):
        proposal, management = await self._registry.review_list_change(
            proposal_id=_uuid(request.proposal_id, "proposal_id"),
            approve=request.approve,
            reviewed_by=request.reviewed_by,
            reviewed_on=parse_date(request.reviewed_on, field="reviewed_on"),
            note=request.note,
            decision_number=request.decision_number,
        )
        return registry_pb2.ReviewListChangeResponse(
            proposal=_proposal(proposal), management=_management(management) if management else None
        )

    async def ListPendingProposals(self, request, context):
        code = commune(request.commune_code).code if request.commune_code else None
        pending = await self._registry.pending_proposals(commune_code=code)
        return registry_pb2.ListPendingProposalsResponse(proposals=[_proposal(p) for p in pending])

    async def RecordMove(self, request, context):
        event = await self._registry.record_move(
            person_id=_uuid(request.person_id, "person_id"),
            commune_code=request.new_commune_code,
            moved_on=parse_date(request.moved_on, field="moved_on"),
            reported_at=_timestamp(request.reported_at, "reported_at") if request.reported_at else None,
        )
        return registry_pb2.RecordMoveResponse(
            reported_late=event.reported_late, law_version=event.law_version
        )

    async def OpenCompulsoryDossier(self, request, context):
        dossier = await self._registry.open_dossier(
            person_id=_uuid(request.person_id, "person_id"),
            ground=request.ground,
            opened_on=parse_date(request.opened_on, field="opened_on"),
        )
        return _dossier(dossier)

    async def SubmitCompulsoryDossier(self, request, context):
        submitted_on = parse_date(request.submitted_on, field="submitted_on")
        dossier = await self._registry.change_dossier(
            _uuid(request.dossier_id, "dossier_id"),
            lambda d, today: dossier_rules.submit(d, submitted_on=submitted_on, today=today),
        )
        return _dossier(dossier)

    async def RecordCourtDecision(self, request, context):
        decided_on = parse_date(request.decided_on, field="decided_on")
        facility = clean_text(request.facility_code, field="facility_code", max_length=40, required=False)
        dossier = await self._registry.change_dossier(
            _uuid(request.dossier_id, "dossier_id"),
            lambda d, today: dossier_rules.decide(
                d,
                decided_on=decided_on,
                granted=request.granted,
                term_months=request.term_months,
                facility_code=facility,
                today=today,
            ),
        )
        return _dossier(dossier)

    async def GetPerson(self, request, context):
        officer, purpose = _reader(context)
        person, tests, managements = await self._registry.read_person(
            person_id=_uuid(request.person_id, "person_id"), officer_id=officer, purpose=purpose
        )
        return _person(person, tests, managements)

    async def FindPersonByPseudonym(self, request, context):
        officer, purpose = _reader(context)
        department = metadata_value(context, "x-department")
        if not department:
            raise PermissionDenied(
                "read.no_department",
                "Phòng ban khác đọc hồ sơ phải khai báo phòng ban (x-department).",
                "Another department reading a record must declare itself (x-department).",
            )
        if not _PSEUDONYM.fullmatch(request.pseudonym):
            raise InvalidInput(
                "pseudonym.format",
                "Bí danh phải có dạng <phiên bản khóa>:<32 chữ số hex>.",
                "A pseudonym looks like <key version>:<32 hex digits>.",
            )
        person, tests, managements = await self._registry.read_person(
            pseudonym=request.pseudonym,
            officer_id=officer,
            purpose=purpose,
            caller_department=clean_text(department, field="x-department", max_length=40),
        )
        return _person(person, tests, managements)


def _reader(context: grpc.aio.ServicerContext) -> tuple[str, str]:
    officer = metadata_value(context, "x-officer-id")
    purpose = metadata_value(context, "x-purpose")
    if not officer or not purpose:
        raise PermissionDenied(
            "read.unidentified",
            "Đọc dữ liệu cá nhân cần khai báo cán bộ (x-officer-id) và mục đích (x-purpose).",
            "Reading personal data needs the officer (x-officer-id) and the purpose (x-purpose) metadata.",
        )
    return (
        clean_text(officer, field="x-officer-id", max_length=100),
        clean_text(purpose, field="x-purpose", max_length=200),
    )


def _person(person, tests, managements) -> registry_pb2.Person:
    return registry_pb2.Person(
        person_id=person.person_id,
        citizen_id=person.citizen_id,
        full_name=person.full_name,
        date_of_birth=person.date_of_birth.isoformat(),
        sex=_SEX_OUT[person.sex],
        commune_code=person.commune_code,
        pseudonym=person.pseudonym,
        drug_tests=[
            registry_pb2.DrugTest(
                test_id=t.test_id, tested_on=t.tested_on.isoformat(), substance=t.substance, place=t.place
            )
            for t in tests
        ],
        managements=[_management(m) for m in managements],
    )
