"""The local-run supervisor's decisions that need no running service, and the CLI's refusals."""

from __future__ import annotations

import importlib
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lienthong.cli import app
from lienthong.localrun import (
    MARKER,
    SERVICES,
    LocalRunError,
    LocalSystem,
    pick_port,
    postgres_database_url,
    prepare_postgres,
)
from lienthong.natsserver import NatsServer


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_supervisor_defaults_match_the_service_settings(spec) -> None:
    module = importlib.import_module(f"{spec.module}.settings")
    settings = next(
        cls
        for name, cls in vars(module).items()
        if name.endswith("Settings") and cls.__module__ == module.__name__
    )
    assert settings.model_fields["grpc_port"].default == spec.grpc_port
    assert settings.model_fields["metrics_port"].default == spec.metrics_port
    assert settings.model_fields["service_name"].default == spec.name


def test_pick_port_prefers_the_default_and_avoids_a_taken_one() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken_port = busy.getsockname()[1]
        port = pick_port(taken_port, set())
        assert port != taken_port
    chosen: set[int] = set()
    first = pick_port(None, chosen)
    assert pick_port(first, chosen) != first


def test_postgres_url_gets_one_database_per_service() -> None:
    url = postgres_database_url("postgresql://app:s3cret@db.example:5433/postgres", "lienthong_registry")
    assert url == "postgresql://app:s3cret@db.example:5433/lienthong_registry"
    system = LocalSystem(Path("/nonexistent"), database_url="postgresql://postgres@127.0.0.1/x")
    assert system.database_urls() == {
        "registry": "postgresql://postgres@127.0.0.1/lienthong_registry",
        "health": "postgresql://postgres@127.0.0.1/lienthong_health",
        "rehab": "postgresql://postgres@127.0.0.1/lienthong_rehab",
        "aftercare": "postgresql://postgres@127.0.0.1/lienthong_aftercare",
        "reporting": "postgresql://postgres@127.0.0.1/lienthong_reporting",
    }


def test_sqlite_files_live_in_the_data_folder(tmp_path: Path) -> None:
    urls = LocalSystem(tmp_path).database_urls()
    assert urls == {
        name: f"sqlite:///{tmp_path / (name + '.db')}"
        for name in ("registry", "health", "rehab", "aftercare", "reporting")
    }


def test_other_database_urls_are_refused() -> None:
    with pytest.raises(LocalRunError, match="must be a PostgreSQL URL"):
        LocalSystem(Path("x"), database_url="mysql://root@localhost/db")


async def test_a_postgres_server_that_does_not_answer_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(LocalRunError, match=f"PostgreSQL at 127.0.0.1:{port} does not answer"):
        await prepare_postgres(f"postgresql://postgres@127.0.0.1:{port}/postgres", ["x"], recreate=False)


def test_fresh_start_refuses_to_wipe_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(LocalRunError, match="refusing to wipe"):
        LocalSystem(tmp_path, fresh=True)._prepare_folder()
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    with pytest.raises(LocalRunError, match="not made by lienthong"):
        LocalSystem(tmp_path, fresh=False)._prepare_folder()


def test_fresh_start_wipes_its_own_folder_and_locks_it(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    first = LocalSystem(folder, fresh=True)
    first._prepare_folder()
    (folder / "registry.db").write_text("old")
    assert (folder / MARKER).exists() and (folder / "logs").is_dir()
    with pytest.raises(LocalRunError, match="another lienthong run"):
        LocalSystem(folder, fresh=True)._prepare_folder()
    first.stop()
    second = LocalSystem(folder, fresh=True)
    second._prepare_folder()
    assert not (folder / "registry.db").exists()
    second.stop()


def test_each_service_gets_its_own_nats_key_and_no_other(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LIENTHONG_NATS_NKEY_SEED_FILE", "/somewhere/else.nk")  # the shell's must not leak in
    system = LocalSystem(tmp_path / "run", prefer_default_ports=False)
    system.nats = NatsServer(tmp_path / "run" / "nats")  # not started: only its address is used
    taken: set[int] = set()
    for spec in SERVICES:
        env = system._service_env(spec, "sqlite:///x.db", taken)
        key = Path(env["LIENTHONG_NATS_NKEY_SEED_FILE"])
        assert key == tmp_path / "run" / "nats" / "keys" / f"{spec.name}.nk"
    plain = LocalSystem(tmp_path / "plain", prefer_default_ports=False, nats_accounts=False)
    plain.nats = NatsServer(tmp_path / "plain" / "nats")
    assert "LIENTHONG_NATS_NKEY_SEED_FILE" not in plain._service_env(SERVICES[0], "sqlite:///x.db", set())


runner = CliRunner()


def test_cli_lists_its_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "up", "codegen", "nats-config"):
        assert command in result.output


def test_cli_codegen_check_passes_on_this_checkout() -> None:
    result = runner.invoke(app, ["codegen", "--check"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_cli_refuses_a_database_url_that_is_not_postgres(tmp_path: Path) -> None:
    result = runner.invoke(app, ["up", "--data-dir", str(tmp_path), "--database-url", "sqlite:///x.db"])
    assert result.exit_code == 1
    assert "must be a PostgreSQL URL" in result.output


def test_cli_says_when_postgres_does_not_answer(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(
        app,
        [
            "demo",
            "--data-dir",
            str(tmp_path / "d"),
            "--database-url",
            f"postgresql://postgres@127.0.0.1:{port}/x",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "does not answer" in result.output


def test_cli_refuses_bad_options() -> None:
    result = runner.invoke(app, ["demo", "--people", "0"])
    assert result.exit_code == 2
