"""rules.toml: the shipped file loads, and every mistake is refused naming its place in the file."""

from __future__ import annotations

import copy
import tomllib
from datetime import date
from pathlib import Path

import pytest

from services.reporting.alerts import rulebook
from services.reporting.alerts.model import RULE_NAMES

SHIPPED = tomllib.loads(rulebook.RULES_FILE.read_text(encoding="utf-8"))


def test_the_shipped_file_has_every_rule_with_its_owner_and_both_laws():
    book = rulebook.load()
    assert tuple(book.rules) == RULE_NAMES
    assert [(law.starts, law.version) for law in book.laws] == [
        (date(2022, 1, 1), "law_73_2021"),
        (date(2026, 7, 1), "law_120_2025"),
    ]
    assert {name: rule.owner for name, rule in book.rules.items()} == {
        "completer_without_aftercare": "aftercare",
        "management_term_ended_not_closed": "registry",
        "determination_overdue": "health",
        "methadone_dropout": "health",
        "positive_test_in_256a_window": "registry",
        "move_reported_late": "registry",
        "aftercare_past_term_without_certificate": "aftercare",
    }
    assert book.rules["determination_overdue"].days == 5
    assert book.rules["completer_without_aftercare"].days == 15
    assert book.law_on(date(2026, 6, 30)).version == "law_73_2021"
    assert book.law_on(date(2026, 7, 1)).version == "law_120_2025"
    assert book.law_on(date(2021, 12, 31)) is None


def _with(change) -> dict:
    data = copy.deepcopy(SHIPPED)
    change(data)
    return data


def _rule(name: str, key: str, value):
    def change(data):
        data["rules"][name][key] = value

    return change


BROKEN = [
    (_rule("determination_overdue", "days", -1), "rules.determination_overdue.days: must be a whole number"),
    (
        _rule("determination_overdue", "days", True),
        "rules.determination_overdue.days: must be a whole number",
    ),
    (_rule("methadone_dropout", "lookback_days", "30"), "rules.methadone_dropout.lookback_days: must be"),
    (lambda d: d["rules"].pop("methadone_dropout"), "rules: missing methadone_dropout"),
    (lambda d: d["rules"].update(new_rule={}), "rules.new_rule: unknown key"),
    (
        _rule("determination_overdue", "owner", "police"),
        "rules.determination_overdue.owner: 'police' is not a department",
    ),
    (
        _rule("determination_overdue", "lookback_days", 3),
        "rules.determination_overdue.lookback_days: unknown key",
    ),
    (lambda d: d["rules"]["move_reported_late"].pop("days"), "rules.move_reported_late: missing days"),
    (
        _rule("determination_overdue", "message_vi", "Hạn {deadline}"),
        "rules.determination_overdue.message_vi: uses {deadline}",
    ),
    (
        _rule("determination_overdue", "message_en", "Due {due"),
        "rules.determination_overdue.message_en: is not a valid template",
    ),
    (
        _rule("determination_overdue", "message_en", "Due {}"),
        "rules.determination_overdue.message_en: uses {}",
    ),
    (
        _rule("methadone_dropout", "end_reasons", []),
        "rules.methadone_dropout.end_reasons: must be a non-empty list",
    ),
    (
        _rule("methadone_dropout", "end_reasons", ["Dropped Out"]),
        "rules.methadone_dropout.end_reasons[0]: must be a code",
    ),
    (
        _rule("move_reported_late", "applies_from", "2026-07-01"),
        "rules.move_reported_late.applies_from: must be a date",
    ),
    (
        lambda d: d["rules"]["management_term_ended_not_closed"]["ending_acts"][1].update(
            event_type="rehab.gone.v1"
        ),
        "rules.management_term_ended_not_closed.ending_acts[1].event_type: 'rehab.gone.v1' is not an event",
    ),
    (
        lambda d: d["rules"]["management_term_ended_not_closed"]["ending_acts"][0].update(code="criteria"),
        "rules.management_term_ended_not_closed.ending_acts[0].code: health.determination.concluded.v1 carries no code 'criteria'",
    ),
    (
        lambda d: d["rules"]["positive_test_in_256a_window"]["after_months"].update(prison=24),
        "rules.positive_test_in_256a_window.after_months.prison: unknown window",
    ),
    (
        lambda d: d["rules"]["positive_test_in_256a_window"]["after_months"].update(rehab=240),
        "rules.positive_test_in_256a_window.after_months.rehab: must be a whole number of months",
    ),
    (
        _rule("determination_overdue", "by_law", {"law_999": {"days": 3}}),
        "rules.determination_overdue.by_law.law_999: unknown law version",
    ),
    (
        _rule("determination_overdue", "by_law", {"law_120_2025": {"lookback_days": 3}}),
        "rules.determination_overdue.by_law.law_120_2025.lookback_days: unknown key",
    ),
    (lambda d: d["laws"].reverse(), "laws[1].from: must come after 2026-07-01"),
    (lambda d: d["laws"][1].update(version="law_73_2021"), "laws[1].version: law_73_2021 is listed twice"),
    (lambda d: d["laws"][0].update({"from": "2022-01-01"}), "laws[0].from: must be a date"),
    (lambda d: d.update(laws=[]), "laws: must list at least one"),
    (lambda d: d.update(thresholds={}), "(top level).thresholds: unknown key"),
    (lambda d: d.pop("version"), "(top level): missing version"),
]


@pytest.mark.parametrize(
    ("change", "message"), BROKEN, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(BROKEN)]
)
def test_a_mistake_is_refused_naming_the_file_and_the_place(change, message):
    with pytest.raises(rulebook.RuleFileError) as refused:
        rulebook.parse(_with(change), "alerts/rules.toml")
    assert str(refused.value).startswith("alerts/rules.toml: ")
    assert message in str(refused.value)


def test_a_file_that_is_not_toml_or_cannot_be_read_is_refused_with_its_path(tmp_path: Path):
    bad = tmp_path / "rules.toml"
    bad.write_text('version = "1"\n[rules\n', encoding="utf-8")
    with pytest.raises(rulebook.RuleFileError, match=r"rules\.toml: not valid TOML: .*line 2"):
        rulebook.load(bad)
    with pytest.raises(rulebook.RuleFileError, match=r"missing\.toml: cannot be read"):
        rulebook.load(tmp_path / "missing.toml")


def test_reporting_does_not_start_with_a_bad_rule_file(monkeypatch):
    from services.reporting import main
    from services.reporting.settings import ReportingSettings

    def broken():
        raise rulebook.RuleFileError("rules.toml: rules.determination_overdue.days: must be a whole number")

    monkeypatch.setattr(rulebook, "current", broken)
    with pytest.raises(rulebook.RuleFileError, match=r"rules\.determination_overdue\.days"):
        main.build_plan(ReportingSettings(grpc_port=0, metrics_port=0))
