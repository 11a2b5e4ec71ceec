"""Every department event becomes one step of a person's path, keeping only what the catalogue names."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from lienthong.envelope import BadEvent, Envelope
from lienthong_contracts.aftercare.v1 import events_pb2 as aftercare
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.health.v1 import events_pb2 as health
from lienthong_contracts.rehab.v1 import events_pb2 as rehab
from services.reporting.steps import CATALOGUE, parse

ROOT = Path(__file__).resolve().parents[2]
PSEUDONYM = "1:" + "ab" * 16
HOAN_KIEM = "00070"


def person(commune: str = HOAN_KIEM, province: str = "01") -> common_pb2.PersonRef:
    return common_pb2.PersonRef(
        pseudonym=PSEUDONYM,
        sex=common_pb2.SEX_FEMALE,
        age_band=common_pb2.AGE_BAND_16_TO_18,
        commune_code=commune,
        province_code=province,
    )


def envelope(subject: str, message, *, agency: str = "police", subject_person: str = PSEUDONYM) -> Envelope:
    return Envelope.new(
        subject=subject,
        source=f"lienthong/{subject.split('.')[0]}",
        person=subject_person,
        aggregate_id="agg-1",
        aggregate_version=1,
        agency=agency,
        payload=message.SerializeToString(),
    )


def test_every_documented_subject_has_a_catalogue_entry_and_nothing_else_does():
    documented = set(
        re.findall(
            r"`((?:registry|health|rehab|aftercare)\.[a-z_.]+\.v\d+)`", (ROOT / "proto/README.md").read_text()
        )
    )
    # The dossier row names its three subjects as `registry.compulsory_dossier.opened.v1`, `.submitted.v1`, ...
    documented |= {"registry.compulsory_dossier.submitted.v1", "registry.compulsory_dossier.decided.v1"}
    assert documented == set(CATALOGUE)


@pytest.mark.parametrize("subject", sorted(CATALOGUE))
def test_catalogue_fields_exist_and_none_is_personal(subject):
    shape = CATALOGUE[subject]
    fields = shape.message.DESCRIPTOR.fields_by_name
    assert shape.date_field in fields
    assert not shape.record_field or shape.record_field in fields
    for name in shape.codes:
        assert name in fields and name != "person"
        assert not re.search(r"name|citizen|address|phone|note|number", name), name


def test_a_rehab_discharge_becomes_a_step_with_its_codes_and_agency():
    message = rehab.Discharged(
        person=person(),
        admission_id="adm-7",
        kind="compulsory",
        facility_code="HN-CS2",
        discharged_on="2025-08-01",
        reason="completed",
        completed=True,
    )
    step, _ = parse(envelope("rehab.admission.discharged.v1", message, agency="police"))
    assert (step.department, step.agency, step.occurred_on) == ("rehab", "police", date(2025, 8, 1))
    assert (step.pseudonym, step.sex, step.age_band) == (PSEUDONYM, "female", "16_to_18")
    assert (step.commune_code, step.province_code, step.record_id) == (HOAN_KIEM, "01", "adm-7")
    assert dict(step.codes) == {
        "kind": "compulsory",
        "facility_code": "HN-CS2",
        "reason": "completed",
        "completed": "true",
    }


def test_an_enum_result_is_kept_as_its_short_code():
    message = health.DeterminationConcluded(
        person=person(),
        determination_id="det-1",
        concluded_on="2025-03-04",
        result=health.DETERMINATION_RESULT_NOT_ADDICTED,
    )
    step, _ = parse(envelope("health.determination.concluded.v1", message, agency="health"))
    assert dict(step.codes) == {"result": "not_addicted"}


def test_a_commune_model_change_is_a_step_without_a_person():
    message = aftercare.ModelChanged(
        commune_code=HOAN_KIEM, province_code="01", changed_on="2025-05-05", status="started"
    )
    step, _ = parse(envelope("aftercare.model.changed.v1", message, subject_person=f"commune:{HOAN_KIEM}"))
    assert step.pseudonym is None and step.sex is None and step.commune_code == HOAN_KIEM
    with pytest.raises(BadEvent, match="is not commune:00070"):
        parse(envelope("aftercare.model.changed.v1", message, subject_person="commune:00004"))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: setattr(m, "given_on", "2025-02-30"), "given_on"),
        (lambda m: setattr(m, "kind", "vay vốn"), "kind 'vay vốn' is not a code"),
        (lambda m: setattr(m, "case_id", ""), "case_id '' is missing"),
        (lambda m: setattr(m.person, "province_code", "79"), "is not the province of commune 00070"),
        (lambda m: setattr(m.person, "pseudonym", "1:" + "cd" * 16), "does not match the ce-subject"),
    ],
)
def test_a_malformed_event_is_refused_with_its_reason(mutate, reason):
    message = aftercare.SupportGiven(person=person(), case_id="case-1", given_on="2025-06-01", kind="loan")
    mutate(message)
    with pytest.raises(BadEvent, match=re.escape(reason)):
        parse(envelope("aftercare.support.given.v1", message, agency="police"))


def test_unknown_subject_and_bad_agency_are_refused():
    message = health.MethadoneEnrolled(person=person(), episode_id="ep-1", enrolled_on="2025-01-01")
    with pytest.raises(BadEvent, match="no decoder"):
        parse(envelope("health.methadone.enrolled.v2", message))
    with pytest.raises(BadEvent, match="not an agency code"):
        parse(envelope("health.methadone.enrolled.v1", message, agency="Bộ Y tế"))
    with pytest.raises(BadEvent, match="payload is not a"):
        parse(
            Envelope.new(
                subject="health.methadone.enrolled.v1",
                source="lienthong/health",
                person=PSEUDONYM,
                aggregate_id="a",
                aggregate_version=1,
                agency="health",
                payload=b"\xff\xff\xff",
            )
        )
