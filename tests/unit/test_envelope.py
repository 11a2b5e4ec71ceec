"""The CloudEvents envelope (NATS binding) and the time-ordered event ids."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from lienthong.envelope import CONTENT_TYPE, SPEC_VERSION, BadEvent, Envelope
from lienthong.ids import uuid7

SUBJECT = "police.case.opened.v1"
PERSON = "1:0123456789abcdef0123456789abcdef"
UUID7_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.ASCII)
RFC3339_UTC_MICROS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z", re.ASCII)

REQUIRED_HEADERS = [
    "ce-specversion",
    "ce-id",
    "ce-type",
    "ce-source",
    "ce-time",
    "ce-subject",
    "content-type",
    "lt-aggregate-id",
    "lt-aggregate-version",
    "lt-agency",
]


def make(subject: str = SUBJECT, **overrides) -> Envelope:
    fields = {
        "subject": subject,
        "source": "lienthong/registry",
        "person": PERSON,
        "aggregate_id": "case-42",
        "aggregate_version": 7,
        "agency": "police.hanoi",
        "payload": b"\x08\x01\x12\x03abc",
    }
    fields.update(overrides)
    return Envelope.new(**fields)


def parse_with(header_changes: dict[str, str | None], subject: str = SUBJECT) -> Envelope:
    envelope = make()
    headers = envelope.headers()
    for name, value in header_changes.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    return Envelope.parse(subject, headers, envelope.payload)


# --- headers -----------------------------------------------------------------------------------------------


def test_headers_carry_every_cloudevents_and_lienthong_field():
    before = datetime.now(UTC)
    envelope = make()
    after = datetime.now(UTC)
    headers = envelope.headers()

    assert set(headers) == {*REQUIRED_HEADERS, "Nats-Msg-Id"}
    assert all(isinstance(value, str) and value for value in headers.values())
    assert headers["ce-specversion"] == "1.0" == SPEC_VERSION
    assert UUID7_TEXT.fullmatch(headers["ce-id"])
    assert headers["ce-type"] == "lienthong." + SUBJECT == "lienthong.police.case.opened.v1"
    assert headers["ce-source"] == "lienthong/registry"
    assert RFC3339_UTC_MICROS.fullmatch(headers["ce-time"])
    stamped = datetime.fromisoformat(headers["ce-time"].replace("Z", "+00:00"))
    assert before <= stamped <= after
    assert headers["ce-subject"] == PERSON
    assert headers["content-type"] == "application/protobuf" == CONTENT_TYPE
    assert headers["Nats-Msg-Id"] == headers["ce-id"]
    assert headers["lt-aggregate-id"] == "case-42"
    assert headers["lt-aggregate-version"] == "7"
    assert headers["lt-agency"] == "police.hanoi"


def test_new_envelope_properties():
    envelope = make("labour.rehab_order.issued.v12")
    assert envelope.event_type == "lienthong.labour.rehab_order.issued.v12"
    assert envelope.schema_version == 12
    assert envelope.time.tzinfo is not None
    assert envelope.time.utcoffset() == timedelta(0)


def test_each_new_envelope_gets_a_fresh_event_id():
    ids = {make().event_id for _ in range(100)}
    assert len(ids) == 100


@pytest.mark.parametrize(
    "subject",
    [
        "police.case.opened",
        "police.case.v1",
        "police.case.opened.v",
        "police.case.opened.1",
        "police.case.opened.v1.extra",
        "Police.case.opened.v1",
        "police.case-x.opened.v1",
        "police..opened.v1",
        "police.case.opened.vX",
        "police.case.opened.v１",
        "police.case.opened.v1 ",
        "police.*.opened.v1",
        "police.>",
        "",
    ],
)
def test_new_refuses_a_subject_not_following_the_pattern(subject):
    with pytest.raises(ValueError, match=r"does not follow <dept>\.<aggregate>\.<event>\.v<N>"):
        make(subject)


# --- round trip ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("subject", [SUBJECT, "health.treatment_plan.started.v2", "labour.order.closed.v10"])
def test_round_trip_gives_back_equal_fields(subject):
    envelope = make(subject, payload=b"\x00\xffbinary")
    parsed = Envelope.parse(subject, envelope.headers(), envelope.payload)
    assert parsed == envelope
    for field in (
        "subject",
        "event_id",
        "time",
        "source",
        "person",
        "aggregate_id",
        "aggregate_version",
        "agency",
        "payload",
    ):
        assert getattr(parsed, field) == getattr(envelope, field), field
    assert parsed.time.utcoffset() == timedelta(0)
    assert parsed.headers() == envelope.headers()


def test_round_trip_keeps_unicode_header_values():
    envelope = make(source="lienthong/sở-lao-động", agency="công-an.hà-nội")
    assert Envelope.parse(SUBJECT, envelope.headers(), envelope.payload) == envelope


# --- parse refusals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED_HEADERS)
def test_missing_header_is_named(name):
    with pytest.raises(BadEvent) as caught:
        parse_with({name: None})
    assert str(caught.value) == f"missing header {name}"


@pytest.mark.parametrize("name", REQUIRED_HEADERS)
def test_empty_header_counts_as_missing(name):
    with pytest.raises(BadEvent) as caught:
        parse_with({name: ""})
    assert str(caught.value) == f"missing header {name}"


@pytest.mark.parametrize("headers", [None, {}])
def test_no_headers_at_all(headers):
    with pytest.raises(BadEvent, match=r"^missing header ce-specversion$"):
        Envelope.parse(SUBJECT, headers, b"")


@pytest.mark.parametrize("version", ["0.3", "1", "1.0 ", "2.0"])
def test_unsupported_specversion(version):
    with pytest.raises(BadEvent, match=r"^unsupported ce-specversion"):
        parse_with({"ce-specversion": version})


@pytest.mark.parametrize(
    "ce_type",
    [
        "lienthong.police.case.closed.v1",
        "lienthong.police.case.opened.v2",
        "police.case.opened.v1",
        "com.example.police.case.opened.v1",
        "lienthong.police.case.opened.v1 ",
    ],
)
def test_ce_type_not_matching_the_subject(ce_type):
    with pytest.raises(BadEvent) as caught:
        parse_with({"ce-type": ce_type})
    assert str(caught.value) == f"ce-type {ce_type!r} does not match subject {SUBJECT!r}"


def test_event_published_on_another_subject_than_its_type():
    other = "police.case.closed.v1"
    with pytest.raises(BadEvent, match=re.escape("does not match subject 'police.case.closed.v1'")):
        parse_with({}, subject=other)


@pytest.mark.parametrize("content_type", ["application/json", "application/cloudevents+json", "text/plain"])
def test_wrong_content_type(content_type):
    with pytest.raises(BadEvent) as caught:
        parse_with({"content-type": content_type})
    assert str(caught.value) == f"content-type {content_type!r} is not application/protobuf"


@pytest.mark.parametrize(
    "event_id",
    [
        "not-a-uuid",
        "42",
        "0190f3a0-0000-7000-8000-00000000000",  # one digit short
        "0190f3a00000700080000000000000000",
        "{0190f3a0-0000-7000-8000-000000000000}",
        "0190F3A0-0000-7000-8000-000000000000",  # upper case: not how uuid7() writes ids
    ],
)
def test_ce_id_that_is_not_a_uuid(event_id):
    with pytest.raises(BadEvent) as caught:
        parse_with({"ce-id": event_id, "Nats-Msg-Id": event_id})
    assert str(caught.value) == f"ce-id {event_id!r} is not a UUID"


@pytest.mark.parametrize(
    "ce_time", ["yesterday", "2025-13-01T00:00:00Z", "2025-03-01T25:00:00Z", "1741000000"]
)
def test_bad_ce_time(ce_time):
    with pytest.raises(BadEvent) as caught:
        parse_with({"ce-time": ce_time})
    assert str(caught.value).startswith(f"ce-time {ce_time!r} is not")


def test_ce_time_with_offset_is_accepted():
    parsed = parse_with({"ce-time": "2025-03-01T07:00:00+07:00"})
    assert parsed.time == datetime(2025, 3, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("ce_time", ["2025-03-01T10:00:00", "2025-03-01", "20250301T100000Z"])
def test_ce_time_without_offset_or_time_is_refused(ce_time):
    with pytest.raises(BadEvent, match="is not an RFC 3339 timestamp"):
        parse_with({"ce-time": ce_time})


@pytest.mark.parametrize("version", ["seven", "7.0", "1e3", "0x7", "7a"])
def test_non_numeric_aggregate_version(version):
    with pytest.raises(BadEvent) as caught:
        parse_with({"lt-aggregate-version": version})
    assert str(caught.value) == f"lt-aggregate-version {version!r} is not a number"


@pytest.mark.parametrize("version", ["７", "٧", " 7", "7\n", "+7", "-1", "1_0"])
def test_aggregate_version_must_be_plain_ascii_digits(version):
    with pytest.raises(BadEvent, match="lt-aggregate-version"):
        parse_with({"lt-aggregate-version": version})


@pytest.mark.parametrize(
    "subject",
    [
        "police.case.opened",
        "police.case.opened.v1.extra",
        "Police.case.opened.v1",
        "police.case.opened.vX",
        "police.case.opened.v٣",
        "dlq.police",
        "",
    ],
)
def test_subject_not_following_the_pattern(subject):
    envelope = make()
    headers = envelope.headers() | {"ce-type": f"lienthong.{subject}"}
    with pytest.raises(BadEvent) as caught:
        Envelope.parse(subject, headers, envelope.payload)
    assert str(caught.value) == f"subject {subject!r} does not follow <dept>.<aggregate>.<event>.v<N>"


def test_bad_event_is_an_exception_with_the_reason_as_message():
    assert issubclass(BadEvent, Exception)
    assert str(BadEvent("why")) == "why"


# --- uuid7 ------------------------------------------------------------------------------------------------------


def test_uuid7_version_variant_and_text_form():
    for _ in range(1000):
        value = uuid7()
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value  # canonical lower-case form
        assert UUID7_TEXT.fullmatch(value)


def test_uuid7_timestamp_is_the_creation_time_in_milliseconds():
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid.UUID(value).int >> 80 <= after


def test_uuid7_values_are_unique():
    assert len({uuid7() for _ in range(10_000)}) == 10_000


def _two_groups() -> tuple[list[str], list[str]]:
    first = [uuid7() for _ in range(500)]
    time.sleep(0.002)
    second = [uuid7() for _ in range(500)]
    return first, second


def test_uuid7_sort_by_creation_millisecond():
    first, second = _two_groups()
    assert max(first) < min(second)
    created = first + second
    millis = [uuid.UUID(value).int >> 80 for value in created]
    assert millis == sorted(millis)
    # Sorting never moves an id across a millisecond boundary.
    assert [uuid.UUID(value).int >> 80 for value in sorted(created)] == millis


def test_uuid7_sort_in_creation_order():
    first, second = _two_groups()
    created = first + second
    assert sorted(created) == created
