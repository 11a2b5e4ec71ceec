"""Indicator reports and memory at national scale, on a read model written by the national generator."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc

from bench import national
from bench.processes import memory_kib, start_service
from lienthong import migrate
from lienthong.db import create_engine, session_factory
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc
from services.reporting import handlers
from services.reporting.domain import Period
from services.reporting.indicators import catalogue
from services.reporting.main import MIGRATIONS as REPORTING_MIGRATIONS

PROVINCE = national.HA_NOI  # the largest province: the slowest province report
YEAR = Period(date(2025, 1, 1), date(2025, 12, 31))
BREAKDOWNS = ("", "sex", "age_band", "commune")
ONE_INDICATOR = "managed_at_end"


@dataclass(frozen=True)
class NationalData:
    url: str
    people: int
    steps: int
    seconds: float


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


async def build(path: Path, people: int, *, seed: int = 7) -> NationalData:
    """A fresh reporting database (the service's migrations) with the generator's steps written in bulk."""
    _remove(path)
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine, REPORTING_MIGRATIONS)
    finally:
        await engine.dispose()
    started = time.perf_counter()
    steps = national.write_steps(str(path), people, seed=seed)
    return NationalData(url, people, steps, time.perf_counter() - started)


def _queries() -> tuple[list[handlers.IndicatorQuery], handlers.IndicatorQuery]:
    book = catalogue.load(catalogue.DEFAULT_PATH)
    every = tuple(book.indicators.values())
    province_year = [
        handlers.IndicatorQuery(period=YEAR, indicators=every, province_code=PROVINCE, breakdown=b)
        for b in BREAKDOWNS
    ]
    communes = handlers.IndicatorQuery(
        period=YEAR, indicators=(book.get(ONE_INDICATOR),), province_code=PROVINCE, breakdown="commune"
    )
    return province_year, communes


async def report_timings(url: str, repeats: int) -> tuple[list[float], list[float]]:
    """``services.reporting.handlers.indicator_report`` in this process, on the national read model:
    (milliseconds for the province-year report with all breakdowns, i.e. every indicator once per
    breakdown; milliseconds for all communes of the province, one indicator), ``repeats`` times each."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    province_year, communes = _queries()
    whole: list[float] = []
    per_commune: list[float] = []
    try:
        await handlers.indicator_report(sessions, communes)  # warm the connection pool and caches
        for _ in range(repeats):
            started = time.perf_counter()
            for query in province_year:
                await handlers.indicator_report(sessions, query)
            whole.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await handlers.indicator_report(sessions, communes)
            per_commune.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()
    return whole, per_commune


async def profile_report(url: str, out_dir: Path) -> dict[str, str]:
    """A pyinstrument profile of the province-year report, every indicator for the whole province (one of
    the four requests of the slowest figure; the other three spend their time in the same places)."""
    from pyinstrument import Profiler

    engine = create_engine(url)
    sessions = session_factory(engine)
    province_year, _ = _queries()
    profiler = Profiler(async_mode="enabled")
    try:
        profiler.start()
        await handlers.indicator_report(sessions, province_year[0])
        profiler.stop()
    finally:
        await engine.dispose()
    return _save_profile(profiler, out_dir)


def _save_profile(profiler, out_dir: Path) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / "profile-indicator-report.html"
    txt = out_dir / "profile-indicator-report.txt"
    html.write_text(profiler.output_html())
    txt.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return {"profile_html": str(html), "profile_text": str(txt)}


@dataclass(frozen=True)
class Memory:
    peak_kib: int
    now_kib: int
    grpc_ms: list[float]


async def memory_round(nats_url: str, data: NationalData, log_dir: Path, repeats: int) -> Memory:
    """The reporting process serving the national read model: the province-year report with all
    breakdowns and the communes report through its gRPC API, then its resident memory (peak and now)."""
    process = start_service(
        "reporting", nats_url=nats_url, database_url=data.url, log_dir=log_dir, tag="national"
    )
    timings: list[float] = []
    try:
        assert process.endpoint is not None
        async with grpc.aio.insecure_channel(process.endpoint.grpc) as channel:
            stub = reporting_pb2_grpc.ReportingServiceStub(channel)
            for _ in range(repeats):
                started = time.perf_counter()
                for breakdown in BREAKDOWNS:
                    await stub.GetIndicators(
                        reporting_pb2.IndicatorsRequest(
                            period_start=YEAR.start.isoformat(),
                            period_end=YEAR.end.isoformat(),
                            province_code=PROVINCE,
                            breakdown=breakdown,
                        ),
                        timeout=600,
                    )
                await stub.GetIndicators(
                    reporting_pb2.IndicatorsRequest(
                        period_start=YEAR.start.isoformat(),
                        period_end=YEAR.end.isoformat(),
                        province_code=PROVINCE,
                        indicator_ids=[ONE_INDICATOR],
                        breakdown="commune",
                    ),
                    timeout=600,
                )
                timings.append((time.perf_counter() - started) * 1000)
        memory = memory_kib(process.pid or 0)
    finally:
        process.stop()
    return Memory(memory.get("VmHWM", 0), memory.get("VmRSS", 0), timings)
