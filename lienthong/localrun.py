"""The local run: a private nats-server, then each service as its own process, supervised.

Everything lives in one data folder (by default ``.lienthong/<run>/`` in the working directory)::

    .lienthong-data      marker: this folder belongs to a local run and may be wiped by `lienthong demo`
    lock                 held while a supervisor runs, so two runs never share a folder
    pids.json            child process ids, to stop leftovers of a supervisor that was killed
    nats/                the nats-server configuration (0600), its JetStream store, and keys/<service>.nk:
                         each service's NATS nkey seed (0600; one account per service, lienthong.natsauth)
    logs/                nats-server.log, registry.log, reporting.log (stdout and stderr of each child)
    registry.db          SQLite databases (unless a PostgreSQL URL is given)
    reporting.db

The private nats-server listens on free loopback ports, never 4222, so it works whether or not another
server runs there. Services are started by module path only (``python -m services.<name>``): this module
imports none of their code. Each prints one JSON ``ready`` line with the addresses it bound; the
supervisor then waits for gRPC health SERVING before starting the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lienthong import natsauth, policy
from lienthong.natsserver import NatsServer, free_port

ROOT = Path(__file__).resolve().parent.parent
MARKER = ".lienthong-data"


@dataclass(frozen=True)
class ServiceDefaults:
    """What the supervisor knows of a service without importing it (a test checks it against settings)."""

    name: str
    module: str
    grpc_service: str
    grpc_port: int
    metrics_port: int


SERVICES: tuple[ServiceDefaults, ...] = (
    ServiceDefaults("registry", "services.registry", "lienthong.registry.v1.RegistryService", 50051, 9101),
    ServiceDefaults("health", "services.health", "lienthong.health.v1.HealthService", 50052, 9102),
    ServiceDefaults("rehab", "services.rehab", "lienthong.rehab.v1.RehabService", 50053, 9103),
    ServiceDefaults(
        "aftercare", "services.aftercare", "lienthong.aftercare.v1.AftercareService", 50054, 9104
    ),
    ServiceDefaults(
        "reporting", "services.reporting", "lienthong.reporting.v1.ReportingService", 50055, 9105
    ),
)


class LocalRunError(RuntimeError):
    """A problem the operator can act on; the CLI prints it without a traceback."""


class ServiceFailed(LocalRunError):
    def __init__(self, name: str, reason: str, log_path: Path, tail: str) -> None:
        super().__init__(f"{name} {reason}; last lines of {log_path}:\n{tail}")
        self.name = name
        self.log_path = log_path
        self.tail = tail


@dataclass(frozen=True)
class Endpoint:
    grpc: str
    metrics: str
    pid: int


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(preferred: int | None, taken: set[int], host: str = "127.0.0.1") -> int:
    if preferred and preferred not in taken and port_is_free(preferred, host):
        port = preferred
    else:
        port = free_port(host)
        while port in taken:
            port = free_port(host)
    taken.add(port)
    return port


def grpc_serving(address: str, service: str = "", timeout: float = 2.0) -> bool:
    """True when the gRPC health service at ``address`` reports SERVING for ``service``."""
    try:
        with grpc.insecure_channel(address) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
    except grpc.RpcError:
        return False
    return response.status == health_pb2.HealthCheckResponse.SERVING


class ServiceProcess:
    """One service as a child process; its stdout and stderr go to its log file."""

    def __init__(self, spec: ServiceDefaults, env: dict[str, str], log_path: Path) -> None:
        self.spec = spec
        self.name = spec.name
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.endpoint: Endpoint | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 90.0) -> Endpoint:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.spec.module],
                cwd=str(ROOT) if (ROOT / "services").is_dir() else None,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Not in our process group: Ctrl-C reaches the supervisor only, which stops the children
                # in order.
                start_new_session=True,
            )
        self.endpoint = self._wait_ready(timeout)
        return self.endpoint

    def _wait_ready(self, timeout: float) -> Endpoint:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        endpoint: Endpoint | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceFailed(
                    self.name, f"exited with code {self.process.returncode}", self.log_path, self.log_tail()
                )
            if endpoint is None:
                endpoint = self._ready_line()
            if endpoint is not None and grpc_serving(endpoint.grpc, self.spec.grpc_service):
                return endpoint
            time.sleep(0.1)
        self.kill()
        raise ServiceFailed(self.name, f"was not ready after {timeout:.0f}s", self.log_path, self.log_tail())

    def _ready_line(self) -> Endpoint | None:
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            for raw in log:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("{"):
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                if data.get("event") == "ready" and data.get("pid") == self.pid:
                    return Endpoint(grpc=data["grpc"], metrics=data["metrics"], pid=data["pid"])
        return None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines this process wrote (since its latest start)."""
        if not self.log_path.exists():
            return "(no log)"
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            text = log.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown."""
        if self.alive():
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait for a clean shutdown; SIGKILL after ``timeout``. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def postgres_database_url(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("postgresql+asyncpg://", "postgresql://"))
    return parsed.set(database=database).render_as_string(hide_password=False)


def _describe_postgres(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"


async def prepare_postgres(url: str, databases: list[str], *, recreate: bool) -> None:
    """Create the services' databases (dropping them first when ``recreate``) on the server at ``url``."""
    import asyncpg

    plain = url.replace("postgresql+asyncpg://", "postgresql://").replace("postgres://", "postgresql://")
    try:
        admin = await asyncpg.connect(plain, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        raise LocalRunError(
            f"PostgreSQL at {_describe_postgres(plain)} does not answer or refused the connection: "
            f"{exc or type(exc).__name__}"
        ) from None
    try:
        for name in databases:
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if exists and recreate:
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            if not exists or recreate:
                await admin.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.PostgresError as exc:
        raise LocalRunError(f"cannot create the databases {databases} on PostgreSQL: {exc}") from None
    finally:
        await admin.close()


def _looks_like_ours(pid: int, needle: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return needle in cmdline


class LocalSystem:
    """nats-server and every service on this machine, supervised; stopped in reverse order."""

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str | None = None,
        fresh: bool = False,
        prefer_default_ports: bool = True,
        database_prefix: str = "lienthong",
        log_level: str | None = None,
        extra_env: dict[str, str] | None = None,
        nats_accounts: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.database_url = database_url
        self.fresh = fresh
        self.prefer_default_ports = prefer_default_ports
        self.database_prefix = database_prefix
        self.log_level = log_level or os.environ.get("LIENTHONG_LOG_LEVEL", "INFO")
        self.extra_env = extra_env or {}
        # One NATS account per service, generated from the data-sharing policy (lienthong.natsauth).
        self.nats_accounts = nats_accounts
        self.nats: NatsServer | None = None
        self.services: dict[str, ServiceProcess] = {}
        self._lock_file = None
        if database_url is not None and not database_url.startswith(
            ("postgresql://", "postgres://", "postgresql+asyncpg://")
        ):
            raise LocalRunError(
                f"--database-url must be a PostgreSQL URL (postgresql://user@host:5432/postgres), got "
                f"{database_url!r}; without it each service keeps a SQLite file in the data folder"
            )

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def nats_key_dir(self) -> Path:
        return self.data_dir / "nats" / "keys"

    def nats_key_file(self, service: str) -> Path:
        return natsauth.key_file(self.nats_key_dir, service)

    def endpoints(self) -> dict[str, Endpoint]:
        return {name: s.endpoint for name, s in self.services.items() if s.endpoint}

    # --- the data folder -------------------------------------------------------------------------
    def _prepare_folder(self) -> None:
        folder = self.data_dir
        if folder.exists() and not folder.is_dir():
            raise LocalRunError(f"{folder} exists and is not a folder")
        if self.fresh and folder.exists() and any(folder.iterdir()):
            if not (folder / MARKER).exists():
                raise LocalRunError(
                    f"{folder} is not empty and was not made by lienthong (no {MARKER} file): "
                    "refusing to wipe it; choose another --data-dir"
                )
            self._check_unlocked()
            self._stop_leftovers()
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if any(p.name != MARKER for p in folder.iterdir()) and not (folder / MARKER).exists():
            raise LocalRunError(
                f"{folder} is not empty and was not made by lienthong (no {MARKER} file); choose another "
                "--data-dir"
            )
        (folder / MARKER).write_text("Data of a lienthong local run (nats-server store, databases, logs).\n")
        self._lock()
        self._stop_leftovers()
        self.log_dir.mkdir(exist_ok=True)

    def _check_unlocked(self) -> None:
        lock_path = self.data_dir / "lock"
        if not lock_path.exists():
            return
        with open(lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LocalRunError(self._busy_message()) from None

    def _busy_message(self) -> str:
        owner = (self.data_dir / "lock").read_text().strip() or "?"
        return (
            f"another lienthong run (pid {owner}) is using {self.data_dir}; stop it or use another --data-dir"
        )

    def _lock(self) -> None:
        handle = open(self.data_dir / "lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise LocalRunError(self._busy_message()) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle

    def _unlock(self) -> None:
        if self._lock_file:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _record_pids(self) -> None:
        pids = {name: s.pid for name, s in self.services.items() if s.alive()}
        if self.nats and self.nats.process and self.nats.process.poll() is None:
            pids["nats-server"] = self.nats.process.pid
        (self.data_dir / "pids.json").write_text(json.dumps(pids))

    def _stop_leftovers(self) -> None:
        """Stop children of an earlier supervisor of this folder that was killed before it could."""
        path = self.data_dir / "pids.json"
        if not path.exists():
            return
        try:
            recorded = json.loads(path.read_text())
        except ValueError:
            recorded = {}
        needles = {s.name: s.module for s in SERVICES} | {"nats-server": str(self.data_dir / "nats")}
        for name, pid in recorded.items():
            if isinstance(pid, int) and name in needles and _looks_like_ours(pid, needles[name]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)
        path.unlink(missing_ok=True)

    # --- databases and environment ---------------------------------------------------------------
    def database_urls(self) -> dict[str, str]:
        if self.database_url is None:
            return {s.name: f"sqlite:///{self.data_dir / (s.name + '.db')}" for s in SERVICES}
        return {
            s.name: postgres_database_url(self.database_url, f"{self.database_prefix}_{s.name}")
            for s in SERVICES
        }

    def _prepare_databases(self) -> dict[str, str]:
        urls = self.database_urls()
        if self.database_url is not None:
            names = [f"{self.database_prefix}_{s.name}" for s in SERVICES]
            asyncio.run(prepare_postgres(self.database_url, names, recreate=self.fresh))
        return urls

    def _service_env(self, spec: ServiceDefaults, database_url: str, taken: set[int]) -> dict[str, str]:
        assert self.nats is not None
        env = dict(os.environ)
        env.update(
            {
                "LIENTHONG_NATS_URL": self.nats.url,
                "LIENTHONG_DATABASE_URL": database_url,
                "LIENTHONG_GRPC_HOST": "127.0.0.1",
                "LIENTHONG_GRPC_PORT": str(
                    pick_port(spec.grpc_port if self.prefer_default_ports else None, taken)
                ),
                "LIENTHONG_METRICS_HOST": "127.0.0.1",
                "LIENTHONG_METRICS_PORT": str(
                    pick_port(spec.metrics_port if self.prefer_default_ports else None, taken)
                ),
                "LIENTHONG_LOG_LEVEL": self.log_level,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.pop("LIENTHONG_NATS_NKEY_SEED_FILE", None)
        if self.nats_accounts:
            env["LIENTHONG_NATS_NKEY_SEED_FILE"] = str(self.nats_key_file(spec.name))
        # Departments that must resolve a pseudonym to a person ask the registry, over gRPC.
        registry = self.services.get("registry")
        if registry is not None and registry.endpoint is not None:
            env["LIENTHONG_REGISTRY_TARGET"] = registry.endpoint.grpc
        env.update(self.extra_env)
        return env

    # --- life cycle --------------------------------------------------------------------------------
    def start(self, on_step: Callable[[str], None] | None = None) -> LocalSystem:
        step = on_step or (lambda _message: None)
        try:
            self._prepare_folder()
            step("preparing databases")
            urls = self._prepare_databases()
            step("starting nats-server")
            accounts = ""
            if self.nats_accounts:
                # Keys are kept between runs of `up`; the accounts follow the policy in force today.
                keys = natsauth.ensure_keys(self.nats_key_dir, [s.name for s in SERVICES])
                accounts = natsauth.accounts_config(policy.load(), keys, date.today())
            self.nats = NatsServer(
                self.data_dir / "nats",
                sync_always=True,
                log_file=self.log_dir / "nats-server.log",
                extra_config=accounts,
            )
            self.nats.start(timeout=30)
            self._record_pids()
            taken = {self.nats.port, self.nats.monitor_port}
            for spec in SERVICES:
                step(f"starting {spec.name}")
                service = ServiceProcess(
                    spec, self._service_env(spec, urls[spec.name], taken), self.log_dir / f"{spec.name}.log"
                )
                self.services[spec.name] = service
                service.start()
                self._record_pids()
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, name: str, *, kill: bool = True, timeout: float = 90.0) -> Endpoint:
        """Stop one service (SIGKILL when ``kill``, else SIGTERM) and start it again on the same ports."""
        service = self.services[name]
        if kill:
            service.kill()
        else:
            service.stop()
        endpoint = service.start(timeout)
        self._record_pids()
        return endpoint

    def dead_service(self) -> ServiceProcess | None:
        """A child that exited although nobody asked it to, if any."""
        for service in self.services.values():
            if not service.alive():
                return service
        return None

    def nats_alive(self) -> bool:
        return bool(self.nats and self.nats.process and self.nats.process.poll() is None)

    def stop(self, on_step: Callable[[str, int | None], None] | None = None) -> None:
        """Stop services in reverse order, then nats-server; safe to call twice."""
        for name in reversed(list(self.services)):
            code = self.services[name].stop()
            if on_step:
                on_step(name, code)
        if self.nats:
            self.nats.stop()
            if on_step:
                on_step("nats-server", self.nats.process.returncode if self.nats.process else None)
        if self.data_dir.exists() and self._lock_file:
            (self.data_dir / "pids.json").unlink(missing_ok=True)
        self._unlock()

    def __enter__(self) -> LocalSystem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
