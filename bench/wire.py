"""Acts of the national generator as the departments put them on the wire.

Each act becomes the department's protobuf message (the one reporting's step catalogue names for its
subject, filled field by field from the act's codes) in an :class:`~lienthong.envelope.Envelope`: the
CloudEvents headers, ``Nats-Msg-Id`` and the aggregate id and version, exactly as an outbox row holds them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.descriptor import FieldDescriptor

from bench.national import Act
from lienthong.envelope import Envelope
from lienthong.ids import uuid7
from lienthong_contracts.events.v1 import common_pb2
from services.reporting.steps import AGE_BAND, CATALOGUE, SEX

_SEX = {name: number for number, name in SEX.items()}
_AGE_BAND = {name: number for number, name in AGE_BAND.items()}
STREAMS = {"registry": "REGISTRY", "health": "HEALTH", "rehab": "REHAB", "aftercare": "AFTERCARE"}


@dataclass(frozen=True, slots=True)
class WireEvent:
    stream: str
    subject: str
    headers: dict[str, str]
    payload: bytes

    @property
    def event_id(self) -> str:
        return self.headers["ce-id"]


def _set_code(message, name: str, value: str) -> None:
    field = message.DESCRIPTOR.fields_by_name[name]
    if field.type == FieldDescriptor.TYPE_BOOL:
        setattr(message, name, value == "true")
    elif field.type == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        prefix = (
            "".join("_" + ch if ch.isupper() and i else ch for i, ch in enumerate(enum.name)).upper() + "_"
        )
        setattr(message, name, enum.values_by_name[prefix + value.upper()].number)
    elif field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64):
        setattr(message, name, int(value))
    else:
        setattr(message, name, value)


def payload(act: Act) -> bytes:
    shape = CATALOGUE[act.event_type]
    message = shape.message()
    if act.pseudonym is None:
        message.commune_code, message.province_code = act.commune_code, act.province_code
    else:
        message.person.CopyFrom(
            common_pb2.PersonRef(
                pseudonym=act.pseudonym,
                sex=_SEX[act.sex or "unknown"],
                age_band=_AGE_BAND[act.age_band or "unknown"],
                commune_code=act.commune_code,
                province_code=act.province_code,
            )
        )
    setattr(message, shape.date_field, act.occurred_on.isoformat())
    if shape.record_field:
        setattr(message, shape.record_field, act.record_id)
    for name, value in act.codes.items():
        _set_code(message, name, value)
    return message.SerializeToString()


def events(acts: Iterable[Act]) -> Iterator[WireEvent]:
    """Each act as its department publishes it; aggregate versions count up per person."""
    versions: dict[str, int] = defaultdict(int)
    for act in acts:
        key = act.person_id or f"commune:{act.commune_code}"
        versions[key] += 1
        envelope = Envelope(
            subject=act.event_type,
            event_id=uuid7(),
            time=datetime.now(UTC),
            source=f"lienthong/{act.department}",
            person=act.pseudonym or f"commune:{act.commune_code}",
            aggregate_id=key,
            aggregate_version=versions[key],
            agency=act.agency,
            payload=payload(act),
        )
        yield WireEvent(STREAMS[act.department], act.event_type, envelope.headers(), envelope.payload)


def outbox_row(event: WireEvent) -> dict:
    """The row a department's command would have added to its outbox for this event."""
    return {
        "event_id": event.event_id,
        "subject": event.subject,
        "headers": json.dumps(event.headers, separators=(",", ":")),
        "payload": event.payload,
        "created_at": datetime.now(UTC),
    }


def with_new_id(event: WireEvent) -> WireEvent:
    """The same event under a fresh id (a second round must not be de-duplicated by JetStream)."""
    event_id = uuid7()
    headers = {**event.headers, "ce-id": event_id, "Nats-Msg-Id": event_id}
    return WireEvent(event.stream, event.subject, headers, event.payload)
