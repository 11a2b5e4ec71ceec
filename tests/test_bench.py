"""``lienthong bench`` end to end on tiny sizes: every figure is measured and written, with its ratio.

No timing is asserted: the numbers of a tiny run mean nothing; this checks the plumbing (servers,
service processes, generator, wire format, outputs) so that a real run does not fail after ten minutes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench import national, wire
from bench.command import update_docs
from lienthong.cli import app
from lienthong.envelope import Envelope
from services.reporting.consumer import decode

pytestmark = pytest.mark.e2e


def test_generated_events_are_what_reporting_decodes():
    acts = list(national.acts(60, seed=5))
    assert {a.event_type for a in acts} >= {
        "registry.person.registered.v1",
        "registry.management.decided.v1",
        "health.methadone.enrolled.v1",
        "rehab.admission.admitted.v1",
        "aftercare.case.placed.v1",
    }
    for event in wire.events(acts):
        step = decode(Envelope.parse(event.subject, event.headers, event.payload)).step
        assert step.event_type == event.subject


def test_docs_keep_the_written_analysis(tmp_path: Path):
    page = tmp_path / "performance.md"
    page.write_text("# P\n\nbefore\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nafter\n")
    update_docs("| new |\n", page)
    assert page.read_text() == "# P\n\nbefore\n<!-- bench:begin -->\n| new |\n<!-- bench:end -->\nafter\n"


def test_bench_smoke_writes_every_figure_and_ratio(tmp_path: Path):
    result = CliRunner().invoke(app, ["bench", "--smoke", "--out", str(tmp_path), "--no-docs"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((tmp_path / "latest.json").read_text())
    figures = {f["key"]: f for f in report["figures"]}
    assert {
        "raw_js_publish",
        "raw_js_pull",
        "raw_sqlite_commit",
        "raw_grpc_c50",
        "rebuild",
        "relay",
        "commands",
        "reads",
        "visible_p99",
        "report_province_year",
        "report_communes",
        "reporting_rss",
        "registry_rss",
    } <= set(figures)
    for figure in figures.values():
        assert figure["value"] is not None and math.isfinite(figure["value"]), figure["key"]
        assert figure["value"] > 0, figure["key"]
        if figure["goal_kind"] == "ratio_at_least":
            assert figure["ratio"] is not None and figure["ratio"] > 0, figure["key"]
        if figure["goal"]:
            assert figure["met"] in (True, False), figure["key"]
    markdown = (tmp_path / "latest.md").read_text()
    for figure in figures.values():
        assert figure["label"] in markdown
    assert (tmp_path / "profile-indicator-report.html").exists()
    assert (tmp_path / "profile-rebuild.txt").exists()
    assert report["rebuild_curve"][0]["rebuild_events_per_s"] > 0
    assert report["scale_curve"][0]["report_province_year_p95_ms"] > 0
    assert "errors (refused or failed calls): commands 0, reads 0, grpc 0, visible 0" in report["notes"]
