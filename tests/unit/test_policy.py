"""The data-sharing policy as data: the file, the code and the generated document must agree."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lienthong import policy
from lienthong_contracts.aftercare.v1 import aftercare_pb2
from lienthong_contracts.health.v1 import health_pb2
from lienthong_contracts.registry.v1 import registry_pb2
from lienthong_contracts.rehab.v1 import rehab_pb2
from lienthong_contracts.reporting.v1 import reporting_pb2

ROOT = Path(__file__).resolve().parents[2]
POLICY = policy.load()
TODAY = date(2026, 11, 23)
DESCRIPTORS = {
    "registry": registry_pb2.DESCRIPTOR.services_by_name["RegistryService"],
    "health": health_pb2.DESCRIPTOR.services_by_name["HealthService"],
    "rehab": rehab_pb2.DESCRIPTOR.services_by_name["RehabService"],
    "aftercare": aftercare_pb2.DESCRIPTOR.services_by_name["AftercareService"],
    "reporting": reporting_pb2.DESCRIPTOR.services_by_name["ReportingService"],
}
STREAM_OF = {"registry": "REGISTRY", "health": "HEALTH", "rehab": "REHAB", "aftercare": "AFTERCARE"}


def test_the_generated_document_matches_the_policy():
    assert (ROOT / "docs" / "data-sharing.md").read_text(encoding="utf-8") == policy.markdown(POLICY), (
        "regenerate: python -m lienthong.policy > docs/data-sharing.md"
    )


def test_every_method_the_policy_names_exists():
    for rule in POLICY.calls:
        known = {m.name for m in DESCRIPTORS[rule.service].methods}
        assert set(rule.methods) - {"*"} <= known, (rule.caller, rule.service, set(rule.methods) - known)


def plans(tmp_path: Path) -> dict[str, object]:
    from services.aftercare.main import build_plan as aftercare
    from services.aftercare.settings import AftercareSettings
    from services.health.main import build_plan as health
    from services.health.settings import HealthSettings
    from services.registry.main import build_plan as registry
    from services.registry.settings import RegistrySettings
    from services.rehab.main import build_plan as rehab
    from services.rehab.settings import RehabSettings
    from services.reporting.main import build_plan as reporting
    from services.reporting.settings import ReportingSettings

    built = {}
    for name, settings, build in [
        ("registry", RegistrySettings, registry),
        ("health", HealthSettings, health),
        ("rehab", RehabSettings, rehab),
        ("aftercare", AftercareSettings, aftercare),
        ("reporting", ReportingSettings, reporting),
    ]:
        built[name] = build(
            settings(database_url=f"sqlite:///{tmp_path / name}.db", nats_url="nats://127.0.0.1:1")
        )
    return built


def test_the_services_consume_exactly_what_the_policy_grants(tmp_path):
    """Each durable consumer in the code has its rule (same name, stream and filter), and each rule its
    consumer: a new flow needs a reviewed policy change first."""
    in_code = {
        (name, c.spec.name, c.spec.stream, c.spec.filter_subject)
        for name, plan in plans(tmp_path).items()
        for c in plan.consumers
    }
    in_policy = {
        (r.receiver, r.consumer, STREAM_OF[r.sender], r.subjects) for r in POLICY.events if r.in_force(TODAY)
    }
    assert in_code == in_policy


def test_the_calls_one_department_makes_to_another_are_granted():
    # aftercare's registry client (services/aftercare/registry_client.py) reads contact details.
    assert POLICY.call_rule("aftercare", "registry", "FindPersonByPseudonym", TODAY) is not None


@pytest.mark.parametrize(
    ("caller", "service", "method", "allowed"),
    [
        ("registry", "registry", "GetPerson", True),
        ("health", "registry", "GetPerson", False),  # health never reads the police record
        ("aftercare", "registry", "GetPerson", False),  # only the narrow lookup
        ("aftercare", "registry", "FindPersonByPseudonym", True),
        ("reporting", "registry", "FindPersonByPseudonym", False),  # reporting never sees identities
        ("registry", "health", "GetPersonHealth", False),  # no criteria, no doses for the police
        ("steering_committee", "reporting", "SignOffReport", True),
        ("registry", "reporting", "SignOffReport", False),
        ("registry", "reporting", "GetPersonTimeline", False),
        ("operator", "reporting", "Rebuild", True),
        ("steering_committee", "reporting", "Rebuild", False),
        ("nobody", "registry", "GetPerson", False),
    ],
)
def test_default_deny_with_the_granted_exceptions(caller, service, method, allowed):
    assert (POLICY.call_rule(caller, service, method, TODAY) is not None) is allowed


def test_a_rule_holds_only_in_its_dates():
    data = {
        "version": "t",
        "parties": {s: {"vi": s, "en": s} for s in policy.SERVICES},
        "calls": [
            {
                "caller": "aftercare",
                "service": "registry",
                "methods": ["FindPersonByPseudonym"],
                "since": date(2025, 3, 1),
                "until": date(2026, 7, 1),
                "purpose": {"vi": "a", "en": "b"},
            }
        ],
    }
    dated = policy.parse(data)
    assert dated.call_rule("aftercare", "registry", "FindPersonByPseudonym", date(2025, 2, 28)) is None
    assert dated.call_rule("aftercare", "registry", "FindPersonByPseudonym", date(2025, 3, 1)) is not None
    assert dated.call_rule("aftercare", "registry", "FindPersonByPseudonym", date(2026, 7, 1)) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "events": [
                    {"from": "health", "to": "registry", "subjects": "registry.>", "consumer": "registry"}
                ]
            },
            "is not a subject of health's stream",
        ),
        (
            {"events": [{"from": "health", "to": "registry", "subjects": "health.>", "consumer": "spy"}]},
            "must be named after its receiver",
        ),
        (
            {"calls": [{"caller": "hacker", "service": "registry", "methods": ["*"]}]},
            "'hacker' is not one of the [parties]",
        ),
        ({"calls": [{"caller": "health", "service": "bank", "methods": ["*"]}]}, "'bank' is not one of"),
        ({"calls": [{"caller": "health", "service": "registry", "methods": []}]}, "must be a non-empty list"),
    ],
)
def test_a_wrong_policy_is_refused_with_the_place(change, message):
    data = {"version": "t", "parties": {s: {"vi": s, "en": s} for s in policy.SERVICES}, **change}
    with pytest.raises(policy.PolicyError) as refused:
        policy.parse(data, source="data_sharing.toml")
    assert message in str(refused.value) and str(refused.value).startswith("data_sharing.toml")


def test_the_nats_accounts_cover_exactly_what_each_service_declares_and_consumes(tmp_path):
    """lienthong.natsauth derives NATS permissions from the policy and its own naming; the services must
    declare exactly the streams it lets them own, and consume exactly the durables it grants them."""
    from lienthong import natsauth

    for name, plan in plans(tmp_path).items():
        allowed = natsauth.permissions(name, POLICY, TODAY).publish
        for spec in plan.owned_streams:
            assert f"$JS.API.STREAM.CREATE.{spec.name}" in allowed, (name, spec.name)
            assert set(spec.subjects) <= set(allowed), (name, spec.subjects)
        owned = {spec.name for spec in plan.owned_streams}
        expected = {natsauth.dead_letter_stream_of(name)}
        if name in policy.DEPARTMENTS:
            expected.add(natsauth.stream_of(name))
        assert owned == expected, name
        granted = {(g.stream, g.durable) for g in natsauth.grants(POLICY, TODAY) if g.reader == name}
        assert {(c.spec.stream, c.spec.name) for c in plan.consumers} == granted, name
