"""The real services as separate processes (``python -m services.<name>``), as the local run starts them."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from lienthong.localrun import SERVICES, ServiceProcess
from lienthong.natsserver import free_port


def start_service(
    name: str,
    *,
    nats_url: str,
    database_url: str,
    log_dir: Path,
    tag: str,
    extra_env: dict | None = None,
    module: str | None = None,
) -> ServiceProcess:
    """Start one service (``module`` replaces ``services.<name>``, e.g. to run it under a profiler)."""
    spec = next(s for s in SERVICES if s.name == name)
    if module:
        spec = replace(spec, module=module)
    env = dict(os.environ)
    env.update(
        {
            "LIENTHONG_NATS_URL": nats_url,
            "LIENTHONG_DATABASE_URL": database_url,
            "LIENTHONG_GRPC_HOST": "127.0.0.1",
            "LIENTHONG_GRPC_PORT": str(free_port()),
            "LIENTHONG_METRICS_HOST": "127.0.0.1",
            "LIENTHONG_METRICS_PORT": str(free_port()),
            "LIENTHONG_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra_env or {})
    process = ServiceProcess(spec, env, log_dir / f"{name}-{tag}.log")
    process.start(timeout=120)
    return process


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (the peak resident size) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found
