"""Domain events → protobuf payloads in envelopes for the AFTERCARE stream.

Minimisation happens here (domain.md §3, §7): only the pseudonym, unit codes, sex, age band, dates and
codes leave aftercare. Never the caretaker's name, the decision number or any free text. The agency on
each event is the operator of aftercare on the date of the act.
"""

from __future__ import annotations

from lienthong.dated import Dated
from lienthong.envelope import Envelope
from lienthong_contracts.aftercare.v1 import events_pb2
from lienthong_contracts.events.v1 import common_pb2
from services.aftercare.domain.cases import (
    Case,
    CaseClosed,
    CaseOpened,
    CasePlaced,
    SupportGiven,
)
from services.aftercare.domain.common import Person
from services.aftercare.domain.models import ModelChanged
from services.aftercare.domain.relapse import RelapseConfirmed

STREAM = "AFTERCARE"
SUBJECTS = ["aftercare.>"]
SOURCE = "lienthong/aftercare"

SEX = {"male": common_pb2.SEX_MALE, "female": common_pb2.SEX_FEMALE, "unknown": common_pb2.SEX_UNSPECIFIED}
AGE_BAND = {
    "unknown": common_pb2.AGE_BAND_UNSPECIFIED,
    "under_14": common_pb2.AGE_BAND_UNDER_14,
    "14_to_16": common_pb2.AGE_BAND_14_TO_16,
    "16_to_18": common_pb2.AGE_BAND_16_TO_18,
    "18_to_30": common_pb2.AGE_BAND_18_TO_30,
    "30_and_over": common_pb2.AGE_BAND_30_AND_OVER,
}

PersonEvent = CaseOpened | CasePlaced | SupportGiven | RelapseConfirmed | CaseClosed
DomainEvent = PersonEvent | ModelChanged


def _ref(person: Person, case: Case) -> common_pb2.PersonRef:
    return common_pb2.PersonRef(
        pseudonym=person.pseudonym,
        sex=SEX[person.sex],
        age_band=AGE_BAND[person.age_band],
        commune_code=case.commune_code,
        province_code=case.province_code,
    )


def _subject_and_payload(event: PersonEvent) -> tuple[str, bytes]:
    match event:
        case CaseOpened(person=p, case=c):
            return "aftercare.case.opened.v1", events_pb2.CaseOpened(
                person=_ref(p, c),
                case_id=c.case_id,
                source=c.source,
                source_kind=c.source_kind,
                completed_on=c.completed_on.isoformat(),
                term_months=c.term_months,
                transferred_from_case_id=c.transferred_from or "",
                opened_on=c.opened_on.isoformat(),
            ).SerializeToString()
        case CasePlaced(person=p, case=c):
            return "aftercare.case.placed.v1", events_pb2.CasePlaced(
                person=_ref(p, c),
                case_id=c.case_id,
                decided_on=c.decided_on.isoformat(),
                term_months=c.term_months,
                ends_on=c.ends_on.isoformat(),
                caretaker_kind=c.caretaker_kind,
            ).SerializeToString()
        case SupportGiven(person=p, case=c, on=on, kind=kind):
            return "aftercare.support.given.v1", events_pb2.SupportGiven(
                person=_ref(p, c), case_id=c.case_id, given_on=on.isoformat(), kind=kind
            ).SerializeToString()
        case RelapseConfirmed(person=p, case=c, on=on):
            return "aftercare.relapse.confirmed.v1", events_pb2.RelapseConfirmed(
                person=_ref(p, c), case_id=c.case_id, determined_on=on.isoformat(), adult=c.adult
            ).SerializeToString()
        case CaseClosed(person=p, case=c):
            return "aftercare.case.closed.v1", events_pb2.CaseClosed(
                person=_ref(p, c), case_id=c.case_id, closed_on=c.closed_on.isoformat(), reason=c.close_reason
            ).SerializeToString()
    raise TypeError(f"no mapping for {type(event).__name__}")


def to_envelope(event: DomainEvent, *, operators: Dated[str]) -> Envelope:
    agency = operators.at(event.on)
    if isinstance(event, ModelChanged):
        # About a commune, not a person: the commune stands where a pseudonym would.
        subject = f"commune:{event.commune_code}"
        return Envelope.new(
            subject="aftercare.model.changed.v1",
            source=SOURCE,
            person=subject,
            aggregate_id=subject,
            aggregate_version=event.version,
            agency=agency,
            payload=events_pb2.ModelChanged(
                commune_code=event.commune_code,
                province_code=event.province_code,
                changed_on=event.on.isoformat(),
                status=event.status,
            ).SerializeToString(),
        )
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
