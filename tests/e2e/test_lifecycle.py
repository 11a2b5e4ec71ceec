"""One person's whole path across the five departments, each service its own process on one nats-server.

detected → managed → uses again → determination requested → addicted → management ended → compulsory
dossier → court decision → admission expected → admitted → completed → aftercare opened at the right commune
→ placed → support given → relapse confirmed → the registry holds a new compulsory-dossier ground and
opens a new dossier. Then the methadone paths (completion → aftercare; termination → dossier) and a
voluntary family rehab under Labour. Every hand-over between departments happens through events only, and
reporting sees every step by pseudonym only (its files hold no name, ID or decision number).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest

from lienthong.localrun import LocalSystem
from lienthong_contracts.aftercare.v1 import aftercare_pb2 as ac
from lienthong_contracts.aftercare.v1 import aftercare_pb2_grpc
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.health.v1 import events_pb2 as health_events
from lienthong_contracts.health.v1 import health_pb2 as hp
from lienthong_contracts.health.v1 import health_pb2_grpc
from lienthong_contracts.registry.v1 import registry_pb2 as rg
from lienthong_contracts.registry.v1 import registry_pb2_grpc
from lienthong_contracts.rehab.v1 import rehab_pb2 as rh
from lienthong_contracts.rehab.v1 import rehab_pb2_grpc
from lienthong_contracts.reporting.v1 import reporting_pb2 as rp
from lienthong_contracts.reporting.v1 import reporting_pb2_grpc
from tests.conftest import eventually, plaintext_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

HOAN_KIEM = "00070"
READ = (("x-officer-id", "CA-HK-01"), ("x-purpose", "e2e lifecycle check"))


@pytest.fixture
def system(tmp_path: Path):
    local = LocalSystem(tmp_path / "run", fresh=True, prefer_default_ports=False)
    local.start()
    try:
        yield local
    finally:
        local.stop()


async def one_person_through_every_department(system: LocalSystem):
    endpoints = system.endpoints()
    channels = {name: grpc.aio.insecure_channel(endpoint.grpc) for name, endpoint in endpoints.items()}
    registry = registry_pb2_grpc.RegistryServiceStub(channels["registry"])
    health = health_pb2_grpc.HealthServiceStub(channels["health"])
    rehab = rehab_pb2_grpc.RehabServiceStub(channels["rehab"])
    aftercare = aftercare_pb2_grpc.AftercareServiceStub(channels["aftercare"])
    try:
        # Police: detected and put under management.
        person = await registry.RegisterPerson(
            rg.RegisterPersonRequest(
                citizen_id="001090012345",
                full_name="Hoàng Văn Giang",
                date_of_birth="1990-02-02",
                sex=common_pb2.SEX_MALE,
                commune_code=HOAN_KIEM,
            )
        )
        await registry.RecordPositiveDrugTest(
            rg.RecordPositiveDrugTestRequest(
                person_id=person.person_id, tested_on="2025-01-05", substance="heroin"
            )
        )
        managed = await registry.IssueManagementDecision(
            rg.IssueManagementDecisionRequest(
                person_id=person.person_id, decision_number="1/QĐ-UBND", decided_on="2025-01-10"
            )
        )

        # Uses again during management → health opens a determination request by itself.
        again = await registry.RecordPositiveDrugTest(
            rg.RecordPositiveDrugTestRequest(
                person_id=person.person_id, tested_on="2025-03-01", substance="heroin"
            )
        )
        assert again.during_management

        async def requested():
            pending = await health.ListPendingDeterminations(
                hp.ListPendingDeterminationsRequest(commune_code=HOAN_KIEM)
            )
            return next((d for d in pending.determinations if d.pseudonym == person.pseudonym), None)

        determination = await eventually(requested, timeout=30, message="determination requested in health")
        assert determination.legal_case == "police_a"

        # Health: a licensed facility determines addiction.
        await health.RegisterFacility(
            hp.RegisterFacilityRequest(facility_id="BV-TT-HN", name="Bệnh viện Tâm thần", licensed=True)
        )
        await health.RecordCriteria(
            hp.RecordCriteriaRequest(
                determination_id=determination.determination_id,
                facility_id="BV-TT-HN",
                observed_on="2025-03-05",
                criteria_met=["craving", "tolerance", "withdrawal"],
            )
        )
        concluded = await health.ConcludeDetermination(
            hp.ConcludeDeterminationRequest(
                determination_id=determination.determination_id,
                facility_id="BV-TT-HN",
                concluded_on="2025-03-10",
            )
        )
        assert concluded.result == health_events.DETERMINATION_RESULT_ADDICTED

        # Police: management ends by itself with reason "addicted".
        async def management_ended():
            record = await registry.GetPerson(rg.GetPersonRequest(person_id=person.person_id), metadata=READ)
            term = next(m for m in record.managements if m.management_id == managed.management_id)
            return term.end_reason == "addicted" and term

        term = await eventually(management_ended, timeout=30, message="management ended as addicted")
        assert term.ended_on == "2025-03-10"

        # Police and court: compulsory-rehab dossier; rehab expects the person at the named facility.
        await rehab.RegisterFacility(
            rh.RegisterFacilityRequest(
                facility_code="HN-CS2",
                name="Cơ sở cai nghiện ma túy số 2",
                public=True,
                operator="Công an TP",
                capacity=100,
                type="multi_function",
                commune_code=HOAN_KIEM,
            )
        )
        dossier = await registry.OpenCompulsoryDossier(
            rg.OpenCompulsoryDossierRequest(
                person_id=person.person_id, ground="no_voluntary_rehab", opened_on="2025-04-01"
            )
        )
        await registry.SubmitCompulsoryDossier(
            rg.SubmitCompulsoryDossierRequest(dossier_id=dossier.dossier_id, submitted_on="2025-04-05")
        )
        await registry.RecordCourtDecision(
            rg.RecordCourtDecisionRequest(
                dossier_id=dossier.dossier_id,
                decided_on="2025-05-01",
                granted=True,
                term_months=12,
                facility_code="HN-CS2",
            )
        )

        async def expected():
            listed = await rehab.ListExpectedAdmissions(
                rh.ListExpectedAdmissionsRequest(facility_code="HN-CS2")
            )
            return next((a for a in listed.admissions if a.pseudonym == person.pseudonym), None)

        expectation = await eventually(expected, timeout=30, message="admission expected at HN-CS2")
        assert expectation.term_months == 12 and expectation.facility_known
        admitted = await rehab.AdmitExpected(
            rh.AdmitExpectedRequest(admission_id=expectation.admission_id, admitted_on="2025-05-10")
        )
        assert admitted.agency == "police"  # rehab has been the Police's since 2025-03-01
        for stage, on in [
            ("detox_treatment", "2025-05-20"),
            ("education_counselling", "2025-08-01"),
            ("labour_vocational", "2025-11-01"),
            ("reintegration_preparation", "2026-03-01"),
        ]:
            await rehab.AdvanceStage(
                rh.AdvanceStageRequest(admission_id=admitted.admission_id, to_stage=stage, on=on)
            )
        discharged = await rehab.Discharge(
            rh.DischargeRequest(
                admission_id=admitted.admission_id, discharged_on=admitted.planned_end, reason="completed"
            )
        )
        assert discharged.completed

        # Aftercare opens by itself, pending placement at the commune of residence.
        async def pending_placement():
            listed = await aftercare.ListPendingPlacements(
                ac.ListPendingPlacementsRequest(as_of="2026-05-15", commune_code=HOAN_KIEM)
            )
            return next((c for c in listed.cases if c.pseudonym == person.pseudonym), None)

        case = await eventually(pending_placement, timeout=30, message="aftercare case opened")
        assert case.completed_on == admitted.planned_end
        placed = await aftercare.PlaceCase(
            ac.PlaceCaseRequest(
                case_id=case.case_id,
                decided_on="2026-05-20",
                decision_number="9/QĐ-UBND",
                caretaker_kind="person",
                caretaker_name="Trần Văn Tổ",
            )
        )
        assert placed.term_months == 24  # an adult after compulsory rehab

        # Aftercare knows the person only by pseudonym: whom to visit comes from the registry, on record.
        visit = (("x-officer-id", "UBND-HK-07"), ("x-purpose", "aftercare home visit"))
        contact = await aftercare.GetContactDetails(
            ac.GetContactDetailsRequest(case_id=case.case_id), metadata=visit
        )
        assert (contact.full_name, contact.date_of_birth, contact.commune_code) == (
            "Hoàng Văn Giang",
            "1990-02-02",
            HOAN_KIEM,
        )
        with sqlite3.connect(system.data_dir / "registry.db") as db:
            audit = db.execute(
                "select officer_id, purpose, caller_department from audit_log where record_id = ? "
                "and caller_department != 'registry'",
                (person.person_id,),
            ).fetchall()
        assert audit == [("UBND-HK-07", "aftercare home visit", "aftercare")]
        await aftercare.RecordSupport(
            ac.RecordSupportRequest(case_id=case.case_id, given_on="2026-06-01", kind="vocational_training")
        )
        await aftercare.SuspectRelapse(
            ac.SuspectRelapseRequest(case_id=case.case_id, suspected_on="2026-08-01")
        )
        relapse = await aftercare.ConfirmRelapse(
            ac.ConfirmRelapseRequest(case_id=case.case_id, determined_on="2026-08-15")
        )
        assert relapse.adult

        # Police: the relapse is a ground for a new compulsory dossier.
        registry_db = system.data_dir / "registry.db"

        async def relapse_flagged():
            with sqlite3.connect(registry_db) as db:
                return db.execute(
                    "select since from flags where pseudonym = ? and kind = 'compulsory_ground_relapse'",
                    (person.pseudonym,),
                ).fetchone()

        flagged = await eventually(relapse_flagged, timeout=30, message="relapse flagged in the registry")
        assert flagged == ("2026-08-15",)
        second = await registry.OpenCompulsoryDossier(
            rg.OpenCompulsoryDossierRequest(
                person_id=person.person_id, ground="relapse_in_aftercare", opened_on="2026-08-20"
            )
        )
        assert second.status == "opened"
        with sqlite3.connect(registry_db) as db:
            kinds = {
                row[0]
                for row in db.execute("select kind from flags where pseudonym = ?", (person.pseudonym,))
            }
        assert kinds == {"rehab_registration", "compulsory_ground_relapse"}

        await reporting_saw_every_step(system, channels["reporting"], person.pseudonym)
        departments_hold_no_plaintext(
            system, ["Hoàng Văn Giang", "001090012345", "1/QĐ-UBND", "9/QĐ-UBND", "Trần Văn Tổ"]
        )
    finally:
        for channel in channels.values():
            await channel.close()


def departments_hold_no_plaintext(system: LocalSystem, secrets: list[str]) -> None:
    """Personal fields are encrypted at rest: no department's files (database and write-ahead log, read
    while the services run) hold a name, a citizen ID, a decision number or a caretaker."""
    for department in ("registry", "health", "rehab", "aftercare"):
        stored = b"".join(path.read_bytes() for path in system.data_dir.glob(f"{department}.db*"))
        assert stored and plaintext_in(stored, secrets) == [], department


# The person's path as reporting must see it, in the order of the acts (registration is dated the day it
# was entered, so it is checked apart).
EXPECTED_PATH = [
    ("registry.drug_test.positive_recorded.v1", "2025-01-05"),
    ("registry.management.decided.v1", "2025-01-10"),
    ("registry.drug_test.positive_recorded.v1", "2025-03-01"),
    ("health.determination.requested.v1", "2025-03-01"),
    ("health.determination.concluded.v1", "2025-03-10"),
    ("registry.management.ended.v1", "2025-03-10"),
    ("registry.compulsory_dossier.opened.v1", "2025-04-01"),
    ("registry.compulsory_dossier.submitted.v1", "2025-04-05"),
    ("registry.compulsory_dossier.decided.v1", "2025-05-01"),
    ("rehab.admission.expected.v1", "2025-05-01"),
    ("rehab.admission.admitted.v1", "2025-05-10"),
    ("rehab.admission.discharged.v1", None),
    ("aftercare.case.opened.v1", None),
    ("aftercare.case.placed.v1", "2026-05-20"),
    ("aftercare.support.given.v1", "2026-06-01"),
    ("aftercare.relapse.confirmed.v1", "2026-08-15"),
    ("registry.compulsory_dossier.opened.v1", "2026-08-20"),
]
AGENCY = {"registry": "police", "health": "health", "rehab": "police", "aftercare": "police"}


async def reporting_saw_every_step(system: LocalSystem, channel: grpc.aio.Channel, pseudonym: str) -> None:
    reporting = reporting_pb2_grpc.ReportingServiceStub(channel)

    async def timeline():
        found = await reporting.GetPersonTimeline(rp.PersonTimelineRequest(pseudonym=pseudonym))
        return found if len(found.steps) >= len(EXPECTED_PATH) + 1 else None

    found = await eventually(timeline, timeout=30, message="reporting saw the whole path")
    steps = [s for s in found.steps if s.event_type != "registry.person.registered.v1"]
    assert len(found.steps) - len(steps) == 1
    assert [s.event_type for s in steps] == [t for t, _ in EXPECTED_PATH]
    for step, (_, on) in zip(steps, EXPECTED_PATH, strict=True):
        assert on is None or step.occurred_on == on, step
        assert step.agency == AGENCY[step.department] and step.commune_code == HOAN_KIEM, step
    codes = {s.event_type: {c.name: c.value for c in s.codes} for s in steps}
    assert codes["registry.management.ended.v1"]["reason"] == "addicted"
    assert codes["health.determination.concluded.v1"]["result"] == "addicted"
    assert codes["rehab.admission.discharged.v1"]["reason"] == "completed"
    assert codes["aftercare.case.placed.v1"]["caretaker_kind"] == "person"

    # By pseudonym only: no name, citizen ID, decision number or caretaker in reporting's files.
    stored = b"".join(path.read_bytes() for path in system.data_dir.glob("reporting.db*"))
    assert pseudonym.encode() in stored
    for secret in ("Hoàng Văn Giang", "001090012345", "1/QĐ-UBND", "9/QĐ-UBND", "Trần Văn Tổ"):
        assert secret.encode() not in stored, secret


async def methadone_paths_completion_opens_aftercare_and_termination_is_a_dossier_ground(
    system: LocalSystem,
):
    endpoints = system.endpoints()
    channels = {name: grpc.aio.insecure_channel(endpoint.grpc) for name, endpoint in endpoints.items()}
    health = health_pb2_grpc.HealthServiceStub(channels["health"])
    aftercare = aftercare_pb2_grpc.AftercareServiceStub(channels["aftercare"])
    try:
        # Enrol → maintenance → tapering → completed: aftercare opens for 12 months at the commune.
        completer = await health.EnrolMethadone(
            hp.EnrolMethadoneRequest(
                person=hp.PersonDetails(
                    citizen_id="001195012345",
                    full_name="Lý Thị Hạnh",
                    date_of_birth="1995-03-03",
                    sex=common_pb2.SEX_FEMALE,
                    commune_code="00004",
                ),
                enrolled_on="2024-02-01",
            )
        )
        for phase, on in [
            ("titration", "2024-02-10"),
            ("maintenance", "2024-04-01"),
            ("tapering", "2025-01-10"),
        ]:
            await health.AdvancePhase(
                hp.AdvancePhaseRequest(episode_id=completer.episode_id, to_phase=phase, on=on)
            )
        await health.EndMethadone(
            hp.EndMethadoneRequest(episode_id=completer.episode_id, ended_on="2025-04-01", reason="completed")
        )

        async def pending_placement():
            listed = await aftercare.ListPendingPlacements(
                ac.ListPendingPlacementsRequest(as_of="2025-04-10", commune_code="00004")
            )
            return next((c for c in listed.cases if c.pseudonym == completer.pseudonym), None)

        case = await eventually(pending_placement, timeout=30, message="aftercare opened after methadone")
        placed = await aftercare.PlaceCase(
            ac.PlaceCaseRequest(
                case_id=case.case_id,
                decided_on="2025-04-15",
                decision_number="2/QĐ-UBND",
                caretaker_kind="organisation",
                caretaker_name="Hội Phụ nữ phường",
            )
        )
        assert placed.term_months == 12
        # She came to health on her own: the police registry does not know her, and says so.
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await aftercare.GetContactDetails(
                ac.GetContactDetailsRequest(case_id=case.case_id),
                metadata=(("x-officer-id", "UBND-BD-01"), ("x-purpose", "aftercare home visit")),
            )
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        assert dict(unknown.value.trailing_metadata())["error-code"] == "contact.not_in_registry"

        # Enrol → two protocol breaches within six months → terminated: a compulsory-dossier ground.
        violator = await health.EnrolMethadone(
            hp.EnrolMethadoneRequest(
                person=hp.PersonDetails(
                    citizen_id="001088012345",
                    full_name="Mai Văn Khôi",
                    date_of_birth="1988-07-07",
                    sex=common_pb2.SEX_MALE,
                    commune_code="00070",
                ),
                enrolled_on="2025-01-02",
            )
        )
        await health.RecordBreach(
            hp.RecordBreachRequest(episode_id=violator.episode_id, occurred_on="2025-02-01", kind="diversion")
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # one breach is not enough
            await health.EndMethadone(
                hp.EndMethadoneRequest(
                    episode_id=violator.episode_id, ended_on="2025-02-02", reason="terminated_violation"
                )
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        await health.RecordBreach(
            hp.RecordBreachRequest(episode_id=violator.episode_id, occurred_on="2025-03-01", kind="violence")
        )
        await health.EndMethadone(
            hp.EndMethadoneRequest(
                episode_id=violator.episode_id, ended_on="2025-03-02", reason="terminated_violation"
            )
        )
        registry_db = system.data_dir / "registry.db"

        async def ground():
            with sqlite3.connect(registry_db) as db:
                return db.execute(
                    "select kind, since from flags where pseudonym = ?", (violator.pseudonym,)
                ).fetchall()

        assert await eventually(
            ground, timeout=30, message="methadone termination flagged in the registry"
        ) == [("compulsory_ground_methadone", "2025-03-02")]
        # No aftercare for a person who never completed a programme.
        listed = await aftercare.ListPendingPlacements(ac.ListPendingPlacementsRequest(as_of="2025-04-10"))
        assert violator.pseudonym not in {c.pseudonym for c in listed.cases}

        # The commune police register him (same citizen ID, same pseudonym) and open the dossier on that ground.
        registry = registry_pb2_grpc.RegistryServiceStub(channels["registry"])
        known = await registry.RegisterPerson(
            rg.RegisterPersonRequest(
                citizen_id="001088012345",
                full_name="Mai Văn Khôi",
                date_of_birth="1988-07-07",
                sex=common_pb2.SEX_MALE,
                commune_code="00070",
            )
        )
        assert known.pseudonym == violator.pseudonym
        dossier = await registry.OpenCompulsoryDossier(
            rg.OpenCompulsoryDossierRequest(
                person_id=known.person_id, ground="methadone_refused_or_stopped", opened_on="2025-03-10"
            )
        )
        assert dossier.status == "opened"
        departments_hold_no_plaintext(
            system,
            ["Lý Thị Hạnh", "001195012345", "Mai Văn Khôi", "001088012345", "2/QĐ-UBND", "Hội Phụ nữ phường"],
        )

        # Reporting follows both people by pseudonym, across health, aftercare and the registry.
        reporting = reporting_pb2_grpc.ReportingServiceStub(channels["reporting"])

        async def path_of(pseudonym: str, length: int):
            found = await reporting.GetPersonTimeline(rp.PersonTimelineRequest(pseudonym=pseudonym))
            types = [s.event_type for s in found.steps]
            return types if len(types) >= length else None

        assert await eventually(lambda: path_of(completer.pseudonym, 4), timeout=30, message="completer") == [
            "health.methadone.enrolled.v1",
            "health.methadone.ended.v1",
            "aftercare.case.opened.v1",
            "aftercare.case.placed.v1",
        ]
        violator_path = await eventually(
            lambda: path_of(violator.pseudonym, 4), timeout=30, message="violator"
        )
        assert violator_path[:2] == ["health.methadone.enrolled.v1", "health.methadone.ended.v1"]
        assert sorted(violator_path[2:]) == [
            "registry.compulsory_dossier.opened.v1",
            "registry.person.registered.v1",
        ]
    finally:
        for channel in channels.values():
            await channel.close()


async def voluntary_family_rehab_under_labour_opens_aftercare_and_reporting_sees_who_acted(
    system: LocalSystem,
):
    """Family rehab in 2024, when rehab and aftercare were still Labour's: every step says so."""
    endpoints = system.endpoints()
    channels = {name: grpc.aio.insecure_channel(endpoint.grpc) for name, endpoint in endpoints.items()}
    rehab = rehab_pb2_grpc.RehabServiceStub(channels["rehab"])
    aftercare = aftercare_pb2_grpc.AftercareServiceStub(channels["aftercare"])
    reporting = reporting_pb2_grpc.ReportingServiceStub(channels["reporting"])
    try:
        admitted = await rehab.Admit(
            rh.AdmitRequest(
                person=rh.PersonDetails(
                    citizen_id="001092054321",
                    full_name="Đỗ Minh Đức",
                    date_of_birth="1992-09-09",
                    sex=common_pb2.SEX_MALE,
                    commune_code="00256",
                ),
                kind="voluntary_family",
                admitted_on="2024-06-01",
                term_months=6,
            )
        )
        assert admitted.agency == "labour"
        for stage, on in [("detox_treatment", "2024-06-05"), ("education_counselling", "2024-08-01")]:
            await rehab.AdvanceStage(
                rh.AdvanceStageRequest(admission_id=admitted.admission_id, to_stage=stage, on=on)
            )
        discharged = await rehab.Discharge(
            rh.DischargeRequest(
                admission_id=admitted.admission_id, discharged_on=admitted.planned_end, reason="completed"
            )
        )
        assert discharged.completed

        async def pending_placement():
            listed = await aftercare.ListPendingPlacements(
                ac.ListPendingPlacementsRequest(as_of="2025-01-05", commune_code="00256")
            )
            return next((c for c in listed.cases if c.pseudonym == admitted.pseudonym), None)

        case = await eventually(pending_placement, timeout=30, message="aftercare opened after family rehab")
        await aftercare.PlaceCase(
            ac.PlaceCaseRequest(
                case_id=case.case_id,
                decided_on="2024-12-20",
                decision_number="5/QĐ-UBND",
                caretaker_kind="person",
                caretaker_name="Đỗ Văn Bình",
            )
        )
        await aftercare.RecordSupport(
            ac.RecordSupportRequest(case_id=case.case_id, given_on="2025-04-01", kind="job_placement")
        )

        async def path():
            found = await reporting.GetPersonTimeline(rp.PersonTimelineRequest(pseudonym=admitted.pseudonym))
            return found.steps if len(found.steps) >= 5 else None

        steps = await eventually(path, timeout=30, message="reporting saw the voluntary path")
        assert [(s.event_type, s.agency) for s in steps] == [
            ("rehab.admission.admitted.v1", "labour"),
            ("rehab.admission.discharged.v1", "labour"),
            ("aftercare.case.opened.v1", "labour"),
            ("aftercare.case.placed.v1", "labour"),
            ("aftercare.support.given.v1", "police"),  # after 2025-03-01
        ]
        assert {c.name: c.value for c in steps[0].codes}["kind"] == "voluntary_family"
        assert all(s.commune_code == "00256" for s in steps)
        departments_hold_no_plaintext(system, ["Đỗ Minh Đức", "001092054321", "5/QĐ-UBND", "Đỗ Văn Bình"])
    finally:
        for channel in channels.values():
            await channel.close()


# Each path is a function too, so the redelivery test (test_redelivery.py) can run all of them on one system.


async def test_one_person_through_every_department(system: LocalSystem):
    await one_person_through_every_department(system)


async def test_methadone_paths_completion_opens_aftercare_and_termination_is_a_dossier_ground(
    system: LocalSystem,
):
    await methadone_paths_completion_opens_aftercare_and_termination_is_a_dossier_ground(system)


async def test_voluntary_family_rehab_under_labour_opens_aftercare_and_reporting_sees_who_acted(
    system: LocalSystem,
):
    await voluntary_family_rehab_under_labour_opens_aftercare_and_reporting_sees_who_acted(system)
