"""The data-sharing policy (``lienthong/data_sharing.toml``): who may receive which events and call which
gRPC methods, for what purpose and on what legal basis, dated. Everything that grants access is derived
from it; this module reads and checks the file and answers "is this allowed on that day?".

Pure apart from reading the file; the checks against the code (consumers, client calls, gRPC methods)
live in the tests, which fail when the code and this file drift apart.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("data_sharing.toml")
DEPARTMENTS = ("registry", "health", "rehab", "aftercare")
SERVICES = (*DEPARTMENTS, "reporting")


class PolicyError(ValueError):
    """The policy file is wrong; the message names the file and the place."""


@dataclass(frozen=True)
class Text:
    vi: str
    en: str


@dataclass(frozen=True)
class EventRule:
    sender: str
    receiver: str
    consumer: str
    subjects: str
    since: date
    until: date | None
    purpose: Text
    basis: str

    def in_force(self, day: date) -> bool:
        return self.since <= day and (self.until is None or day < self.until)


@dataclass(frozen=True)
class CallRule:
    caller: str
    service: str
    methods: tuple[str, ...]
    since: date
    until: date | None
    purpose: Text
    basis: str

    def in_force(self, day: date) -> bool:
        return self.since <= day and (self.until is None or day < self.until)

    def grants(self, method: str) -> bool:
        return "*" in self.methods or method in self.methods


@dataclass(frozen=True)
class Policy:
    version: str
    parties: dict[str, Text]
    events: tuple[EventRule, ...]
    calls: tuple[CallRule, ...]

    def call_rule(self, caller: str, service: str, method: str, day: date) -> CallRule | None:
        """The rule that lets ``caller`` call ``service``/``method`` on ``day``; None: refused (default deny)."""
        for rule in self.calls:
            if (
                rule.caller == caller
                and rule.service == service
                and rule.in_force(day)
                and rule.grants(method)
            ):
                return rule
        return None

    def consumers_of(self, receiver: str, day: date) -> list[EventRule]:
        return [r for r in self.events if r.receiver == receiver and r.in_force(day)]


def load(path: Path = DEFAULT_PATH) -> Policy:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path.name}: not valid TOML: {exc}") from None
    return parse(data, source=path.name)


def _text(value: Any, where: str) -> Text:
    if not isinstance(value, dict) or not all(
        isinstance(value.get(k), str) and value[k] for k in ("vi", "en")
    ):
        raise PolicyError(f'{where}: must be {{ vi = "…", en = "…" }}')
    return Text(value["vi"], value["en"])


def _day(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    raise PolicyError(f"{where}: must be a date (YYYY-MM-DD)")


def _party(value: Any, parties: dict[str, Text], where: str) -> str:
    if value not in parties:
        raise PolicyError(f"{where}: {value!r} is not one of the [parties]")
    return value


def parse(data: dict[str, Any], *, source: str = "policy") -> Policy:
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise PolicyError(f"{source}: `version` must be a non-empty string")
    raw_parties = data.get("parties")
    if not isinstance(raw_parties, dict) or not raw_parties:
        raise PolicyError(f"{source}: [parties] is missing")
    parties = {name: _text(text, f"{source}: parties.{name}") for name, text in raw_parties.items()}
    for service in SERVICES:
        if service not in parties:
            raise PolicyError(f"{source}: [parties] lacks the service {service!r}")
    events = []
    for i, item in enumerate(data.get("events", [])):
        where = f"{source}: events[{i}]"
        sender = _party(item.get("from"), parties, f"{where}.from")
        receiver = _party(item.get("to"), parties, f"{where}.to")
        subjects = item.get("subjects")
        if not isinstance(subjects, str) or not (
            subjects == f"{sender}.>" or subjects.startswith(f"{sender}.")
        ):
            raise PolicyError(f"{where}.subjects: {subjects!r} is not a subject of {sender}'s stream")
        consumer = item.get("consumer")
        if not isinstance(consumer, str) or not consumer.startswith(receiver):
            raise PolicyError(f"{where}.consumer: {consumer!r} must be named after its receiver {receiver!r}")
        events.append(
            EventRule(
                sender=sender,
                receiver=receiver,
                consumer=consumer,
                subjects=subjects,
                since=_day(item.get("since"), f"{where}.since"),
                until=_day(item["until"], f"{where}.until") if "until" in item else None,
                purpose=_text(item.get("purpose"), f"{where}.purpose"),
                basis=str(item.get("basis", "")),
            )
        )
    calls = []
    for i, item in enumerate(data.get("calls", [])):
        where = f"{source}: calls[{i}]"
        service = item.get("service")
        if service not in SERVICES:
            raise PolicyError(f"{where}.service: {service!r} is not one of {', '.join(SERVICES)}")
        methods = item.get("methods")
        if not isinstance(methods, list) or not methods or not all(isinstance(m, str) and m for m in methods):
            raise PolicyError(f'{where}.methods: must be a non-empty list of method names (or ["*"])')
        calls.append(
            CallRule(
                caller=_party(item.get("caller"), parties, f"{where}.caller"),
                service=service,
                methods=tuple(methods),
                since=_day(item.get("since"), f"{where}.since"),
                until=_day(item["until"], f"{where}.until") if "until" in item else None,
                purpose=_text(item.get("purpose"), f"{where}.purpose"),
                basis=str(item.get("basis", "")),
            )
        )
    consumers = [r.consumer for r in events]
    duplicated = {c for c in consumers if consumers.count(c) > 1}
    if duplicated:
        raise PolicyError(f"{source}: consumer names used twice: {', '.join(sorted(duplicated))}")
    return Policy(version, parties, tuple(events), tuple(calls))


def markdown(policy: Policy) -> str:
    """docs/data-sharing.md, generated: the policy as tables a reviewer reads."""

    def name(party: str) -> str:
        return f"{policy.parties[party].en} (`{party}`)"

    def period(rule: EventRule | CallRule) -> str:
        return f"{rule.since.isoformat()} – {rule.until.isoformat() if rule.until else ''}"

    lines = [
        "# Data-sharing policy",
        "",
        f"Generated from `lienthong/data_sharing.toml` (version {policy.version}) by "
        "`python -m lienthong.policy > docs/data-sharing.md`; do not edit by hand (a test compares).",
        "",
        "## Events",
        "",
        "| from | to | consumer (filter) | in force | purpose | legal basis |",
        "|---|---|---|---|---|---|",
    ]
    for r in policy.events:
        lines.append(
            f"| {name(r.sender)} | {name(r.receiver)} | `{r.consumer}` (`{r.subjects}`) | {period(r)} | "
            f"{r.purpose.en} / {r.purpose.vi} | {r.basis} |"
        )
    lines += [
        "",
        "## gRPC calls (default deny: anything not listed is refused)",
        "",
        "| caller | service | methods | in force | purpose | legal basis |",
        "|---|---|---|---|---|---|",
    ]
    for r in policy.calls:
        methods = "all" if "*" in r.methods else ", ".join(f"`{m}`" for m in r.methods)
        lines.append(
            f"| {name(r.caller)} | `{r.service}` | {methods} | {period(r)} | {r.purpose.en} / {r.purpose.vi} | "
            f"{r.basis} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(load()), end="")
