"""Completions into aftercare (domain.md §4): rehab discharged as completed, and methadone ended as
completed, each open a case pending placement at the commune of residence the event carries.

Two durable consumers, one per source stream (a consumer has one filter subject): ``aftercare-rehab`` on
REHAB and ``aftercare-health`` on HEALTH. ``decode`` is pure: it maps an envelope to a checked
``Completion`` (or None when the event opens nothing) or raises ``BadEvent`` with the reason, and the batch
consumer dead-letters it. ``apply`` writes one batch in the consumer's transaction, outbox rows included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date

from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong import units
from lienthong.consumer import Delivered
from lienthong.dated import Dated
from lienthong.dates import parse_date
from lienthong.envelope import BadEvent, Envelope
from lienthong.errors import InvalidInput
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.health.v1 import events_pb2 as health_events
from lienthong_contracts.rehab.v1 import events_pb2 as rehab_events
from services.aftercare.domain.cases import METHADONE, REHAB, REHAB_KINDS, Completion
from services.aftercare.event_mapping import AGE_BAND, SEX
from services.aftercare.handlers import Aftercare

# Dead letters of both consumers land in DLQ_AFTERCARE (dlq.aftercare.<subject>), which aftercare owns.
DEAD_LETTER_NAME = "aftercare"
REHAB_CONSUMER, REHAB_STREAM, REHAB_SUBJECT = "aftercare-rehab", "REHAB", "rehab.admission.discharged.v1"
HEALTH_CONSUMER, HEALTH_STREAM, HEALTH_SUBJECT = "aftercare-health", "HEALTH", "health.methadone.ended.v1"
# Discharge reasons that mean the person finished rehab (rehab's contract: completed is true for these).
COMPLETING_REASONS = ("completed", "term_reduced")

_PSEUDONYM = re.compile(r"[0-9]{1,6}:[0-9a-f]{32}", re.ASCII)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", re.ASCII)
_SEX_NAME = {v: k for k, v in SEX.items()}
_AGE_BAND_NAME = {v: k for k, v in AGE_BAND.items()}


def _parse(envelope: Envelope, subject: str, message):
    if envelope.subject != subject:
        raise BadEvent(f"unknown subject {envelope.subject}: this consumer takes only {subject}")
    try:
        message.ParseFromString(envelope.payload)
    except DecodeError as exc:
        raise BadEvent(f"payload is not a {message.DESCRIPTOR.full_name}: {exc}") from None
    return message


def _completion(
    envelope: Envelope,
    ref: common_pb2.PersonRef,
    *,
    source: str,
    source_kind: str,
    source_id: str,
    raw_date: str,
    date_field: str,
    dated: Sequence[Dated[str]],
) -> Completion:
    if not _PSEUDONYM.fullmatch(ref.pseudonym) or ref.pseudonym != envelope.person:
        raise BadEvent(f"person.pseudonym {ref.pseudonym!r} is malformed or not the ce-subject header")
    if ref.sex not in _SEX_NAME or ref.age_band not in _AGE_BAND_NAME:
        raise BadEvent("person.sex or person.age_band is not a known value")
    try:
        unit = units.commune(ref.commune_code, field="person.commune_code")
        completed_on: date = parse_date(raw_date, field=date_field)
    except InvalidInput as exc:
        raise BadEvent(exc.en) from None
    if ref.province_code != unit.province_code:
        raise BadEvent(f"person.province_code {ref.province_code!r} is not that of commune {unit.code}")
    for values in dated:  # no law and no operator in force: the event cannot be judged
        try:
            values.at(completed_on)
        except ValueError as exc:
            raise BadEvent(f"{date_field}: {exc}") from None
    return Completion(
        source=source,
        source_kind=source_kind,
        source_id=source_id,
        completed_on=completed_on,
        pseudonym=ref.pseudonym,
        sex=_SEX_NAME[ref.sex],
        age_band=_AGE_BAND_NAME[ref.age_band],
        commune_code=unit.code,
        province_code=unit.province_code,
    )


def rehab_decoder(*dated: Dated[str]) -> Callable[[Envelope], Completion | None]:
    def decode(envelope: Envelope) -> Completion | None:
        message = _parse(envelope, REHAB_SUBJECT, rehab_events.Discharged())
        if not message.completed:
            return None
        if message.reason not in COMPLETING_REASONS:
            raise BadEvent(
                f"completed is true but reason {message.reason!r} is not one of {COMPLETING_REASONS}"
            )
        if message.kind not in REHAB_KINDS:
            raise BadEvent(f"kind {message.kind!r} is not one of {', '.join(REHAB_KINDS)}")
        if not _ID.fullmatch(message.admission_id):
            raise BadEvent(f"admission_id {message.admission_id!r} is missing or malformed")
        if not message.HasField("person"):
            raise BadEvent("person is missing")
        return _completion(
            envelope,
            message.person,
            source=REHAB,
            source_kind=message.kind,
            source_id=f"rehab:{message.admission_id}",
            raw_date=message.discharged_on,
            date_field="discharged_on",
            dated=dated,
        )

    return decode


def health_decoder(*dated: Dated[str]) -> Callable[[Envelope], Completion | None]:
    def decode(envelope: Envelope) -> Completion | None:
        message = _parse(envelope, HEALTH_SUBJECT, health_events.MethadoneEnded())
        if message.reason != "completed":  # other ends are the registry's business, not aftercare's
            return None
        if not _ID.fullmatch(message.episode_id):
            raise BadEvent(f"episode_id {message.episode_id!r} is missing or malformed")
        if not message.HasField("person"):
            raise BadEvent("person is missing")
        return _completion(
            envelope,
            message.person,
            source=METHADONE,
            source_kind=METHADONE,
            source_id=f"methadone:{message.episode_id}",
            raw_date=message.ended_on,
            date_field="ended_on",
            dated=dated,
        )

    return decode


def applier(aftercare: Aftercare):
    async def apply(session: AsyncSession, batch: Sequence[Delivered]) -> None:
        completions = [d.event for d in batch if d.event is not None]
        if completions:
            await aftercare.open_from_completions(session, completions)

    return apply
