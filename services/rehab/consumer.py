"""Registry events into rehab: a granted court decision on a compulsory-rehab dossier expects the person
at the named facility (domain.md §4). Only ``registry.compulsory_dossier.decided.v1`` is consumed; a
rejected decision asks nothing of rehab.

``decode`` is pure: it maps an envelope to a checked fact (or None) or raises ``BadEvent`` with the reason,
and the batch consumer dead-letters it. ``apply`` writes one batch in the consumer's transaction, outbox
rows included.
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
from services.rehab.event_mapping import AGE_BAND, SEX
from services.rehab.handlers import CourtDecision, Rehab

CONSUMER_NAME = "rehab"
SOURCE_STREAM = "REGISTRY"
SUBJECT = "registry.compulsory_dossier.decided.v1"

_PSEUDONYM = re.compile(r"[0-9]{1,6}:[0-9a-f]{32}", re.ASCII)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", re.ASCII)
# A facility code the registry copied from the decision; an unknown but well-formed one is still recorded.
_FACILITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", re.ASCII)
_SEX_NAME = {v: k for k, v in SEX.items()}
_AGE_BAND_NAME = {v: k for k, v in AGE_BAND.items()}


def decoder(laws: Dated[str], operators: Dated[str]):
    versions = {v for _, v in laws.changes()}

    def decode(envelope: Envelope) -> CourtDecision | None:
        if envelope.subject != SUBJECT:
            raise BadEvent(f"unknown subject {envelope.subject}: rehab consumes only {SUBJECT}")
        message = events_pb2.CompulsoryDossierChanged()
        try:
            message.ParseFromString(envelope.payload)
        except DecodeError as exc:
            raise BadEvent(f"payload is not a {message.DESCRIPTOR.full_name}: {exc}") from None
        if message.status == "rejected":
            return None
        if message.status != "granted":
            raise BadEvent(f"status {message.status!r} is not a decision (granted or rejected)")
        if not message.HasField("person"):
            raise BadEvent("person is missing")
        ref = message.person
        if not _PSEUDONYM.fullmatch(ref.pseudonym) or ref.pseudonym != envelope.person:
            raise BadEvent(f"person.pseudonym {ref.pseudonym!r} is malformed or not the ce-subject header")
        if ref.sex not in _SEX_NAME or ref.age_band not in _AGE_BAND_NAME:
            raise BadEvent("person.sex or person.age_band is not a known value")
        if not _ID.fullmatch(message.dossier_id):
            raise BadEvent(f"dossier_id {message.dossier_id!r} is missing or malformed")
        if not _FACILITY.fullmatch(message.facility_code):
            raise BadEvent(f"facility_code {message.facility_code!r} is missing or malformed")
        if not 1 <= message.term_months <= 60:
            raise BadEvent(f"term_months {message.term_months} is not a term in months")
        if message.law_version not in versions:
            raise BadEvent(f"law_version {message.law_version!r} is not one of {sorted(versions)}")
        try:
            unit = units.commune(ref.commune_code, field="person.commune_code")
            decided_on = parse_date(message.decided_on, field="decided_on")
        except InvalidInput as exc:
            raise BadEvent(exc.en) from None
        if ref.province_code != unit.province_code:
            raise BadEvent(f"person.province_code {ref.province_code!r} is not that of commune {unit.code}")
        try:
            operators.at(decided_on)
        except ValueError as exc:
            raise BadEvent(f"decided_on: {exc}") from None
        return CourtDecision(
            dossier_id=message.dossier_id,
            decided_on=decided_on,
            term_months=message.term_months,
            facility_code=message.facility_code,
            minor=message.minor,
            law_version=message.law_version,
            pseudonym=ref.pseudonym,
            sex=_SEX_NAME[ref.sex],
            age_band=_AGE_BAND_NAME[ref.age_band],
            commune_code=unit.code,
            province_code=unit.province_code,
        )

    return decode


def applier(rehab: Rehab):
    async def apply(session: AsyncSession, batch: Sequence[Delivered]) -> None:
        decisions = [d.event for d in batch if d.event is not None]
        if decisions:
            await rehab.decisions_from_registry(session, decisions)

    return apply
