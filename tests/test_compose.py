"""compose.yaml cannot run here (no container engine), so check that it agrees with the code: the Compose
specification, the modules it starts, their ports and their LIENTHONG_* variables, and the NATS config."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lienthong import natsauth
from lienthong.cli import app
from lienthong.natsserver import find_binary
from lienthong.policy import SERVICES
from lienthong.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
MODULE_COMMAND = re.compile(r"services\.([a-z_]+)")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def app_services() -> dict[str, dict]:
    """The compose services that run one of ours: ``command: ["python", "-m", "services.<name>"]``."""
    return {
        name: spec
        for name, spec in compose()["services"].items()
        if spec.get("command", [None])[:2] == ["python", "-m"]
    }


def settings_class(name: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{name}.settings")
    classes = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, ServiceSettings)
        and cls is not ServiceSettings
        and cls.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"services/{name}/settings.py should define one ServiceSettings subclass"
    return classes[0]


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_registry_and_reporting_are_in_compose() -> None:
    assert set(app_services()) >= {"registry", "health", "rehab", "aftercare", "reporting"}


@pytest.mark.parametrize("name", sorted(app_services()))
def test_service_command_names_a_module_that_exists(name: str) -> None:
    command = app_services()[name]["command"]
    assert len(command) == 3, command
    match = MODULE_COMMAND.fullmatch(command[2])
    assert match, f"{name}: command should be python -m services.<name>, got {command}"
    assert (ROOT / "services" / match.group(1) / "__main__.py").is_file(), f"no module {command[2]}"
    assert match.group(1) == name, "the compose service is named after the module it runs"
    assert app_services()[name].get("build") == ".", "every service is built from the one Dockerfile"


@pytest.mark.parametrize("name", sorted(app_services()))
def test_service_ports_are_the_settings_defaults(name: str) -> None:
    spec = app_services()[name]
    fields = settings_class(name).model_fields
    grpc_port, metrics_port = fields["grpc_port"].default, fields["metrics_port"].default
    env = spec["environment"]
    assert int(env["LIENTHONG_GRPC_PORT"]) == grpc_port
    assert int(env["LIENTHONG_METRICS_PORT"]) == metrics_port
    published = {tuple(int(p) for p in str(mapping).split(":")[-2:]) for mapping in spec["ports"]}
    assert published == {(grpc_port, grpc_port), (metrics_port, metrics_port)}
    # Inside a container the services must listen beyond loopback.
    assert env["LIENTHONG_GRPC_HOST"] == "0.0.0.0" and env["LIENTHONG_METRICS_HOST"] == "0.0.0.0"
    assert str(grpc_port) in " ".join(spec["healthcheck"]["test"])


@pytest.mark.parametrize("name", sorted(app_services()))
def test_every_lienthong_variable_is_a_settings_field(name: str) -> None:
    fields = settings_class(name).model_fields
    env = app_services()[name]["environment"]
    assert isinstance(env, dict), "write environment as a mapping"
    for variable in env:
        if variable.startswith("LIENTHONG_"):
            field = variable.removeprefix("LIENTHONG_").lower()
            assert field in fields, f"{name}: {variable} is not a field of {settings_class(name).__name__}"
    for required in ("LIENTHONG_NATS_URL", "LIENTHONG_DATABASE_URL"):
        assert required in env, f"{name}: {required} missing"
    assert env["LIENTHONG_DATABASE_URL"].startswith("postgresql://")
    database_host = re.search(r"@([a-z-]+):5432/", env["LIENTHONG_DATABASE_URL"]).group(1)
    assert database_host in compose()["services"], f"{name}: database service {database_host} missing"
    assert env["LIENTHONG_NATS_URL"] == "nats://nats:4222"


def test_each_service_has_its_own_database() -> None:
    hosts = [
        re.search(r"@([a-z-]+):", spec["environment"]["LIENTHONG_DATABASE_URL"]).group(1)
        for spec in app_services().values()
    ]
    assert len(hosts) == len(set(hosts))


def test_nats_runs_the_configuration_generated_from_the_policy(tmp_path: Path) -> None:
    """compose.yaml mounts what `lienthong nats-config` writes: accounts from the data-sharing policy,
    JetStream with sync_interval: always, monitoring on loopback; nats-server -t accepts it."""
    document = compose()
    nats = document["services"]["nats"]
    assert str(nats["image"]).startswith("nats:2.15")
    assert "-js" in nats["command"]
    assert document["configs"]["nats_conf"]["file"] == f"./{natsauth.DEPLOY_DIR / 'nats-server.conf'}"
    assert [c["source"] for c in nats["configs"]] == ["nats_conf"]
    # The monitoring port (connections, subjects) is never published; clients only from this host.
    assert [str(p) for p in nats["ports"]] == ["127.0.0.1:4222:4222"]

    result = CliRunner().invoke(app, ["nats-config", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    config = (tmp_path / "nats-server.conf").read_text()
    assert re.search(r"sync_interval:\s*always", config)
    assert re.search(r"^http: 127\.0\.0\.1:8222$", config, re.MULTILINE)
    assert re.search(r"^listen: 0\.0\.0\.0:4222$", config, re.MULTILINE)
    for service in SERVICES:
        assert f"  {natsauth.account_of(service)} {{" in config
    path = tmp_path / "checked.conf"
    path.write_text(config.replace('"/data"', json.dumps(str(tmp_path / "data"))))
    result = subprocess.run(
        [find_binary(), "-t", "-c", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(app_services()))
def test_each_service_gets_only_its_own_nats_key(name: str) -> None:
    spec = app_services()[name]
    assert spec["secrets"] == [f"nats_{name}"]
    assert spec["environment"]["LIENTHONG_NATS_NKEY_SEED_FILE"] == f"/run/secrets/nats_{name}"
    secret = compose()["secrets"][f"nats_{name}"]
    assert secret["file"] == f"./{natsauth.key_file(natsauth.DEPLOY_DIR / 'keys', name)}"


def test_dockerfile_installs_the_package_without_dev_dependencies() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert re.search(r"pip install \.(\s|$)", dockerfile)
    assert "[dev]" not in dockerfile and "[local]" not in dockerfile
