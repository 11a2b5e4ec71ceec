"""Domain events → protobuf payloads in envelopes for the REGISTRY stream.

This is where minimisation happens: only the pseudonym, unit codes, sex, age band and dates leave the
registry. Names, citizen IDs, test places and decision numbers stay in its database.
"""

from __future__ import annotations

from datetime import date

from lienthong.cccd import Sex
from lienthong.envelope import Envelope
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.registry.v1 import events_pb2
from services.registry.domain import (
    AgeBand,
    ManagementDecided,
    ManagementEnded,
    Person,
    PersonMoved,
    PersonRegistered,
    PositiveTestRecorded,
    age_band,
)
from services.registry.dossier_rules import DossierChanged, Status

STREAM = "REGISTRY"
SUBJECTS = ["registry.>"]
SOURCE = "lienthong/registry"

_SEX = {Sex.MALE: common_pb2.SEX_MALE, Sex.FEMALE: common_pb2.SEX_FEMALE}
_AGE_BAND = {
    AgeBand.UNDER_14: common_pb2.AGE_BAND_UNDER_14,
    AgeBand.FROM_14_TO_16: common_pb2.AGE_BAND_14_TO_16,
    AgeBand.FROM_16_TO_18: common_pb2.AGE_BAND_16_TO_18,
    AgeBand.FROM_18_TO_30: common_pb2.AGE_BAND_18_TO_30,
    AgeBand.FROM_30: common_pb2.AGE_BAND_30_AND_OVER,
}

DomainEvent = (
    PersonRegistered
    | PositiveTestRecorded
    | ManagementDecided
    | ManagementEnded
    | PersonMoved
    | DossierChanged
)
_DOSSIER_SUBJECT = {
    Status.OPENED: "registry.compulsory_dossier.opened.v1",
    Status.SUBMITTED: "registry.compulsory_dossier.submitted.v1",
    Status.GRANTED: "registry.compulsory_dossier.decided.v1",
    Status.REJECTED: "registry.compulsory_dossier.decided.v1",
}


def _ref(person: Person, on: date, commune_code: str, province_code: str) -> common_pb2.PersonRef:
    return common_pb2.PersonRef(
        pseudonym=person.pseudonym,
        sex=_SEX[person.sex],
        age_band=_AGE_BAND[age_band(person.date_of_birth, on)],
        commune_code=commune_code,
        province_code=province_code,
    )


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def _subject_and_payload(event: DomainEvent) -> tuple[str, bytes]:
    match event:
        case PersonRegistered(person=p):
            ref = _ref(p, p.registered_on, p.commune_code, p.province_code)
            return "registry.person.registered.v1", events_pb2.PersonRegistered(
                person=ref, registered_on=p.registered_on.isoformat()
            ).SerializeToString()
        case PositiveTestRecorded(person=p, test=t):
            ref = _ref(p, t.tested_on, p.commune_code, p.province_code)
            return "registry.drug_test.positive_recorded.v1", events_pb2.PositiveDrugTestRecorded(
                person=ref,
                test_id=t.test_id,
                tested_on=t.tested_on.isoformat(),
                substance=t.substance,
                during_management=t.during_management,
            ).SerializeToString()
        case ManagementDecided(person=p, management=m):
            ref = _ref(p, m.decided_on, m.commune_code, m.province_code)
            return "registry.management.decided.v1", events_pb2.ManagementDecided(
                person=ref,
                management_id=m.management_id,
                decided_on=m.decided_on.isoformat(),
                expires_on=m.expires_on.isoformat(),
                law_version=m.law_version,
            ).SerializeToString()
        case ManagementEnded(person=p, management=m):
            ref = _ref(p, m.ended_on, m.commune_code, m.province_code)
            return "registry.management.ended.v1", events_pb2.ManagementEnded(
                person=ref,
                management_id=m.management_id,
                ended_on=m.ended_on.isoformat(),
                reason=m.end_reason.value,
            ).SerializeToString()
        case PersonMoved(person=p):
            ref = _ref(p, event.moved_on, p.commune_code, p.province_code)
            return "registry.person.moved.v1", events_pb2.PersonMoved(
                person=ref,
                moved_on=event.moved_on.isoformat(),
                from_commune_code=event.from_commune_code,
                from_province_code=event.from_province_code,
                reported_at=event.reported_at.isoformat(timespec="seconds"),
                reported_late=event.reported_late,
                law_version=event.law_version,
            ).SerializeToString()
        case DossierChanged(person=p, dossier=d):
            on = d.decided_on or d.submitted_on or d.opened_on
            ref = _ref(p, on, p.commune_code, p.province_code)
            return _DOSSIER_SUBJECT[d.status], events_pb2.CompulsoryDossierChanged(
                person=ref,
                dossier_id=d.dossier_id,
                ground=d.ground.value,
                status=d.status.value,
                opened_on=d.opened_on.isoformat(),
                submitted_on=_iso(d.submitted_on),
                decided_on=_iso(d.decided_on),
                term_months=d.term_months or 0,
                facility_code=d.facility_code or "",
                minor=d.minor,
                law_version=d.law_version,
            ).SerializeToString()
    raise TypeError(f"no mapping for {type(event).__name__}")


def to_envelope(event: DomainEvent, *, agency: str) -> Envelope:
    subject, payload = _subject_and_payload(event)
    return Envelope.new(
        subject=subject,
        source=SOURCE,
        person=event.person.pseudonym,
        aggregate_id=event.person.person_id,
        aggregate_version=event.person.version,
        agency=agency,
        payload=payload,
    )
