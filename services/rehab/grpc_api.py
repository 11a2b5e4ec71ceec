"""gRPC edge of rehab: turn requests into typed values (refusing bad ones with a specific, bilingual
message) and domain results into responses."""

from __future__ import annotations

import re

import grpc

from lienthong.cccd import Sex
from lienthong.dates import parse_date
from lienthong.errors import InvalidInput, PermissionDenied
from lienthong.grpcserver import metadata_value
from lienthong.text import clean_text
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.rehab.v1 import rehab_pb2, rehab_pb2_grpc
from services.rehab.event_mapping import SEX
from services.rehab.handlers import PersonDetails, Rehab

SERVICE_NAME = rehab_pb2.DESCRIPTOR.services_by_name["RehabService"].full_name
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_FACILITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", re.ASCII)
_TRADE = re.compile(r"[a-z0-9][a-z0-9_]{0,39}", re.ASCII)
_PROVINCE = re.compile(r"[0-9]{2}", re.ASCII)
_SEX_IN = {common_pb2.SEX_MALE: Sex.MALE, common_pb2.SEX_FEMALE: Sex.FEMALE}


def _match(pattern: re.Pattern, value: str, field: str, vi: str, en: str) -> str:
    if not pattern.fullmatch(value):
        raise InvalidInput(
            f"{field}.format",
            f"{field} {vi} (nhận được {value[:60]!r}).",
            f"{field} {en} (got {value[:60]!r}).",
        )
    return value


def _uuid(value: str, field: str = "admission_id") -> str:
    return _match(
        _UUID, value, field, "phải là mã UUID do hệ thống cấp", "must be a UUID issued by the system"
    )


def _facility(value: str, required: bool = True) -> str:
    if not value and not required:
        return ""
    return _match(
        _FACILITY,
        value,
        "facility_code",
        "gồm tối đa 40 ký tự chữ, số, '.', '_' hoặc '-'",
        "is up to 40 letters, digits, '.', '_' or '-'",
    )


def _count(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidInput(
            f"{field}.out_of_range",
            f"{field} phải từ {low} đến {high} (nhận được {value}).",
            f"{field} must be {low} to {high} (got {value}).",
        )
    return value


def _person(request_person: rehab_pb2.PersonDetails, present: bool) -> PersonDetails:
    if not present:
        raise InvalidInput(
            "person.required", "Thiếu thông tin người cai nghiện.", "The person's details are missing."
        )
    if request_person.sex not in _SEX_IN:
        raise InvalidInput(
            "sex.required", "Phải chọn giới tính nam hoặc nữ.", "Sex must be SEX_MALE or SEX_FEMALE."
        )
    return PersonDetails(
        citizen_id=request_person.citizen_id,
        full_name=request_person.full_name,
        date_of_birth=parse_date(request_person.date_of_birth, field="date_of_birth"),
        sex=_SEX_IN[request_person.sex],
        commune_code=request_person.commune_code,
    )


def _iso(day) -> str:
    return day.isoformat() if day else ""


def _admit_response(admission, person) -> rehab_pb2.AdmitResponse:
    return rehab_pb2.AdmitResponse(
        admission_id=admission.admission_id,
        pseudonym=person.pseudonym,
        law_version=admission.law_version,
        planned_end=admission.planned_end.isoformat(),
    )


class RehabServicer(rehab_pb2_grpc.RehabServiceServicer):
    def __init__(self, rehab: Rehab) -> None:
        self._rehab = rehab

    def add_to(self, server: grpc.aio.Server) -> None:
        rehab_pb2_grpc.add_RehabServiceServicer_to_server(self, server)

    def _agency(self, response: rehab_pb2.AdmitResponse, admission) -> rehab_pb2.AdmitResponse:
        response.agency = self._rehab.operators.at(admission.admitted_on)
        return response

    async def RegisterFacility(self, request, context):
        await self._rehab.register_facility(
            code=_facility(request.facility_code),
            name=request.name,
            public=request.public,
            operator=request.operator,
            capacity=request.capacity,
            type=request.type,
            commune_code=request.commune_code,
        )
        return rehab_pb2.RegisterFacilityResponse()

    async def ListFacilities(self, request, context):
        province = request.province_code
        if province:
            _match(_PROVINCE, province, "province_code", "gồm 2 chữ số", "is 2 digits")
        found = await self._rehab.list_facilities(province_code=province)
        return rehab_pb2.ListFacilitiesResponse(
            facilities=[
                rehab_pb2.Facility(
                    facility_code=f.code,
                    name=f.name,
                    public=f.public,
                    operator=f.operator,
                    capacity=f.capacity,
                    type=f.type.value,
                    commune_code=f.commune_code,
                    province_code=f.province_code,
                    occupancy=occupancy,
                )
                for f, occupancy in found
            ]
        )

    async def Admit(self, request, context):
        admission, person = await self._rehab.admit(
            person=_person(request.person, request.HasField("person")),
            kind=request.kind,
            facility_code=_facility(request.facility_code, required=False),
            admitted_on=parse_date(request.admitted_on, field="admitted_on"),
            term_months=request.term_months,
            temporary_stay_days=_count(request.temporary_stay_days, "temporary_stay_days", 0, 1000),
        )
        return self._agency(_admit_response(admission, person), admission)

    async def AdmitExpected(self, request, context):
        admission, person = await self._rehab.admit_expected(
            admission_id=_uuid(request.admission_id),
            admitted_on=parse_date(request.admitted_on, field="admitted_on"),
            temporary_stay_days=_count(request.temporary_stay_days, "temporary_stay_days", 0, 1000),
        )
        return self._agency(_admit_response(admission, person), admission)

    async def ListExpectedAdmissions(self, request, context):
        found = await self._rehab.expected_admissions(facility_code=_facility(request.facility_code, False))
        return rehab_pb2.ListExpectedAdmissionsResponse(
            admissions=[
                rehab_pb2.ExpectedAdmission(
                    admission_id=a.admission_id,
                    pseudonym=pseudonym,
                    facility_code=a.facility_code or "",
                    facility_known=a.facility_known,
                    court_decided_on=_iso(a.court_decided_on),
                    term_months=a.term_months,
                    minor=a.minor,
                    dossier_id=a.dossier_id or "",
                    temporary_stay_days=a.temporary_stay_days,
                )
                for a, pseudonym in found
            ]
        )

    async def RecordTemporaryStay(self, request, context):
        stayed = await self._rehab.record_temporary_stay(
            admission_id=_uuid(request.admission_id),
            start_on=parse_date(request.start_on, field="start_on"),
            end_on=parse_date(request.end_on, field="end_on"),
        )
        return rehab_pb2.RecordTemporaryStayResponse(temporary_stay_days=stayed.temporary_stay_days)

    async def AdvanceStage(self, request, context):
        advanced = await self._rehab.advance_stage(
            admission_id=_uuid(request.admission_id),
            to_stage=request.to_stage,
            on=parse_date(request.on, field="on"),
        )
        return rehab_pb2.AdvanceStageResponse(stage=advanced.stage.value)

    async def RecordTraining(self, request, context):
        await self._rehab.record_training(
            admission_id=_uuid(request.admission_id),
            given_on=parse_date(request.given_on, field="given_on"),
            trade=_match(
                _TRADE,
                request.trade,
                "trade",
                "là mã nghề gồm tối đa 40 ký tự a-z, 0-9, '_'",
                "is a trade code of up to 40 characters a-z, 0-9, '_'",
            ),
        )
        return rehab_pb2.RecordTrainingResponse()

    async def ReduceTerm(self, request, context):
        reduced = await self._rehab.reduce_term(
            admission_id=_uuid(request.admission_id),
            months=request.months,
            decided_on=parse_date(request.decided_on, field="decided_on"),
        )
        return rehab_pb2.ReduceTermResponse(planned_end=reduced.planned_end.isoformat())

    async def Discharge(self, request, context):
        ended = await self._rehab.discharge(
            admission_id=_uuid(request.admission_id),
            discharged_on=parse_date(request.discharged_on, field="discharged_on"),
            reason=request.reason,
        )
        return rehab_pb2.DischargeResponse(completed=ended.discharge_reason.completes)

    async def RecordReturn(self, request, context):
        back = await self._rehab.record_return(
            admission_id=_uuid(request.admission_id),
            returned_on=parse_date(request.returned_on, field="returned_on"),
        )
        return rehab_pb2.RecordReturnResponse(planned_end=back.planned_end.isoformat())

    async def GetAdmission(self, request, context):
        officer = metadata_value(context, "x-officer-id")
        purpose = metadata_value(context, "x-purpose")
        if not officer or not purpose:
            raise PermissionDenied(
                "read.unidentified",
                "Đọc dữ liệu cá nhân cần khai báo cán bộ (x-officer-id) và mục đích (x-purpose).",
                "Reading personal data needs the officer (x-officer-id) and the purpose (x-purpose) metadata.",
            )
        a, person, trades = await self._rehab.read_admission(
            admission_id=_uuid(request.admission_id),
            officer_id=clean_text(officer, field="x-officer-id", max_length=100),
            purpose=clean_text(purpose, field="x-purpose", max_length=200),
        )
        identity = person.identity
        return rehab_pb2.AdmissionRecord(
            admission_id=a.admission_id,
            pseudonym=person.pseudonym,
            citizen_id=identity.citizen_id if identity else "",
            full_name=identity.full_name if identity else "",
            date_of_birth=_iso(identity.date_of_birth if identity else None),
            sex=SEX[person.sex],
            kind=a.kind.value,
            status=a.status.value,
            facility_code=a.facility_code or "",
            law_version=a.law_version,
            term_months=a.term_months,
            minor=a.minor,
            admitted_on=_iso(a.admitted_on),
            temporary_stay_days=a.temporary_stay_days,
            stage=a.stage.value,
            reduced_months=a.reduced_months,
            planned_end=_iso(a.planned_end if a.admitted_on else None),
            discharged_on=_iso(a.discharged_on),
            discharge_reason=a.discharge_reason.value if a.discharge_reason else "",
            trades=trades,
        )
