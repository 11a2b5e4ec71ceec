"""Indicators and plans over gRPC, computed from events reporting consumed from a real nats-server.

The test plays the four departments (it declares their streams and publishes their events), loads a plan
file of its own from a plan folder, and asks reporting over a real gRPC channel.
"""

from __future__ import annotations

import io
from pathlib import Path

import grpc
import nats
import pydantic
import pytest

from lienthong import bus
from lienthong_contracts.aftercare.v1 import events_pb2 as aftercare
from lienthong_contracts.health.v1 import events_pb2 as health
from lienthong_contracts.registry.v1 import events_pb2 as registry
from lienthong_contracts.rehab.v1 import events_pb2 as rehab
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting.main import build_plan
from services.reporting.settings import ReportingSettings
from tests.conftest import RunningService, eventually
from tests.integration.test_reporting import BA_DINH, HOAN_KIEM, REGISTRY, ref
from tests.integration.test_reporting_departments import STREAMS, Department

pytestmark = pytest.mark.integration

MY_PLAN = """
id = "hoan-kiem-2025"
title = { vi = "Hoàn Kiếm 2025", en = "Hoàn Kiếm 2025" }
source = "Kế hoạch số 7/KH-UBND"
province = "01"
communes = ["00070"]
period = { start = 2025-01-01, end = 2025-12-31 }

[[target]]
id = "completers"
indicator = "completers_in_aftercare_share"
value = 100
label = { vi = "100% người hoàn thành được quản lý sau cai", en = "100% of completers in aftercare" }

[[target]]
id = "dossiers"
indicator = "compulsory_dossiers_opened"
value = 4
prorate = true
label = { vi = "4 hồ sơ", en = "4 dossiers" }

[[target]]
id = "dropouts"
indicator = "methadone_dropout_share"
comparison = "below_previous_year"
label = { vi = "Bỏ điều trị ít hơn năm trước", en = "Fewer dropouts than last year" }
"""


@pytest.fixture
async def served(nats_server, database_url, tmp_path: Path):
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "hoan-kiem.toml").write_text(MY_PLAN, encoding="utf-8")
    connection = await nats.connect(nats_server.url)
    js = connection.jetstream()
    await bus.declare_stream(js, REGISTRY)
    for spec in STREAMS.values():
        await bus.declare_stream(js, spec)
    settings = ReportingSettings(
        nats_url=nats_server.url,
        database_url=database_url,
        grpc_port=0,
        metrics_port=0,
        ack_wait_seconds=5,
        plan_dirs=[plans],
    )
    try:
        async with RunningService(build_plan(settings)) as service:
            async with grpc.aio.insecure_channel(service.grpc_target) as channel:
                yield js, reporting_pb2_grpc.ReportingServiceStub(channel), service.grpc_target
    finally:
        await connection.close()


async def publish_year(js) -> int:
    """2024 and 2025 in Hoàn Kiếm and Ba Đình, as the departments would publish them; returns the count."""
    police = Department(js, "registry", "police")
    health_dept = Department(js, "health", "health")
    rehab_dept = Department(js, "rehab", "police")
    aftercare_dept = Department(js, "aftercare", "police")
    sent = [
        # Two completers in Hoàn Kiếm: one placed within 30 days, one not; one in Ba Đình placed in time.
        await rehab_dept.publish(
            "rehab.admission.discharged.v1",
            rehab.Discharged(
                person=ref(1, HOAN_KIEM),
                admission_id="a1",
                kind="compulsory",
                discharged_on="2025-03-01",
                reason="completed",
                completed=True,
            ),
        ),
        await aftercare_dept.publish(
            "aftercare.case.placed.v1",
            aftercare.CasePlaced(
                person=ref(1, HOAN_KIEM),
                case_id="c1",
                decided_on="2025-03-20",
                term_months=24,
                ends_on="2027-03-20",
                caretaker_kind="person",
            ),
        ),
        await health_dept.publish(
            "health.methadone.ended.v1",
            health.MethadoneEnded(
                person=ref(2, HOAN_KIEM), episode_id="ep2", ended_on="2025-05-01", reason="completed"
            ),
        ),
        await rehab_dept.publish(
            "rehab.admission.discharged.v1",
            rehab.Discharged(
                person=ref(3, BA_DINH),
                admission_id="a3",
                kind="voluntary_family",
                discharged_on="2025-06-01",
                reason="completed",
                completed=True,
            ),
        ),
        await aftercare_dept.publish(
            "aftercare.case.placed.v1",
            aftercare.CasePlaced(
                person=ref(3, BA_DINH),
                case_id="c3",
                decided_on="2025-06-10",
                term_months=12,
                ends_on="2026-06-10",
                caretaker_kind="organisation",
            ),
        ),
        # Dossiers in Hoàn Kiếm: two in 2025, one in 2024.
        *[
            await police.publish(
                "registry.compulsory_dossier.opened.v1",
                registry.CompulsoryDossierChanged(
                    person=ref(n, HOAN_KIEM),
                    dossier_id=f"d{n}",
                    ground="no_voluntary_rehab",
                    status="opened",
                    opened_on=on,
                    law_version="law_73_2021",
                ),
            )
            for n, on in ((4, "2025-02-01"), (5, "2025-04-01"), (6, "2024-04-01"))
        ],
        # Methadone in Hoàn Kiếm: 2024 had one dropout of two patients; 2025 none of two.
        await health_dept.publish(
            "health.methadone.enrolled.v1",
            health.MethadoneEnrolled(person=ref(7, HOAN_KIEM), episode_id="ep7", enrolled_on="2024-01-10"),
        ),
        await health_dept.publish(
            "health.methadone.ended.v1",
            health.MethadoneEnded(
                person=ref(7, HOAN_KIEM), episode_id="ep7", ended_on="2024-06-01", reason="dropped_out"
            ),
        ),
        await health_dept.publish(
            "health.methadone.enrolled.v1",
            health.MethadoneEnrolled(person=ref(8, HOAN_KIEM), episode_id="ep8", enrolled_on="2024-02-10"),
        ),
        await health_dept.publish(
            "health.methadone.enrolled.v1",
            health.MethadoneEnrolled(person=ref(9, HOAN_KIEM), episode_id="ep9", enrolled_on="2025-02-10"),
        ),
    ]
    return len(sent)


async def caught_up(stub, applied: int) -> None:
    async def check():
        status = await stub.GetIngestStatus(reporting_pb2.IngestStatusRequest())
        return status.caught_up and status.events_applied == applied

    await eventually(check, message=f"{applied} events applied")


def table(report: reporting_pb2.IndicatorReport) -> dict[tuple[str, str], tuple]:
    return {
        (v.indicator_id, v.group): (v.numerator, v.denominator, round(v.value, 1) if v.has_value else None)
        for v in report.values
    }


async def test_indicators_by_commune_with_the_year_before(served):
    js, stub, _ = served
    await caught_up(stub, await publish_year(js))
    report = await stub.GetIndicators(
        reporting_pb2.IndicatorsRequest(
            period_start="2025-01-01",
            period_end="2025-12-31",
            province_code="01",
            indicator_ids=[
                "completers_in_aftercare_share",
                "compulsory_dossiers_opened",
                "methadone_active_at_end",
            ],
            breakdown="commune",
            compare_previous_year=True,
        )
    )
    assert report.catalogue_version
    assert table(report) == {
        ("completers_in_aftercare_share", ""): (2, 3, 66.7),
        ("completers_in_aftercare_share", BA_DINH): (1, 1, 100.0),
        ("completers_in_aftercare_share", HOAN_KIEM): (1, 2, 50.0),
        ("compulsory_dossiers_opened", ""): (2, 0, 2.0),
        ("compulsory_dossiers_opened", HOAN_KIEM): (2, 0, 2.0),
        ("methadone_active_at_end", ""): (2, 0, 2.0),
        ("methadone_active_at_end", HOAN_KIEM): (2, 0, 2.0),
    }
    previous = {(v.indicator_id, v.group): v.previous_value for v in report.values if v.has_previous}
    assert previous[("compulsory_dossiers_opened", "")] == 1.0
    assert previous[("methadone_active_at_end", "")] == 1.0
    assert ("completers_in_aftercare_share", "") not in previous  # nobody completed in 2024: no share


async def test_plan_progress_for_a_users_own_plan_file(served):
    js, stub, _ = served
    await caught_up(stub, await publish_year(js))
    listed = await stub.ListPlans(reporting_pb2.ListPlansRequest())
    assert {"ha-noi-110-2023", "hoan-kiem-2025"} <= {p.plan_id for p in listed.plans}
    progress = await stub.GetPlanProgress(
        reporting_pb2.PlanProgressRequest(plan_id="hoan-kiem-2025", as_of="2025-06-30")
    )
    by_id = {t.target_id: t for t in progress.targets}
    assert (by_id["completers"].actual, by_id["completers"].status) == (50.0, "behind")
    dossiers = by_id["dossiers"]
    assert (dossiers.actual, dossiers.share_reached, dossiers.status) == (2.0, 50.0, "on_track")
    assert dossiers.expected_share == pytest.approx(100 * 181 / 365)
    dropouts = by_id["dropouts"]  # 0 % in 2025 against 50 % in 2024
    assert (dropouts.actual, dropouts.target, dropouts.status) == (0.0, 50.0, "met")


async def test_the_catalogue_and_refusals(served):
    _, stub, _ = served
    catalogue = await stub.ListIndicators(reporting_pb2.ListIndicatorsRequest())
    names = {i.indicator_id: (i.name_vi, i.kind) for i in catalogue.indicators}
    assert names["reach_services_share"][1] == "share" and names["methadone_new"][1] == "count"
    english = (("accept-language", "en"),)
    cases = [
        (
            stub.GetIndicators(
                reporting_pb2.IndicatorsRequest(
                    period_start="2025-01-01", period_end="2025-12-31", indicator_ids=["joy"]
                ),
                metadata=english,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "No indicator joy in the catalogue",
        ),
        (
            stub.GetIndicators(
                reporting_pb2.IndicatorsRequest(
                    period_start="2025-01-01",
                    period_end="2025-12-31",
                    indicator_ids=["managed_new"],
                    breakdown="kind",
                ),
                metadata=english,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "can be broken down by 'kind'",
        ),
        (
            stub.GetPlanProgress(reporting_pb2.PlanProgressRequest(plan_id="nowhere"), metadata=english),
            grpc.StatusCode.NOT_FOUND,
            "No plan 'nowhere'",
        ),
        (
            stub.GetPlanProgress(
                reporting_pb2.PlanProgressRequest(plan_id="hoan-kiem-2025", as_of="2025-02-30")
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "as_of",
        ),
    ]
    for call, code, text in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == code
        assert text in refused.value.details()


def test_a_wrong_plan_file_stops_reporting_at_start(tmp_path: Path):
    (tmp_path / "typo.toml").write_text(
        MY_PLAN.replace("compulsory_dossiers_opened", "dossiers_opend"), encoding="utf-8"
    )
    with pytest.raises(pydantic.ValidationError) as refused:
        ReportingSettings(plan_dirs=[tmp_path])
    assert "typo.toml: target[1] 'dossiers': indicator 'dossiers_opend' is not in the catalogue" in str(
        refused.value
    )


async def test_exports_of_each_report_over_grpc(served):
    from openpyxl import load_workbook

    js, stub, _ = served
    await caught_up(stub, await publish_year(js))
    indicators = await stub.ExportReport(
        reporting_pb2.ExportRequest(
            format="xlsx",
            indicators=reporting_pb2.IndicatorsRequest(
                period_start="2025-01-01",
                period_end="2025-12-31",
                province_code="01",
                indicator_ids=["completers_in_aftercare_share"],
                breakdown="commune",
            ),
        )
    )
    assert indicators.filename == "chi-tieu_2025-01-01_2025-12-31_01.xlsx"
    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(indicators.content)).active.iter_rows()]
    body = {r[1]: r[2:5] for r in rows[4:] if r[1]}  # the note row has one cell
    assert body == {"Tổng": [2, 3, 66.7], "Phường Hoàn Kiếm": [1, 2, 50.0], "Phường Ba Đình": [1, 1, 100.0]}

    plan = await stub.ExportReport(
        reporting_pb2.ExportRequest(
            format="csv",
            language="en",
            plan=reporting_pb2.PlanProgressRequest(plan_id="hoan-kiem-2025", as_of="2025-06-30"),
        )
    )
    text = plan.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Target,Comparison,Target value,Actual")
    assert "4 dossiers,At least,4,2,50.0," in text and "On track" in text

    page = await stub.ExportReport(
        reporting_pb2.ExportRequest(
            format="html",
            management=reporting_pb2.ManagementReportRequest(
                period_start="2025-01-01", period_end="2025-12-31"
            ),
        )
    )
    assert page.content_type.startswith("text/html") and "Người bị quản lý" in page.content.decode()

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ExportReport(
            reporting_pb2.ExportRequest(format="xlsx"), metadata=(("accept-language", "en"),)
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Choose the report to export" in refused.value.details()


async def test_a_signed_off_report_stays_as_signed_and_later_events_show_as_differences(served):
    js, stub, _ = served
    sent = await publish_year(js)
    await caught_up(stub, sent)
    unit = {
        "period_start": "2025-01-01",
        "period_end": "2025-12-31",
        "province_code": "01",
        "commune_code": HOAN_KIEM,
    }
    officer = (("x-officer-id", "UBND-HK-CT"), ("accept-language", "en"))
    signed = await stub.SignOffReport(reporting_pb2.SignOffRequest(**unit), metadata=officer)
    assert signed.signed_by == "UBND-HK-CT" and signed.snapshot_id
    figures = {(v.indicator_id, v.group): v.value for v in signed.indicators.values}
    assert figures[("compulsory_dossiers_opened", "")] == 2.0

    same = await stub.GetSignedReport(reporting_pb2.GetSignedReportRequest(**unit))
    assert same.snapshot.snapshot_id == signed.snapshot_id and list(same.differences) == []

    # A dossier of 2025 recorded after the sign-off: the snapshot keeps 2, the difference says 3.
    await Department(js, "registry", "police").publish(
        "registry.compulsory_dossier.opened.v1",
        registry.CompulsoryDossierChanged(
            person=ref(10, HOAN_KIEM),
            dossier_id="d10",
            ground="no_voluntary_rehab",
            status="opened",
            opened_on="2025-11-01",
            law_version="law_73_2021",
        ),
    )
    await caught_up(stub, sent + 1)
    later = await stub.GetSignedReport(reporting_pb2.GetSignedReportRequest(**unit))
    assert {(d.indicator_id, d.group): (d.signed_value, d.current_value) for d in later.differences} == {
        ("compulsory_dossiers_opened", ""): (2.0, 3.0)
    }
    assert {(v.indicator_id, v.group): v.value for v in later.snapshot.indicators.values} == figures

    refusals = [
        (
            stub.SignOffReport(reporting_pb2.SignOffRequest(**unit), metadata=officer),
            grpc.StatusCode.ALREADY_EXISTS,
            "already approved and locked (UBND-HK-CT",
        ),
        (
            stub.SignOffReport(
                reporting_pb2.SignOffRequest(**{**unit, "period_end": "2025-06-30"}),
                metadata=(("accept-language", "en"),),
            ),
            grpc.StatusCode.PERMISSION_DENIED,
            "approving officer",
        ),
        (
            stub.GetSignedReport(
                reporting_pb2.GetSignedReportRequest(**{**unit, "period_end": "2025-06-30"}), metadata=officer
            ),
            grpc.StatusCode.NOT_FOUND,
            "has not been signed off",
        ),
        (
            stub.SignOffReport(
                reporting_pb2.SignOffRequest(**{**unit, "commune_code": "26743"}), metadata=officer
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "is not in province 01",
        ),
    ]
    for call, code, text in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == code
        assert text in refused.value.details()


async def test_sign_offs_survive_a_rebuild_of_the_read_model(served):
    js, stub, _ = served
    sent = await publish_year(js)
    await caught_up(stub, sent)
    unit = {"period_start": "2025-01-01", "period_end": "2025-12-31", "province_code": "01"}
    signed = await stub.SignOffReport(
        reporting_pb2.SignOffRequest(**unit), metadata=(("x-officer-id", "BCD-01"),)
    )
    progress = [p async for p in stub.Rebuild(reporting_pb2.RebuildRequest(confirm=True))]
    assert progress[-1].done and progress[-1].applied == sent
    kept = await stub.GetSignedReport(reporting_pb2.GetSignedReportRequest(**unit))
    assert kept.snapshot.snapshot_id == signed.snapshot_id and list(kept.differences) == []
