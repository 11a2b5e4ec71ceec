"""Registry events into health: a positive test during management opens a determination request
(Law 73/2021 Art. 27(1)(a); domain.md §4). Only ``registry.drug_test.positive_recorded.v1`` is consumed.

``decode`` is pure: it maps an envelope to a checked fact (or None when the event asks nothing of health)
or raises ``BadEvent`` with the reason, and the batch consumer dead-letters it. ``apply`` writes one
batch in the consumer's transaction, outbox rows included.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong import units
from lienthong.consumer import Delivered
from lienthong.dated import Dated
from lienthong.dates import parse_date
from lienthong.envelope import BadEvent, Envelope
from lienthong.errors import InvalidInput
from lienthong_contracts.registry.v1 import events_pb2
from services.health.event_mapping import AGE_BAND, SEX
from services.health.handlers import Health, RegistryTest

CONSUMER_NAME = "health"
SOURCE_STREAM = "REGISTRY"
SUBJECT = "registry.drug_test.positive_recorded.v1"

_PSEUDONYM = re.compile(r"[0-9]{1,6}:[0-9a-f]{32}", re.ASCII)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", re.ASCII)
_SEX_NAME = {v: k for k, v in SEX.items()}
_AGE_BAND_NAME = {v: k for k, v in AGE_BAND.items()}


def decoder(laws: Dated[str]):
    def decode(envelope: Envelope) -> RegistryTest | None:
        if envelope.subject != SUBJECT:
            raise BadEvent(f"unknown subject {envelope.subject}: health consumes only {SUBJECT}")
        message = events_pb2.PositiveDrugTestRecorded()
        try:
            message.ParseFromString(envelope.payload)
        except DecodeError as exc:
            raise BadEvent(f"payload is not a {message.DESCRIPTOR.full_name}: {exc}") from None
        if not message.during_management:
            return None
        if not message.HasField("person"):
            raise BadEvent("person is missing")
        ref = message.person
        if not _PSEUDONYM.fullmatch(ref.pseudonym) or ref.pseudonym != envelope.person:
            raise BadEvent(f"person.pseudonym {ref.pseudonym!r} is malformed or not the ce-subject header")
        if ref.sex not in _SEX_NAME or ref.age_band not in _AGE_BAND_NAME:
            raise BadEvent("person.sex or person.age_band is not a known value")
        if not _ID.fullmatch(message.test_id):
            raise BadEvent(f"test_id {message.test_id!r} is missing or malformed")
        try:
            unit = units.commune(ref.commune_code, field="person.commune_code")
            tested_on = parse_date(message.tested_on, field="tested_on")
        except InvalidInput as exc:
            raise BadEvent(exc.en) from None
        if ref.province_code != unit.province_code:
            raise BadEvent(f"person.province_code {ref.province_code!r} is not that of commune {unit.code}")
        try:
            laws.at(tested_on)
        except ValueError as exc:
            raise BadEvent(f"tested_on: {exc}") from None
        return RegistryTest(
            test_id=message.test_id,
            tested_on=tested_on,
            pseudonym=ref.pseudonym,
            sex=_SEX_NAME[ref.sex],
            age_band=_AGE_BAND_NAME[ref.age_band],
            commune_code=unit.code,
            province_code=unit.province_code,
        )

    return decode


def applier(health: Health):
    async def apply(session: AsyncSession, batch: Sequence[Delivered]) -> None:
        tests = [d.event for d in batch if d.event is not None]
        if tests:
            await health.requests_from_registry(session, tests)

    return apply
