"""ListAlerts against a real nats-server and database: the four departments' events in, the work list out.

Reporting runs through its real ``serve()``; the test plays every department (see
``test_reporting_departments``) and publishes the acts that answer a wait before the acts that start it.
"""

from __future__ import annotations

import grpc
import pytest

from lienthong.dates import today_in_vietnam
from lienthong_contracts.aftercare.v1 import events_pb2 as aftercare
from lienthong_contracts.health.v1 import events_pb2 as health
from lienthong_contracts.registry.v1 import events_pb2 as registry
from lienthong_contracts.rehab.v1 import events_pb2 as rehab
from lienthong_contracts.reporting.v1 import reporting_pb2
from tests.integration import test_reporting as base
from tests.integration.test_reporting import BA_DINH, BEN_THANH, CUA_NAM, HOAN_KIEM, pseudonym, ref
from tests.integration.test_reporting_departments import Department, declare_all, status_where

pytestmark = pytest.mark.integration
reporting = base.reporting  # the same fixture: reporting serving on a fresh nats-server and database

AS_OF = "2026-07-20"


async def publish_scenario(js) -> int:
    """Ten people; six of them fall through a gap. Returns the number of events published."""
    await declare_all(js)
    police = Department(js, "registry", "police")
    health_dept = Department(js, "health", "health")
    rehab_dept = Department(js, "rehab", "police")
    aftercare_dept = Department(js, "aftercare", "police")
    events = [
        # Answers first, as another department's relay may deliver them before the acts they answer.
        (aftercare_dept, "aftercare.case.placed.v1", aftercare.CasePlaced(
            person=ref(7, BA_DINH), case_id="case-7", decided_on="2026-06-10", term_months=12,
            ends_on="2027-06-01", caretaker_kind="person")),
        (health_dept, "health.determination.concluded.v1", health.DeterminationConcluded(
            person=ref(8, HOAN_KIEM), determination_id="det-8", concluded_on="2026-07-05",
            result=health.DETERMINATION_RESULT_NOT_ADDICTED)),
        (aftercare_dept, "aftercare.case.closed.v1", aftercare.CaseClosed(
            person=ref(10, BA_DINH), case_id="case-10", closed_on="2026-06-03", reason="completed_certificate")),
        # 1. Completers: person 1 (rehab, under Law 73) and person 2 (methadone, Law 120) wait; 7 is placed.
        (rehab_dept, "rehab.admission.discharged.v1", rehab.Discharged(
            person=ref(1, HOAN_KIEM), admission_id="adm-1", kind="voluntary_facility", facility_code="F01",
            discharged_on="2026-06-20", reason="completed", completed=True)),
        (health_dept, "health.methadone.ended.v1", health.MethadoneEnded(
            person=ref(2, BA_DINH), episode_id="ep-2", ended_on="2026-07-01", reason="completed")),
        (health_dept, "health.methadone.ended.v1", health.MethadoneEnded(
            person=ref(7, BA_DINH), episode_id="ep-7", ended_on="2026-06-01", reason="completed")),
        # 2. Person 3 determined addicted during management; the registry never ended the term.
        (police, "registry.management.decided.v1", registry.ManagementDecided(
            person=ref(3, CUA_NAM), management_id="m-3", decided_on="2026-03-01", expires_on="2027-03-01",
            law_version="law_73_2021")),
        (health_dept, "health.determination.concluded.v1", health.DeterminationConcluded(
            person=ref(3, CUA_NAM), determination_id="det-3", concluded_on="2026-06-15",
            result=health.DETERMINATION_RESULT_ADDICTED)),
        # 3. Person 4's determination has no conclusion; person 8's has one.
        (health_dept, "health.determination.requested.v1", health.DeterminationRequested(
            person=ref(4, HOAN_KIEM), determination_id="det-4", requested_on="2026-07-10", legal_case="police_a")),
        (health_dept, "health.determination.requested.v1", health.DeterminationRequested(
            person=ref(8, HOAN_KIEM), determination_id="det-8", requested_on="2026-07-01", legal_case="voluntary")),
        # 4 and 5. Person 5 dropped out of methadone, then tested positive within 24 months after it.
        (health_dept, "health.methadone.enrolled.v1", health.MethadoneEnrolled(
            person=ref(5, BEN_THANH), episode_id="ep-5", enrolled_on="2025-01-01")),
        (health_dept, "health.methadone.ended.v1", health.MethadoneEnded(
            person=ref(5, BEN_THANH), episode_id="ep-5", ended_on="2026-07-05", reason="dropped_out")),
        (police, "registry.drug_test.positive_recorded.v1", registry.PositiveDrugTestRecorded(
            person=ref(5, BEN_THANH), test_id="t-5", tested_on="2026-07-10", substance="heroin")),
        # 6. Person 6 moved from Ba Đình to Cửa Nam and reported it late.
        (police, "registry.person.moved.v1", registry.PersonMoved(
            person=ref(6, CUA_NAM), moved_on="2026-07-03", from_commune_code=BA_DINH, from_province_code="01",
            reported_at="2026-07-06T09:00:00Z", reported_late=True, law_version="law_120_2025")),
        # 7. Person 9's aftercare term ended on 2026-06-01 with no certificate; person 10's was closed.
        (aftercare_dept, "aftercare.case.placed.v1", aftercare.CasePlaced(
            person=ref(9, BA_DINH), case_id="case-9", decided_on="2025-06-05", term_months=12,
            ends_on="2026-06-01", caretaker_kind="organisation")),
        (aftercare_dept, "aftercare.case.placed.v1", aftercare.CasePlaced(
            person=ref(10, BA_DINH), case_id="case-10", decided_on="2025-06-05", term_months=12,
            ends_on="2026-06-01", caretaker_kind="person")),
    ]  # fmt: skip
    for department, subject, message in events:
        await department.publish(subject, message)
    return len(events)


EXPECTED = [
    # rule, law version, person, commune, since, due, days overdue, owner, record
    ("aftercare_past_term_without_certificate", "law_73_2021", 9, BA_DINH, "2026-06-01", "2026-06-01", 49, "aftercare", "case-9"),
    ("completer_without_aftercare", "law_120_2025", 2, BA_DINH, "2026-07-01", "2026-07-16", 4, "aftercare", "ep-2"),
    ("management_term_ended_not_closed", "law_73_2021", 3, CUA_NAM, "2026-06-15", "2026-06-22", 28, "registry", "m-3"),
    ("move_reported_late", "law_120_2025", 6, CUA_NAM, "2026-07-03", "2026-07-04", 16, "registry", ""),
    ("completer_without_aftercare", "law_73_2021", 1, HOAN_KIEM, "2026-06-20", "2026-07-05", 15, "aftercare", "adm-1"),
    ("determination_overdue", "law_120_2025", 4, HOAN_KIEM, "2026-07-10", "2026-07-15", 5, "health", "det-4"),
    ("methadone_dropout", "law_120_2025", 5, BEN_THANH, "2026-07-05", "2026-07-05", 15, "health", "ep-5"),
    ("positive_test_in_256a_window", "law_120_2025", 5, BEN_THANH, "2026-07-10", "2026-07-10", 10, "registry", "t-5"),
]  # fmt: skip
NAMES = {
    BA_DINH: "Phường Ba Đình",
    CUA_NAM: "Phường Cửa Nam",
    HOAN_KIEM: "Phường Hoàn Kiếm",
    BEN_THANH: "Phường Bến Thành",
}
PROVINCES = {BA_DINH: "01", CUA_NAM: "01", HOAN_KIEM: "01", BEN_THANH: "79"}


def as_rows(listed: reporting_pb2.AlertList) -> list[tuple]:
    return [
        (
            a.rule,
            a.law_version,
            a.pseudonym,
            a.commune_code,
            a.commune_name,
            a.province_code,
            a.since,
            a.due,
            a.days_overdue,
            a.owner_department,
            a.record_id,
        )
        for a in listed.alerts
    ]


def expected(rows=EXPECTED) -> list[tuple]:
    return [
        (
            rule,
            law,
            pseudonym(n),
            commune,
            NAMES[commune],
            PROVINCES[commune],
            since,
            due,
            days,
            owner,
            record,
        )
        for rule, law, n, commune, since, due, days, owner, record in rows
    ]


async def test_list_alerts_gives_exactly_the_people_who_fell_through_the_gaps(reporting):
    published = await publish_scenario(reporting.js)
    await status_where(
        reporting.stub, lambda s: s.caught_up and s.events_applied == published, f"{published} applied"
    )
    stub = reporting.stub

    listed = await stub.ListAlerts(reporting_pb2.ListAlertsRequest(as_of=AS_OF))
    assert listed.as_of == AS_OF
    assert as_rows(listed) == expected()
    for alert in listed.alerts:
        assert alert.message_vi and alert.message_en and "{" not in alert.message_vi + alert.message_en
    by_rule = {a.rule: a for a in listed.alerts}
    assert by_rule["management_term_ended_not_closed"].message_en == (
        "Management decision m-3 has not been ended although the person was determined addicted on "
        "2026-06-15; due 2026-06-22, 28 days overdue."
    )
    assert "within 24 months after methadone treatment (ep-5) ended on 2026-07-05" in (
        by_rule["positive_test_in_256a_window"].message_en
    )

    in_79 = await stub.ListAlerts(reporting_pb2.ListAlertsRequest(as_of=AS_OF, province_code="79"))
    assert as_rows(in_79) == expected(EXPECTED[-2:])
    # Person 6 lived in Ba Đình before the move: the list for Ba Đình does not show them.
    ba_dinh = await stub.ListAlerts(reporting_pb2.ListAlertsRequest(as_of=AS_OF, commune_codes=[BA_DINH]))
    assert as_rows(ba_dinh) == expected(EXPECTED[:2])
    two_rules = await stub.ListAlerts(
        reporting_pb2.ListAlertsRequest(
            as_of=AS_OF, province_code="01", rules=["determination_overdue", "move_reported_late"]
        )
    )
    assert as_rows(two_rules) == expected([EXPECTED[3], EXPECTED[5]])
    # Earlier, person 4's determination was not due yet and person 2's completion was still in time.
    earlier = await stub.ListAlerts(
        reporting_pb2.ListAlertsRequest(as_of="2026-07-15", commune_codes=[HOAN_KIEM, BA_DINH])
    )
    assert [(a.rule, a.days_overdue) for a in earlier.alerts] == [
        ("aftercare_past_term_without_certificate", 44),
        ("completer_without_aftercare", 10),
    ]
    today = await stub.ListAlerts(reporting_pb2.ListAlertsRequest(province_code="79"))
    assert today.as_of == today_in_vietnam().isoformat()


REFUSED = [
    # request fields, the English message contains, the Vietnamese message contains
    ({"as_of": "2026-13-01"}, "as_of is not a real calendar date: 2026-13-01", "as_of không phải ngày có thật"),
    ({"as_of": "20/07/2026"}, "as_of must be a date written YYYY-MM-DD", "as_of phải có dạng YYYY-MM-DD"),
    ({"rules": ["determination_overdue", "late_everything"]}, "There is no alert rule 'late_everything'", "Không có quy tắc cảnh báo 'late_everything'"),
    ({"province_code": "99"}, "Province code '99' is not in the current official list", "Mã tỉnh/thành phố '99'"),
    ({"commune_codes": ["99999"]}, "Commune code 99999 is not in the current official list", "Mã xã/phường 99999"),
    ({"province_code": "79", "commune_codes": [BA_DINH]}, "Commune 00004 is not in province 79", "Phường Ba Đình (00004) không thuộc"),
]  # fmt: skip


async def test_a_bad_request_is_refused_naming_what_is_wrong_in_the_callers_language(reporting):
    for fields, english, vietnamese in REFUSED:
        request = reporting_pb2.ListAlertsRequest(**fields)
        for metadata, expected_text in (((("accept-language", "en"),), english), ((), vietnamese)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await reporting.stub.ListAlerts(request, metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
            assert expected_text in refused.value.details(), (fields, refused.value.details())
