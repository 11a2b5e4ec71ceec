"""gRPC edge of health: turn requests into typed values (refusing bad ones with a specific, bilingual
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
from lienthong_contracts.health.v1 import health_pb2, health_pb2_grpc
from services.health.domain.determination import assess
from services.health.event_mapping import RESULT, SEX
from services.health.handlers import Health, PersonDetails

SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["HealthService"].full_name
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_FACILITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", re.ASCII)
_PSEUDONYM = re.compile(r"[0-9]{1,6}:[0-9a-f]{32}", re.ASCII)
_SEX_IN = {common_pb2.SEX_MALE: Sex.MALE, common_pb2.SEX_FEMALE: Sex.FEMALE}


def _match(pattern: re.Pattern, value: str, field: str, vi: str, en: str) -> str:
    if not pattern.fullmatch(value):
        raise InvalidInput(
            f"{field}.format",
            f"{field} {vi} (nhận được {value[:60]!r}).",
            f"{field} {en} (got {value[:60]!r}).",
        )
    return value


def _uuid(value: str, field: str) -> str:
    return _match(
        _UUID, value, field, "phải là mã UUID do hệ thống cấp", "must be a UUID issued by the system"
    )


def _facility(value: str) -> str:
    return _match(
        _FACILITY,
        value,
        "facility_id",
        "gồm tối đa 40 ký tự chữ, số, '.', '_' hoặc '-'",
        "is up to 40 letters, digits, '.', '_' or '-'",
    )


def _person(request_person: health_pb2.PersonDetails, present: bool) -> PersonDetails:
    if not present:
        raise InvalidInput(
            "person.required", "Thiếu thông tin người bệnh.", "The person's details are missing."
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


class HealthServicer(health_pb2_grpc.HealthServiceServicer):
    def __init__(self, health: Health) -> None:
        self._health = health

    def add_to(self, server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServiceServicer_to_server(self, server)

    async def RegisterFacility(self, request, context):
        await self._health.register_facility(
            facility_id=_facility(request.facility_id), name=request.name, licensed=request.licensed
        )
        return health_pb2.RegisterFacilityResponse()

    async def RequestDetermination(self, request, context):
        d, person = await self._health.request_determination(
            person=_person(request.person, request.HasField("person")),
            requested_on=parse_date(request.requested_on, field="requested_on"),
            legal_case=request.legal_case,
        )
        return health_pb2.RequestDeterminationResponse(
            determination_id=d.determination_id,
            pseudonym=person.pseudonym,
            law_version=d.law_version,
            due_on=d.due_on(self._health.determination_max_days).isoformat(),
        )

    async def RecordCriteria(self, request, context):
        d = await self._health.record_criteria(
            determination_id=_uuid(request.determination_id, "determination_id"),
            facility_id=_facility(request.facility_id),
            observed_on=parse_date(request.observed_on, field="observed_on"),
            criteria=[c.strip().lower() for c in request.criteria_met],
        )
        return health_pb2.RecordCriteriaResponse(result=RESULT[assess(d.criteria)])

    async def ConcludeDetermination(self, request, context):
        d = await self._health.conclude_determination(
            determination_id=_uuid(request.determination_id, "determination_id"),
            facility_id=_facility(request.facility_id),
            concluded_on=parse_date(request.concluded_on, field="concluded_on"),
        )
        return health_pb2.ConcludeDeterminationResponse(
            result=RESULT[d.result], late=bool(d.late), law_version=d.law_version
        )

    async def ListPendingDeterminations(self, request, context):
        pending = await self._health.pending_determinations(commune_code=request.commune_code)
        days = self._health.determination_max_days
        return health_pb2.ListPendingDeterminationsResponse(
            determinations=[
                health_pb2.PendingDetermination(
                    determination_id=d.determination_id,
                    pseudonym=pseudonym,
                    legal_case=d.legal_case,
                    requested_on=d.requested_on.isoformat(),
                    due_on=d.due_on(days).isoformat(),
                    facility_id=d.facility_id or "",
                    law_version=d.law_version,
                )
                for d, pseudonym in pending
            ]
        )

    async def EnrolMethadone(self, request, context):
        episode, person = await self._health.enrol_methadone(
            person=_person(request.person, request.HasField("person")),
            enrolled_on=parse_date(request.enrolled_on, field="enrolled_on"),
        )
        return health_pb2.EnrolMethadoneResponse(
            episode_id=episode.episode_id, pseudonym=person.pseudonym, law_version=episode.law_version
        )

    async def AdvancePhase(self, request, context):
        episode = await self._health.advance_phase(
            episode_id=_uuid(request.episode_id, "episode_id"),
            to_phase=request.to_phase,
            on=parse_date(request.on, field="on"),
        )
        return health_pb2.AdvancePhaseResponse(phase=episode.phase.value)

    async def RecordDose(self, request, context):
        episode = await self._health.record_dose(
            episode_id=_uuid(request.episode_id, "episode_id"),
            taken_on=parse_date(request.taken_on, field="taken_on"),
            days_covered=request.days_covered or 1,
        )
        return health_pb2.RecordDoseResponse(covered_until=episode.covered_until.isoformat())

    async def RecordBreach(self, request, context):
        await self._health.record_breach(
            episode_id=_uuid(request.episode_id, "episode_id"),
            occurred_on=parse_date(request.occurred_on, field="occurred_on"),
            kind=request.kind,
        )
        return health_pb2.RecordBreachResponse()

    async def RecordOpioidTest(self, request, context):
        await self._health.record_opioid_test(
            episode_id=_uuid(request.episode_id, "episode_id"),
            tested_on=parse_date(request.tested_on, field="tested_on"),
            positive=request.positive,
        )
        return health_pb2.RecordOpioidTestResponse()

    async def EndMethadone(self, request, context):
        await self._health.end_methadone(
            episode_id=_uuid(request.episode_id, "episode_id"),
            ended_on=parse_date(request.ended_on, field="ended_on"),
            reason=request.reason,
        )
        return health_pb2.EndMethadoneResponse()

    async def DetectDropouts(self, request, context):
        dropped = await self._health.detect_dropouts(as_of=parse_date(request.as_of, field="as_of"))
        return health_pb2.DetectDropoutsResponse(episode_ids=[e.episode_id for e in dropped])

    async def GetPersonHealth(self, request, context):
        officer = metadata_value(context, "x-officer-id")
        purpose = metadata_value(context, "x-purpose")
        if not officer or not purpose:
            raise PermissionDenied(
                "read.unidentified",
                "Đọc dữ liệu cá nhân cần khai báo cán bộ (x-officer-id) và mục đích (x-purpose).",
                "Reading personal data needs the officer (x-officer-id) and the purpose (x-purpose) metadata.",
            )
        person, determinations, episodes = await self._health.read_person_health(
            pseudonym=_match(_PSEUDONYM, request.pseudonym, "pseudonym", "không đúng dạng", "is malformed"),
            officer_id=clean_text(officer, field="x-officer-id", max_length=100),
            purpose=clean_text(purpose, field="x-purpose", max_length=200),
        )
        identity = person.identity
        return health_pb2.PersonHealth(
            pseudonym=person.pseudonym,
            citizen_id=identity.citizen_id if identity else "",
            full_name=identity.full_name if identity else "",
            date_of_birth=_iso(identity.date_of_birth if identity else None),
            sex=SEX[person.sex],
            commune_code=person.commune_code,
            determinations=[
                health_pb2.Determination(
                    determination_id=d.determination_id,
                    legal_case=d.legal_case,
                    requested_on=d.requested_on.isoformat(),
                    facility_id=d.facility_id or "",
                    criteria_met=sorted(c.value for c in d.criteria or ()),
                    result=RESULT[d.result] if d.result else 0,
                    concluded_on=_iso(d.concluded_on),
                    late=bool(d.late),
                    law_version=d.law_version,
                )
                for d in determinations
            ],
            episodes=[
                health_pb2.MethadoneEpisode(
                    episode_id=e.episode_id,
                    enrolled_on=e.enrolled_on.isoformat(),
                    phase=e.phase.value,
                    maintenance_on=_iso(e.maintenance_on),
                    covered_until=_iso(e.covered_until),
                    ended_on=_iso(e.ended_on),
                    end_reason=e.end_reason.value if e.end_reason else "",
                    law_version=e.law_version,
                )
                for e in episodes
            ],
        )
