"""Configuration from LIENTHONG_* environment variables."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from lienthong.settings import (
    DEMO_PSEUDONYM_KEY,
    PseudonymSettings,
    ServiceSettings,
    normalise_database_url,
)

GOOD_KEY = "ab" * 32  # 32 bytes


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LIENTHONG_* variable of the machine running the tests leaks into them."""
    for name in list(os.environ):
        if name.upper().startswith("LIENTHONG_"):
            monkeypatch.delenv(name)


def only_error(caught: pytest.ExceptionInfo[ValidationError]) -> dict:
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return errors[0]


# --- database URLs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://lt@db:5432/lienthong", "postgresql+asyncpg://lt@db:5432/lienthong"),
        ("postgres://lt@db:5432/lienthong", "postgresql+asyncpg://lt@db:5432/lienthong"),
        ("postgresql+asyncpg://lt@db/lienthong", "postgresql+asyncpg://lt@db/lienthong"),
        ("sqlite:///.lienthong/registry.db", "sqlite+aiosqlite:///.lienthong/registry.db"),
        ("sqlite:////var/lib/lienthong/x.db", "sqlite+aiosqlite:////var/lib/lienthong/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_normalise_database_url_picks_the_async_driver(url, expected):
    assert normalise_database_url(url) == expected
    assert normalise_database_url(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "url",
    [
        "mysql://lt@db/lienthong",
        "mysql+aiomysql://lt@db/lienthong",
        "postgresql+psycopg2://lt@db/lienthong",
        "sqlite+pysqlite:///x.db",
        "oracle://db",
        "/tmp/x.db",
        "",
    ],
)
def test_normalise_database_url_refuses_other_databases_and_drivers(url):
    with pytest.raises(ValueError, match="unsupported database URL") as caught:
        normalise_database_url(url)
    assert "sqlite:///" in str(caught.value) and "postgresql://" in str(caught.value)


def test_refused_database_url_does_not_echo_the_password():
    with pytest.raises(ValueError) as caught:
        normalise_database_url("mysql://lienthong:S3cret-Pa55@db/lienthong")
    assert "S3cret-Pa55" not in str(caught.value)


# --- ServiceSettings -----------------------------------------------------------------------------------------


def test_service_settings_defaults_are_for_the_local_run():
    settings = ServiceSettings()
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.database_url == "sqlite+aiosqlite:///.lienthong/service.db"
    assert settings.grpc_host == "127.0.0.1"
    assert settings.metrics_host == "127.0.0.1"
    assert 0 <= settings.grpc_port <= 65535
    assert 0 <= settings.metrics_port <= 65535


def test_service_settings_read_lienthong_environment_variables(monkeypatch):
    monkeypatch.setenv("LIENTHONG_SERVICE_NAME", "registry")
    monkeypatch.setenv("LIENTHONG_NATS_URL", "nats://n1:4222, tls://n2:4222,nats://n3:4222")
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", "postgres://lt@db:5432/registry")
    monkeypatch.setenv("LIENTHONG_GRPC_HOST", "0.0.0.0")
    monkeypatch.setenv("LIENTHONG_GRPC_PORT", "50061")
    monkeypatch.setenv("LIENTHONG_METRICS_HOST", "10.0.0.5")
    monkeypatch.setenv("LIENTHONG_METRICS_PORT", "9201")
    monkeypatch.setenv("LIENTHONG_LOG_LEVEL", "DEBUG")
    settings = ServiceSettings()
    assert settings.service_name == "registry"
    assert settings.nats_url == "nats://n1:4222, tls://n2:4222,nats://n3:4222"
    assert settings.database_url == "postgresql+asyncpg://lt@db:5432/registry"
    assert settings.grpc_host == "0.0.0.0"
    assert settings.grpc_port == 50061
    assert settings.metrics_host == "10.0.0.5"
    assert settings.metrics_port == 9201
    assert settings.log_level == "DEBUG"


def test_variables_without_the_prefix_are_ignored(monkeypatch):
    monkeypatch.setenv("GRPC_PORT", "1")
    monkeypatch.setenv("NATS_URL", "http://ignored")
    assert ServiceSettings().grpc_port != 1


def test_a_service_subclass_sets_its_own_defaults(monkeypatch):
    class RegistrySettings(ServiceSettings):
        service_name: str = "registry"
        grpc_port: int = 50051

    assert RegistrySettings().grpc_port == 50051
    monkeypatch.setenv("LIENTHONG_GRPC_PORT", "50099")
    assert RegistrySettings().grpc_port == 50099


@pytest.mark.parametrize(
    ("variable", "field"), [("LIENTHONG_GRPC_PORT", "grpc_port"), ("LIENTHONG_METRICS_PORT", "metrics_port")]
)
@pytest.mark.parametrize("port", ["70000", "65536", "-1", "http"])
def test_port_out_of_range_is_refused_naming_the_field(monkeypatch, variable, field, port):
    monkeypatch.setenv(variable, port)
    with pytest.raises(ValidationError) as caught:
        ServiceSettings()
    assert only_error(caught)["loc"] == (field,)
    assert field in str(caught.value)


def test_port_70000_message_says_what_is_allowed(monkeypatch):
    monkeypatch.setenv("LIENTHONG_GRPC_PORT", "70000")
    with pytest.raises(ValidationError) as caught:
        ServiceSettings()
    assert "grpc_port" in str(caught.value)
    assert "65535" in str(caught.value)


@pytest.mark.parametrize("url", ["http://x", "x:4222", "nats://a:4222,http://b:4222", "", "ws://x:80"])
def test_nats_url_that_is_not_nats_is_refused_naming_the_field(monkeypatch, url):
    monkeypatch.setenv("LIENTHONG_NATS_URL", url)
    with pytest.raises(ValidationError) as caught:
        ServiceSettings()
    error = only_error(caught)
    assert error["loc"] == ("nats_url",)
    assert "nats_url must be nats://host:port" in error["msg"]
    assert "nats_url" in str(caught.value)


def test_mysql_database_url_is_refused_naming_the_field(monkeypatch):
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", "mysql://lt@db/lienthong")
    with pytest.raises(ValidationError) as caught:
        ServiceSettings()
    error = only_error(caught)
    assert error["loc"] == ("database_url",)
    assert "unsupported database URL" in error["msg"]


def test_settings_can_be_given_directly():
    settings = ServiceSettings(database_url="sqlite:///tmp/x.db", grpc_port=0)
    assert settings.database_url == "sqlite+aiosqlite:///tmp/x.db"
    assert settings.grpc_port == 0
    with pytest.raises(ValidationError, match="nats_url"):
        ServiceSettings(nats_url="http://x")


# --- PseudonymSettings ---------------------------------------------------------------------------------------


def test_pseudonym_settings_default_to_the_demo_key():
    settings = PseudonymSettings()
    assert settings.pseudonym_key_bytes() == bytes.fromhex(DEMO_PSEUDONYM_KEY)
    assert len(settings.pseudonym_key_bytes()) >= 32
    assert settings.pseudonym_key_version == 1


def test_pseudonym_settings_read_the_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("LIENTHONG_PSEUDONYM_KEY", GOOD_KEY)
    monkeypatch.setenv("LIENTHONG_PSEUDONYM_KEY_VERSION", "3")
    settings = PseudonymSettings()
    assert settings.pseudonym_key_bytes() == bytes.fromhex(GOOD_KEY)
    assert settings.pseudonym_key_version == 3


def test_pseudonym_key_is_not_shown_in_repr(monkeypatch):
    monkeypatch.setenv("LIENTHONG_PSEUDONYM_KEY", GOOD_KEY)
    settings = PseudonymSettings()
    assert GOOD_KEY not in repr(settings)
    assert GOOD_KEY not in str(settings)


@pytest.mark.parametrize(
    "key",
    [
        "zz" * 32,
        "ab" * 31 + "g0",
        "ab" * 32 + "a",  # odd number of hex digits
        "0x" + "ab" * 32,
    ],
)
def test_non_hex_pseudonym_key_is_refused(monkeypatch, key):
    monkeypatch.setenv("LIENTHONG_PSEUDONYM_KEY", key)
    with pytest.raises(ValidationError) as caught:
        PseudonymSettings()
    error = only_error(caught)
    assert error["loc"] == ("pseudonym_key",)
    assert "pseudonym_key must be hexadecimal" in error["msg"]


@pytest.mark.parametrize("key", ["", "ab", "ab" * 16, "ab" * 31])
def test_pseudonym_key_under_32_bytes_is_refused(monkeypatch, key):
    monkeypatch.setenv("LIENTHONG_PSEUDONYM_KEY", key)
    with pytest.raises(ValidationError) as caught:
        PseudonymSettings()
    error = only_error(caught)
    assert error["loc"] == ("pseudonym_key",)
    assert "at least 32 bytes" in error["msg"]


@pytest.mark.parametrize("version", ["0", "-1"])
def test_pseudonym_key_version_below_1_is_refused(monkeypatch, version):
    monkeypatch.setenv("LIENTHONG_PSEUDONYM_KEY_VERSION", version)
    with pytest.raises(ValidationError) as caught:
        PseudonymSettings()
    assert only_error(caught)["loc"] == ("pseudonym_key_version",)


@pytest.mark.parametrize("key", [DEMO_PSEUDONYM_KEY + "Z", DEMO_PSEUDONYM_KEY[:62]])
def test_refused_pseudonym_key_is_not_echoed(monkeypatch, key):
    monkeypatch.setenv("LIENTHONG_PSEUDONYM_KEY", key)
    with pytest.raises(ValidationError) as caught:
        PseudonymSettings()
    assert key[:16] not in str(caught.value)
    assert key[-16:] not in str(caught.value)


# --- NATS credentials ------------------------------------------------------------------------------------


def test_without_an_nkey_seed_the_service_runs_without_nats_accounts():
    settings = ServiceSettings()
    assert settings.nats_nkey_seed_file is None and not settings.nats_accounts


def test_an_nkey_seed_file_turns_nats_accounts_on(monkeypatch, tmp_path):
    seed = tmp_path / "registry.nk"
    seed.write_text("SUAEXAMPLE\n")
    monkeypatch.setenv("LIENTHONG_NATS_NKEY_SEED_FILE", str(seed))
    settings = ServiceSettings()
    assert settings.nats_nkey_seed_file == seed and settings.nats_accounts
    assert "SUAEXAMPLE" not in repr(settings)


def test_a_missing_nkey_seed_file_is_refused_naming_the_field(monkeypatch, tmp_path):
    monkeypatch.setenv("LIENTHONG_NATS_NKEY_SEED_FILE", str(tmp_path / "absent.nk"))
    with pytest.raises(ValidationError) as caught:
        ServiceSettings()
    error = only_error(caught)
    assert error["loc"] == ("nats_nkey_seed_file",)
    assert "absent.nk" not in str(caught.value)
