"""Domain events → protobuf payloads in envelopes for the HEALTH stream.

Minimisation happens here (domain.md §3, §7): only the pseudonym, unit codes, sex, age band, dates, the
determination result and the methadone end reason leave health. Never the criteria, doses, breaches,
test results, names or citizen IDs.
"""

from __future__ import annotations

from datetime import date

from lienthong.envelope import Envelope
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.health.v1 import events_pb2
from services.health.domain.determination import DeterminationConcluded, DeterminationRequested, Result
from services.health.domain.methadone import MethadoneEnded, MethadoneEnrolled
from services.health.domain.people import Person

STREAM = "HEALTH"
SUBJECTS = ["health.>"]
SOURCE = "lienthong/health"

SEX = {"male": common_pb2.SEX_MALE, "female": common_pb2.SEX_FEMALE, "unknown": common_pb2.SEX_UNSPECIFIED}
AGE_BAND = {
    "unknown": common_pb2.AGE_BAND_UNSPECIFIED,
    "under_14": common_pb2.AGE_BAND_UNDER_14,
    "14_to_16": common_pb2.AGE_BAND_14_TO_16,
    "16_to_18": common_pb2.AGE_BAND_16_TO_18,
    "18_to_30": common_pb2.AGE_BAND_18_TO_30,
    "30_and_over": common_pb2.AGE_BAND_30_AND_OVER,
}
RESULT = {
    Result.ADDICTED: events_pb2.DETERMINATION_RESULT_ADDICTED,
    Result.NOT_ADDICTED: events_pb2.DETERMINATION_RESULT_NOT_ADDICTED,
    Result.KEEP_OBSERVING: events_pb2.DETERMINATION_RESULT_KEEP_OBSERVING,
}

DomainEvent = DeterminationRequested | DeterminationConcluded | MethadoneEnrolled | MethadoneEnded


def _ref(person: Person, on: date, commune_code: str, province_code: str) -> common_pb2.PersonRef:
    return common_pb2.PersonRef(
        pseudonym=person.pseudonym,
        sex=SEX[person.sex],
        age_band=AGE_BAND[person.band_on(on)],
        commune_code=commune_code,
        province_code=province_code,
    )


def _subject_and_payload(event: DomainEvent) -> tuple[str, bytes]:
    match event:
        case DeterminationRequested(person=p, determination=d):
            return "health.determination.requested.v1", events_pb2.DeterminationRequested(
                person=_ref(p, d.requested_on, d.commune_code, d.province_code),
                determination_id=d.determination_id,
                requested_on=d.requested_on.isoformat(),
                legal_case=d.legal_case,
            ).SerializeToString()
        case DeterminationConcluded(person=p, determination=d):
            return "health.determination.concluded.v1", events_pb2.DeterminationConcluded(
                person=_ref(p, d.concluded_on, d.commune_code, d.province_code),
                determination_id=d.determination_id,
                concluded_on=d.concluded_on.isoformat(),
                result=RESULT[d.result],
            ).SerializeToString()
        case MethadoneEnrolled(person=p, episode=e):
            return "health.methadone.enrolled.v1", events_pb2.MethadoneEnrolled(
                person=_ref(p, e.enrolled_on, e.commune_code, e.province_code),
                episode_id=e.episode_id,
                enrolled_on=e.enrolled_on.isoformat(),
            ).SerializeToString()
        case MethadoneEnded(person=p, episode=e):
            return "health.methadone.ended.v1", events_pb2.MethadoneEnded(
                person=_ref(p, e.ended_on, e.commune_code, e.province_code),
                episode_id=e.episode_id,
                ended_on=e.ended_on.isoformat(),
                reason=e.end_reason.value,
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
