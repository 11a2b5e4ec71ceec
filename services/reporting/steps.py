"""Every department event as one step of a person's path: the act, its date, unit and closed-list codes.

The catalogue below is data: for each subject, the protobuf message, the field that dates the act, the
field naming the department's record, and the fields kept as codes. Contracts carry no names, ID numbers
or free text, and this keeps only what the catalogue names, so nothing personal can slip into the read
model through a new field. Decoding is pure and refuses anything malformed with ``BadEvent``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from lienthong import units
from lienthong.dates import parse_date
from lienthong.envelope import BadEvent, Envelope
from lienthong.errors import InvalidInput
from lienthong_contracts.aftercare.v1 import events_pb2 as aftercare
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.health.v1 import events_pb2 as health
from lienthong_contracts.registry.v1 import events_pb2 as registry
from lienthong_contracts.rehab.v1 import events_pb2 as rehab

PSEUDONYM = re.compile(r"[0-9]{1,6}:[0-9a-f]{32}", re.ASCII)
_RECORD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", re.ASCII)
# Codes from closed lists, dates, law versions, facility and record ids: short tokens, never prose.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}", re.ASCII)
SEX = {common_pb2.SEX_UNSPECIFIED: "unknown", common_pb2.SEX_MALE: "male", common_pb2.SEX_FEMALE: "female"}
AGE_BAND = {
    common_pb2.AGE_BAND_UNSPECIFIED: "unknown",
    common_pb2.AGE_BAND_UNDER_14: "under_14",
    common_pb2.AGE_BAND_14_TO_16: "14_to_16",
    common_pb2.AGE_BAND_16_TO_18: "16_to_18",
    common_pb2.AGE_BAND_18_TO_30: "18_to_30",
    common_pb2.AGE_BAND_30_AND_OVER: "30_and_over",
}
# Which agencies exist is the departments' dated configuration; reporting only checks the shape.
_AGENCY = re.compile(r"[a-z][a-z_]{0,29}", re.ASCII)


@dataclass(frozen=True)
class Shape:
    message: type[Message]
    date_field: str
    record_field: str = ""
    codes: tuple[str, ...] = ()


_DOSSIER_CODES = ("ground", "status", "term_months", "facility_code", "minor", "law_version")

CATALOGUE: dict[str, Shape] = {
    "registry.person.registered.v1": Shape(registry.PersonRegistered, "registered_on"),
    "registry.drug_test.positive_recorded.v1": Shape(
        registry.PositiveDrugTestRecorded, "tested_on", "test_id", ("substance", "during_management")
    ),
    "registry.management.decided.v1": Shape(
        registry.ManagementDecided, "decided_on", "management_id", ("expires_on", "law_version")
    ),
    "registry.management.ended.v1": Shape(registry.ManagementEnded, "ended_on", "management_id", ("reason",)),
    "registry.person.moved.v1": Shape(
        registry.PersonMoved, "moved_on", "", ("from_commune_code", "reported_late", "law_version")
    ),
    "registry.compulsory_dossier.opened.v1": Shape(
        registry.CompulsoryDossierChanged, "opened_on", "dossier_id", _DOSSIER_CODES
    ),
    "registry.compulsory_dossier.submitted.v1": Shape(
        registry.CompulsoryDossierChanged, "submitted_on", "dossier_id", _DOSSIER_CODES
    ),
    "registry.compulsory_dossier.decided.v1": Shape(
        registry.CompulsoryDossierChanged, "decided_on", "dossier_id", _DOSSIER_CODES
    ),
    "health.determination.requested.v1": Shape(
        health.DeterminationRequested, "requested_on", "determination_id", ("legal_case",)
    ),
    "health.determination.concluded.v1": Shape(
        health.DeterminationConcluded, "concluded_on", "determination_id", ("result",)
    ),
    "health.methadone.enrolled.v1": Shape(health.MethadoneEnrolled, "enrolled_on", "episode_id"),
    "health.methadone.ended.v1": Shape(health.MethadoneEnded, "ended_on", "episode_id", ("reason",)),
    "rehab.admission.expected.v1": Shape(
        rehab.AdmissionExpected,
        "court_decided_on",
        "admission_id",
        ("facility_code", "term_months", "dossier_id"),
    ),
    "rehab.admission.admitted.v1": Shape(
        rehab.Admitted,
        "admitted_on",
        "admission_id",
        ("kind", "facility_code", "facility_private", "term_months", "temporary_stay_days", "law_version"),
    ),
    "rehab.training.given.v1": Shape(rehab.TrainingGiven, "given_on", "admission_id", ("trade",)),
    "rehab.admission.discharged.v1": Shape(
        rehab.Discharged, "discharged_on", "admission_id", ("kind", "facility_code", "reason", "completed")
    ),
    "rehab.admission.returned.v1": Shape(rehab.Returned, "returned_on", "admission_id"),
    "aftercare.case.opened.v1": Shape(
        aftercare.CaseOpened,
        "opened_on",
        "case_id",
        ("source_kind", "completed_on", "term_months", "transferred_from_case_id"),
    ),
    "aftercare.case.placed.v1": Shape(
        aftercare.CasePlaced, "decided_on", "case_id", ("term_months", "ends_on", "caretaker_kind")
    ),
    "aftercare.support.given.v1": Shape(aftercare.SupportGiven, "given_on", "case_id", ("kind",)),
    "aftercare.relapse.confirmed.v1": Shape(
        aftercare.RelapseConfirmed, "determined_on", "case_id", ("adult",)
    ),
    "aftercare.case.closed.v1": Shape(aftercare.CaseClosed, "closed_on", "case_id", ("reason",)),
    # About a commune, not a person: ce-subject is "commune:<code>".
    "aftercare.model.changed.v1": Shape(aftercare.ModelChanged, "changed_on", "", ("status",)),
}


@dataclass(frozen=True)
class Step:
    event_id: str
    event_type: str
    department: str
    agency: str
    occurred_on: date
    recorded_at: datetime
    pseudonym: str | None  # None for acts about a commune
    commune_code: str
    province_code: str
    sex: str | None
    age_band: str | None
    record_id: str
    codes: tuple[tuple[str, str], ...]


def parse(envelope: Envelope) -> tuple[Step, Message]:
    """The step an event records, and its decoded message for the figures that need more than the step."""
    shape = CATALOGUE.get(envelope.subject)
    if shape is None:
        raise BadEvent(f"unknown subject {envelope.subject}: reporting has no decoder for it")
    message = shape.message()
    try:
        message.ParseFromString(envelope.payload)
    except DecodeError as exc:
        raise BadEvent(f"payload is not a {shape.message.DESCRIPTOR.full_name}: {exc}") from None
    department = envelope.subject.split(".", 1)[0]
    if not _AGENCY.fullmatch(envelope.agency):
        raise BadEvent(f"lt-agency {envelope.agency!r} is not an agency code")
    if "person" in shape.message.DESCRIPTOR.fields_by_name:
        pseudonym, sex, age_band, commune, province = _person(envelope, message)
    else:
        pseudonym, sex, age_band = None, None, None
        commune, province = _unit(message.commune_code, message.province_code, "")
        if envelope.person != f"commune:{commune}":
            raise BadEvent(f"ce-subject {envelope.person!r} is not commune:{commune}")
    step = Step(
        event_id=envelope.event_id,
        event_type=envelope.subject,
        department=department,
        agency=envelope.agency,
        occurred_on=date_field(message, shape.date_field),
        recorded_at=envelope.time,
        pseudonym=pseudonym,
        commune_code=commune,
        province_code=province,
        sex=sex,
        age_band=age_band,
        record_id=_record_id(message, shape.record_field),
        codes=tuple((name, _code(message, name)) for name in shape.codes),
    )
    return step, message


def date_field(message: Message, name: str) -> date:
    try:
        return parse_date(getattr(message, name), field=name)
    except InvalidInput as exc:
        raise BadEvent(exc.en) from None


def _record_id(message: Message, name: str) -> str:
    if not name:
        return ""
    value = getattr(message, name)
    if not _RECORD_ID.fullmatch(value):
        raise BadEvent(f"{name} {value!r} is missing or malformed")
    return value


def _code(message: Message, name: str) -> str:
    field = message.DESCRIPTOR.fields_by_name[name]
    value: Any = getattr(message, name)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        if value not in enum.values_by_number:
            raise BadEvent(f"{name} {value} is not a known {enum.name}")
        # DETERMINATION_RESULT_ADDICTED -> addicted: the code without its enum's prefix.
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
        return enum.values_by_number[value].name.removeprefix(prefix).lower()
    if field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64):
        if value < 0:
            raise BadEvent(f"{name} {value} is negative")
        return str(value)
    if value and not _TOKEN.fullmatch(value):
        raise BadEvent(f"{name} {value[:80]!r} is not a code")
    return value


def _person(envelope: Envelope, message: Any) -> tuple[str, str, str, str, str]:
    if not message.HasField("person"):
        raise BadEvent("person is missing")
    ref = message.person
    if not PSEUDONYM.fullmatch(ref.pseudonym):
        raise BadEvent(f"person.pseudonym {ref.pseudonym!r} is missing or malformed")
    if ref.pseudonym != envelope.person:
        raise BadEvent("person.pseudonym does not match the ce-subject header")
    if ref.sex not in SEX:
        raise BadEvent(f"person.sex {ref.sex} is not a known value")
    if ref.age_band not in AGE_BAND:
        raise BadEvent(f"person.age_band {ref.age_band} is not a known value")
    commune, province = _unit(ref.commune_code, ref.province_code, "person.")
    return ref.pseudonym, SEX[ref.sex], AGE_BAND[ref.age_band], commune, province


def _unit(commune_code: str, province_code: str, prefix: str) -> tuple[str, str]:
    try:
        commune = units.commune(commune_code, field=f"{prefix}commune_code")
    except InvalidInput as exc:
        raise BadEvent(f"{prefix}commune_code: {exc.en}") from None
    if province_code != commune.province_code:
        raise BadEvent(
            f"{prefix}province_code {province_code!r} is not the province of commune "
            f"{commune.code} ({commune.province_code})"
        )
    return commune.code, commune.province_code
