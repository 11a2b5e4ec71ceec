"""Read and check ``rules.toml``: every mistake is refused with its place in the file.

``current()`` is read once per process; reporting calls it when it starts so a bad file stops the start.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from services.reporting.alerts.model import (
    DEPARTMENTS,
    RULE_NAMES,
    TEMPLATE_FIELDS,
    WINDOW_KINDS,
    EndingAct,
    Law,
    Rule,
    RuleBook,
)
from services.reporting.steps import CATALOGUE

RULES_FILE = Path(__file__).resolve().parent / "rules.toml"
_TOKEN = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
MAX_DAYS = 3650


class RuleFileError(ValueError):
    """``rules.toml`` is not what reporting can use; the message names the file and the place."""


def _fail(place: str, problem: str) -> RuleFileError:
    return RuleFileError(f"{place}: {problem}")


def _days(value: Any, place: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise _fail(place, f"must be a whole number of days from 0 to {MAX_DAYS} (got {value!r})")
    return value


def _text(value: Any, place: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(place, f"must be non-empty text (got {value!r})")
    return value


def _token(value: Any, place: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise _fail(place, f"must be a code of lower-case letters, digits and _ (got {value!r})")
    return value


def _codes(value: Any, place: str) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise _fail(place, f"must be a non-empty list of codes (got {value!r})")
    return frozenset(_token(v, f"{place}[{i}]") for i, v in enumerate(value))


def _date(value: Any, place: str) -> date:
    if type(value) is not date:
        raise _fail(place, f"must be a date written YYYY-MM-DD without quotes (got {value!r})")
    return value


def _table(value: Any, place: str) -> dict:
    if not isinstance(value, dict):
        raise _fail(place, f"must be a table (got {value!r})")
    return value


def _keys(table: dict, place: str, required: set[str], optional: set[str] = frozenset()) -> None:
    missing = sorted(required - set(table))
    if missing:
        raise _fail(place, f"missing {', '.join(missing)}")
    unknown = sorted(set(table) - required - set(optional))
    if unknown:
        raise _fail(
            f"{place}.{unknown[0]}", f"unknown key; expected {', '.join(sorted(required | set(optional)))}"
        )


def _template(value: Any, place: str) -> str:
    text = _text(value, place)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise _fail(place, f"is not a valid template: {exc}") from None
    unknown = sorted(n for n in names if n not in TEMPLATE_FIELDS)
    if unknown:
        raise _fail(place, f"uses {{{unknown[0]}}}; a template may use only {', '.join(TEMPLATE_FIELDS)}")
    try:
        text.format(**dict.fromkeys(TEMPLATE_FIELDS, ""))
    except (ValueError, IndexError, KeyError) as exc:
        raise _fail(place, f"is not a valid template: {exc}") from None
    return text


def _ending_acts(value: Any, place: str) -> tuple[EndingAct, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(place, "must list at least one [[...ending_acts]] table")
    acts = []
    for i, entry in enumerate(value):
        where = f"{place}[{i}]"
        entry = _table(entry, where)
        _keys(entry, where, {"event_type", "code", "values", "label_vi", "label_en"})
        shape = CATALOGUE.get(entry["event_type"])
        if shape is None:
            raise _fail(f"{where}.event_type", f"{entry['event_type']!r} is not an event reporting reads")
        if entry["code"] not in shape.codes:
            raise _fail(
                f"{where}.code",
                f"{entry['event_type']} carries no code {entry['code']!r}; it has {', '.join(shape.codes)}",
            )
        acts.append(
            EndingAct(
                entry["event_type"],
                entry["code"],
                _codes(entry["values"], f"{where}.values"),
                _text(entry["label_vi"], f"{where}.label_vi"),
                _text(entry["label_en"], f"{where}.label_en"),
            )
        )
    return tuple(acts)


def _after_months(value: Any, place: str) -> MappingProxyType:
    table = _table(value, place)
    if not table:
        raise _fail(place, f"must name at least one window among {', '.join(WINDOW_KINDS)}")
    for kind, months in table.items():
        if kind not in WINDOW_KINDS:
            raise _fail(f"{place}.{kind}", f"unknown window; expected one of {', '.join(WINDOW_KINDS)}")
        if isinstance(months, bool) or not isinstance(months, int) or not 0 <= months <= 120:
            raise _fail(f"{place}.{kind}", f"must be a whole number of months from 0 to 120 (got {months!r})")
    return MappingProxyType(dict(table))


# What each rule needs beyond owner and messages: key -> reader. by_law may override the day counts.
_NUMBERS = {"days", "lookback_days"}
_SCHEMA: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    "completer_without_aftercare": {"days": _days, "closing_reasons": _codes},
    "management_term_ended_not_closed": {"days": _days, "ending_acts": _ending_acts},
    "determination_overdue": {"days": _days},
    "methadone_dropout": {"end_reasons": _codes, "lookback_days": _days},
    "positive_test_in_256a_window": {"lookback_days": _days, "after_months": _after_months},
    "move_reported_late": {"days": _days, "lookback_days": _days},
    "aftercare_past_term_without_certificate": {"days": _days},
}
assert tuple(_SCHEMA) == RULE_NAMES


def _laws(value: Any, place: str) -> tuple[Law, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(place, "must list at least one [[laws]] table")
    laws: list[Law] = []
    for i, entry in enumerate(value):
        where = f"{place}[{i}]"
        entry = _table(entry, where)
        _keys(entry, where, {"from", "version", "name_vi", "name_en"})
        law = Law(
            _date(entry["from"], f"{where}.from"),
            _token(entry["version"], f"{where}.version"),
            _text(entry["name_vi"], f"{where}.name_vi"),
            _text(entry["name_en"], f"{where}.name_en"),
        )
        if laws and law.starts <= laws[-1].starts:
            raise _fail(
                f"{where}.from", f"must come after {laws[-1].starts.isoformat()} (laws in date order)"
            )
        if any(law.version == earlier.version for earlier in laws):
            raise _fail(f"{where}.version", f"{law.version} is listed twice")
        laws.append(law)
    return tuple(laws)


def _rule(name: str, value: Any, place: str, versions: set[str]) -> Rule:
    table = _table(value, place)
    own = _SCHEMA[name]
    _keys(table, place, {"owner", "message_vi", "message_en", *own}, {"applies_from", "by_law"})
    owner = table["owner"]
    if owner not in DEPARTMENTS:
        raise _fail(
            f"{place}.owner", f"{owner!r} is not a department; expected one of {', '.join(DEPARTMENTS)}"
        )
    fields = {key: read(table[key], f"{place}.{key}") for key, read in own.items()}
    if "applies_from" in table:
        fields["applies_from"] = _date(table["applies_from"], f"{place}.applies_from")
    by_law = {}
    for version, overrides in _table(table.get("by_law", {}), f"{place}.by_law").items():
        where = f"{place}.by_law.{version}"
        if version not in versions:
            raise _fail(where, f"unknown law version; [[laws]] has {', '.join(sorted(versions))}")
        overrides = _table(overrides, where)
        _keys(overrides, where, set(), _NUMBERS & set(own))
        by_law[version] = MappingProxyType({k: _days(v, f"{where}.{k}") for k, v in overrides.items()})
    return Rule(
        name=name,
        owner=owner,
        message_vi=_template(table["message_vi"], f"{place}.message_vi"),
        message_en=_template(table["message_en"], f"{place}.message_en"),
        by_law=MappingProxyType(by_law),
        **fields,
    )


def parse(data: dict, source: str = "rules.toml") -> RuleBook:
    """The rule book from the file's parsed content; errors read ``<source>: <place>: <problem>``."""
    try:
        _keys(data, "(top level)", {"version", "laws", "rules"})
        version = _text(data["version"], "version")
        laws = _laws(data["laws"], "laws")
        rules_table = _table(data["rules"], "rules")
        _keys(rules_table, "rules", set(RULE_NAMES))
        versions = {law.version for law in laws}
        rules = {name: _rule(name, rules_table[name], f"rules.{name}", versions) for name in RULE_NAMES}
    except RuleFileError as exc:
        raise RuleFileError(f"{source}: {exc}") from None
    return RuleBook(version, laws, MappingProxyType(rules))


def load(path: Path = RULES_FILE) -> RuleBook:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise RuleFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleFileError(f"{path}: not valid TOML: {exc}") from None
    return parse(data, str(path))


@cache
def current() -> RuleBook:
    """The rule book shipped with reporting, read once."""
    return load()
