"""gRPC edge of aftercare: turn requests into typed values (refusing bad ones with a specific, bilingual
message) and domain results into responses."""

from __future__ import annotations

import re

import grpc

from lienthong.dates import parse_date
from lienthong.errors import InvalidInput, PermissionDenied
from lienthong.grpcserver import metadata_value
from lienthong.text import clean_text
from lienthong_contracts.aftercare.v1 import aftercare_pb2, aftercare_pb2_grpc
from services.aftercare.handlers import Aftercare
from services.aftercare.handlers.contacts import contact_details
from services.aftercare.registry_client import RegistryDirectory

SERVICE_NAME = aftercare_pb2.DESCRIPTOR.services_by_name["AftercareService"].full_name
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def _case_id(value: str) -> str:
    if not _UUID.fullmatch(value):
        raise InvalidInput(
            "case_id.format",
            f"case_id phải là mã UUID do hệ thống cấp (nhận được {value[:60]!r}).",
            f"case_id must be a UUID issued by the system (got {value[:60]!r}).",
        )
    return value


def _iso(day) -> str:
    return day.isoformat() if day else ""


class AftercareServicer(aftercare_pb2_grpc.AftercareServiceServicer):
    def __init__(self, aftercare: Aftercare, directory: RegistryDirectory) -> None:
        self._aftercare = aftercare
        self._directory = directory

    def add_to(self, server: grpc.aio.Server) -> None:
        aftercare_pb2_grpc.add_AftercareServiceServicer_to_server(self, server)

    async def PlaceCase(self, request, context):
        case = await self._aftercare.place_case(
            case_id=_case_id(request.case_id),
            decided_on=parse_date(request.decided_on, field="decided_on"),
            decision_number=request.decision_number,
            caretaker_kind=request.caretaker_kind,
            caretaker_name=request.caretaker_name,
        )
        return aftercare_pb2.PlaceCaseResponse(
            term_months=case.term_months, ends_on=case.ends_on.isoformat(), law_version=case.law_version
        )

    async def RecordSupport(self, request, context):
        await self._aftercare.record_support(
            case_id=_case_id(request.case_id),
            given_on=parse_date(request.given_on, field="given_on"),
            kind=request.kind,
        )
        return aftercare_pb2.RecordSupportResponse()

    async def SuspectRelapse(self, request, context):
        await self._aftercare.suspect_relapse(
            case_id=_case_id(request.case_id),
            suspected_on=parse_date(request.suspected_on, field="suspected_on"),
        )
        return aftercare_pb2.SuspectRelapseResponse()

    async def ConfirmRelapse(self, request, context):
        adult = await self._aftercare.confirm_relapse(
            case_id=_case_id(request.case_id),
            determined_on=parse_date(request.determined_on, field="determined_on"),
        )
        return aftercare_pb2.ConfirmRelapseResponse(adult=adult)

    async def IssueCertificate(self, request, context):
        await self._aftercare.issue_certificate(
            case_id=_case_id(request.case_id), issued_on=parse_date(request.issued_on, field="issued_on")
        )
        return aftercare_pb2.IssueCertificateResponse()

    async def Transfer(self, request, context):
        opened = await self._aftercare.transfer(
            case_id=_case_id(request.case_id),
            moved_on=parse_date(request.moved_on, field="moved_on"),
            new_commune_code=request.new_commune_code,
        )
        return aftercare_pb2.TransferResponse(new_case_id=opened.case_id)

    async def CloseCase(self, request, context):
        await self._aftercare.close_case(
            case_id=_case_id(request.case_id),
            closed_on=parse_date(request.closed_on, field="closed_on"),
            reason=request.reason,
        )
        return aftercare_pb2.CloseCaseResponse()

    async def RecordModel(self, request, context):
        await self._aftercare.record_model(
            commune_code=request.commune_code, on=parse_date(request.on, field="on"), status=request.status
        )
        return aftercare_pb2.RecordModelResponse()

    async def ListPendingPlacements(self, request, context):
        pending = await self._aftercare.pending_placements(
            as_of=parse_date(request.as_of, field="as_of"), commune_code=request.commune_code
        )
        return aftercare_pb2.ListPendingPlacementsResponse(
            cases=[
                aftercare_pb2.PendingPlacement(
                    case_id=case.case_id,
                    pseudonym=pseudonym,
                    commune_code=case.commune_code,
                    completed_on=case.completed_on.isoformat(),
                    days_waiting=days,
                    alert=alert,
                )
                for case, pseudonym, days, alert in pending
            ]
        )

    async def ListDueCertificates(self, request, context):
        due = await self._aftercare.due_certificates(
            as_of=parse_date(request.as_of, field="as_of"), commune_code=request.commune_code
        )
        return aftercare_pb2.ListDueCertificatesResponse(
            cases=[
                aftercare_pb2.DueCertificate(
                    case_id=case.case_id,
                    pseudonym=pseudonym,
                    commune_code=case.commune_code,
                    ends_on=case.ends_on.isoformat(),
                )
                for case, pseudonym in due
            ]
        )

    async def GetContactDetails(self, request, context):
        officer = metadata_value(context, "x-officer-id")
        purpose = metadata_value(context, "x-purpose")
        if not officer or not purpose:
            raise PermissionDenied(
                "read.unidentified",
                "Đọc dữ liệu cá nhân cần khai báo cán bộ (x-officer-id) và mục đích (x-purpose).",
                "Reading personal data needs the officer (x-officer-id) and the purpose (x-purpose) metadata.",
            )
        contact = await contact_details(
            self._aftercare.audit_log(),
            self._directory,
            case_id=_case_id(request.case_id),
            officer_id=clean_text(officer, field="x-officer-id", max_length=100),
            purpose=clean_text(purpose, field="x-purpose", max_length=200),
        )
        return aftercare_pb2.ContactDetails(
            case_id=contact.case_id,
            full_name=contact.full_name,
            date_of_birth=contact.date_of_birth,
            commune_code=contact.commune_code,
        )

    async def GetCase(self, request, context):
        officer = metadata_value(context, "x-officer-id")
        purpose = metadata_value(context, "x-purpose")
        if not officer or not purpose:
            raise PermissionDenied(
                "read.unidentified",
                "Đọc dữ liệu cá nhân cần khai báo cán bộ (x-officer-id) và mục đích (x-purpose).",
                "Reading personal data needs the officer (x-officer-id) and the purpose (x-purpose) metadata.",
            )
        case, pseudonym, supports, relapses = await self._aftercare.read_case(
            case_id=_case_id(request.case_id),
            officer_id=clean_text(officer, field="x-officer-id", max_length=100),
            purpose=clean_text(purpose, field="x-purpose", max_length=200),
        )
        return aftercare_pb2.Case(
            case_id=case.case_id,
            pseudonym=pseudonym,
            commune_code=case.commune_code,
            source=case.source,
            source_kind=case.source_kind,
            completed_on=case.completed_on.isoformat(),
            term_months=case.term_months,
            status=case.status.value,
            decided_on=_iso(case.decided_on),
            decision_number=case.decision_number or "",
            caretaker_kind=case.caretaker_kind or "",
            caretaker_name=case.caretaker_name or "",
            ends_on=case.ends_on.isoformat(),
            closed_on=_iso(case.closed_on),
            close_reason=case.close_reason or "",
            law_version=case.law_version,
            supports=[aftercare_pb2.Support(given_on=d.isoformat(), kind=k) for d, k in supports],
            relapses=[
                aftercare_pb2.Relapse(suspected_on=_iso(r.suspected_on), determined_on=_iso(r.determined_on))
                for r in sorted(relapses, key=lambda r: r.suspected_on or r.determined_on)
            ],
            transferred_from_case_id=case.transferred_from or "",
        )
