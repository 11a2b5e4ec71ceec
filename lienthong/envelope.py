"""The event envelope: CloudEvents NATS-binding headers around a protobuf payload.

Headers: ce-specversion, ce-id, ce-type, ce-source, ce-time, ce-subject (person pseudonym),
content-type, Nats-Msg-Id (= ce-id, for JetStream de-duplication), and lienthong's extensions
lt-aggregate-id, lt-aggregate-version and lt-agency. Subjects are ``<dept>.<aggregate>.<event>.v<N>``
and ``ce-type`` is ``lienthong.`` + subject, so one name identifies the event everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from lienthong.ids import uuid7

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/protobuf"
SUBJECT_PATTERN = re.compile(r"[a-z]+\.[a-z_]+\.[a-z_]+\.v[0-9]+", re.ASCII)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})", re.ASCII
)
_VERSION = re.compile(r"[0-9]{1,18}", re.ASCII)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


class BadEvent(Exception):
    """An event that can never be processed as it is: it goes to the dead-letter stream with this reason."""


@dataclass(frozen=True)
class Envelope:
    subject: str
    event_id: str
    time: datetime
    source: str
    person: str
    aggregate_id: str
    aggregate_version: int
    agency: str
    payload: bytes

    @property
    def event_type(self) -> str:
        return f"lienthong.{self.subject}"

    @property
    def schema_version(self) -> int:
        return int(self.subject.rsplit(".v", 1)[1])

    @classmethod
    def new(
        cls,
        *,
        subject: str,
        source: str,
        person: str,
        aggregate_id: str,
        aggregate_version: int,
        agency: str,
        payload: bytes,
    ) -> Envelope:
        if not SUBJECT_PATTERN.fullmatch(subject):
            raise ValueError(f"subject {subject!r} does not follow <dept>.<aggregate>.<event>.v<N>")
        return cls(
            subject=subject,
            event_id=uuid7(),
            time=datetime.now(UTC),
            source=source,
            person=person,
            aggregate_id=aggregate_id,
            aggregate_version=aggregate_version,
            agency=agency,
            payload=payload,
        )

    def headers(self) -> dict[str, str]:
        return {
            "ce-specversion": SPEC_VERSION,
            "ce-id": self.event_id,
            "ce-type": self.event_type,
            "ce-source": self.source,
            "ce-time": self.time.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "ce-subject": self.person,
            "content-type": CONTENT_TYPE,
            "Nats-Msg-Id": self.event_id,
            "lt-aggregate-id": self.aggregate_id,
            "lt-aggregate-version": str(self.aggregate_version),
            "lt-agency": self.agency,
        }

    @classmethod
    def parse(cls, subject: str, headers: Mapping[str, str] | None, payload: bytes) -> Envelope:
        """Check the headers of a received message; raise BadEvent naming the first thing wrong."""
        headers = headers or {}

        def need(name: str) -> str:
            value = headers.get(name)
            if not value:
                raise BadEvent(f"missing header {name}")
            return value

        if need("ce-specversion") != SPEC_VERSION:
            raise BadEvent(f"unsupported ce-specversion {headers['ce-specversion']!r}")
        if not SUBJECT_PATTERN.fullmatch(subject):
            raise BadEvent(f"subject {subject!r} does not follow <dept>.<aggregate>.<event>.v<N>")
        if need("ce-type") != f"lienthong.{subject}":
            raise BadEvent(f"ce-type {headers['ce-type']!r} does not match subject {subject!r}")
        if need("content-type") != CONTENT_TYPE:
            raise BadEvent(f"content-type {headers['content-type']!r} is not {CONTENT_TYPE}")
        event_id = need("ce-id")
        if not _UUID.fullmatch(event_id):
            raise BadEvent(f"ce-id {event_id!r} is not a UUID")
        raw_time = need("ce-time")
        if not _RFC3339.fullmatch(raw_time):
            raise BadEvent(f"ce-time {raw_time!r} is not an RFC 3339 timestamp with an offset")
        try:
            time = datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
        except ValueError:
            raise BadEvent(f"ce-time {raw_time!r} is not a real time") from None
        raw_version = need("lt-aggregate-version")
        if not _VERSION.fullmatch(raw_version):
            raise BadEvent(f"lt-aggregate-version {raw_version!r} is not a number")
        version = int(raw_version)
        return cls(
            subject=subject,
            event_id=event_id,
            time=time,
            source=need("ce-source"),
            person=need("ce-subject"),
            aggregate_id=need("lt-aggregate-id"),
            aggregate_version=version,
            agency=need("lt-agency"),
            payload=payload,
        )
