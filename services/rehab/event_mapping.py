"""Domain events → protobuf payloads in envelopes for the REHAB stream.

Minimisation happens here (domain.md §3, §7): only the pseudonym, unit codes, sex, age band, dates, kinds,
facility codes, trade codes and reason codes leave rehab. ``lt-agency`` is the agency operating rehab on
the date of the act (Labour before 2025-03-01, the Police after), never the date of publishing.
"""

from __future__ import annotations

from datetime import date

from lienthong.dated import Dated
from lienthong.envelope import Envelope
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.rehab.v1 import events_pb2
from services.rehab.domain.admissions import (
    Admission,
    AdmissionExpected,
    Admitted,
    Discharged,
    Returned,
    TrainingGiven,
)
from services.rehab.domain.people import Person

STREAM = "REHAB"
SUBJECTS = ["rehab.>"]
SOURCE = "lienthong/rehab"

SEX = {"male": common_pb2.SEX_MALE, "female": common_pb2.SEX_FEMALE, "unknown": common_pb2.SEX_UNSPECIFIED}
AGE_BAND = {
    "unknown": common_pb2.AGE_BAND_UNSPECIFIED,
    "under_14": common_pb2.AGE_BAND_UNDER_14,
    "14_to_16": common_pb2.AGE_BAND_14_TO_16,
    "16_to_18": common_pb2.AGE_BAND_16_TO_18,
    "18_to_30": common_pb2.AGE_BAND_18_TO_30,
    "30_and_over": common_pb2.AGE_BAND_30_AND_OVER,
}

DomainEvent = AdmissionExpected | Admitted | TrainingGiven | Discharged | Returned


def _ref(person: Person, on: date, admission: Admission) -> common_pb2.PersonRef:
    return common_pb2.PersonRef(
        pseudonym=person.pseudonym,
        sex=SEX[person.sex],
        age_band=AGE_BAND[person.band_on(on)],
        commune_code=admission.commune_code,
        province_code=admission.province_code,
    )


def _subject_and_payload(event: DomainEvent) -> tuple[str, bytes]:
    p, a, on = event.person, event.admission, event.on
    match event:
        case AdmissionExpected():
            return "rehab.admission.expected.v1", events_pb2.AdmissionExpected(
                person=_ref(p, on, a),
                admission_id=a.admission_id,
                facility_code=a.facility_code or "",
                court_decided_on=on.isoformat(),
                term_months=a.term_months,
                dossier_id=a.dossier_id or "",
            ).SerializeToString()
        case Admitted():
            return "rehab.admission.admitted.v1", events_pb2.Admitted(
                person=_ref(p, on, a),
                admission_id=a.admission_id,
                kind=a.kind.value,
                facility_code=a.facility_code or "",
                facility_private=event.facility_private,
                admitted_on=on.isoformat(),
                term_months=a.term_months,
                temporary_stay_days=a.temporary_stay_days,
                law_version=a.law_version,
            ).SerializeToString()
        case TrainingGiven(trade=trade):
            return "rehab.training.given.v1", events_pb2.TrainingGiven(
                person=_ref(p, on, a), admission_id=a.admission_id, given_on=on.isoformat(), trade=trade
            ).SerializeToString()
        case Discharged():
            return "rehab.admission.discharged.v1", events_pb2.Discharged(
                person=_ref(p, on, a),
                admission_id=a.admission_id,
                kind=a.kind.value,
                facility_code=a.facility_code or "",
                discharged_on=on.isoformat(),
                reason=a.discharge_reason.value,
                completed=a.discharge_reason.completes,
            ).SerializeToString()
        case Returned():
            return "rehab.admission.returned.v1", events_pb2.Returned(
                person=_ref(p, on, a), admission_id=a.admission_id, returned_on=on.isoformat()
            ).SerializeToString()
    raise TypeError(f"no mapping for {type(event).__name__}")


def to_envelope(event: DomainEvent, *, operators: Dated[str]) -> Envelope:
    subject, payload = _subject_and_payload(event)
    return Envelope.new(
        subject=subject,
        source=SOURCE,
        person=event.person.pseudonym,
        aggregate_id=event.person.person_id,
        aggregate_version=event.person.version,
        agency=operators.at(event.on),
        payload=payload,
    )
