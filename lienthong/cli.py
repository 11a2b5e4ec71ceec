"""``lienthong``: the operator's single entry point.

lienthong demo      the whole system on this machine with synthetic demo data, report, then serve
lienthong up        the same system without demo data; its data is kept between runs
lienthong codegen   generate (or --check) the Python code of the contracts in proto/
lienthong report    reporting: indicators, plans, exports, sign-off, work lists, rebuild
lienthong nats-config  nats-server accounts and nkeys generated from the data-sharing policy (compose.yaml)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.command import register as add_bench_command
from lienthong import audit_cli, keys_cli, natsauth
from lienthong.localrun import SERVICES, LocalRunError, LocalSystem, ServiceFailed
from lienthong.staff_cli import add_staff_commands

app = typer.Typer(
    name="lienthong",
    help="Interagency data hub for drug-dependence management: local run, demo and tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
add_staff_commands(app)  # lienthong registry|health|rehab|aftercare|report …: commands for department staff
app.add_typer(audit_cli.app, name="audit")  # lienthong audit verify|query: the read log, for operators
app.add_typer(keys_cli.app, name="keys")  # lienthong keys rotate|status: keys of the fields encrypted at rest
add_bench_command(app)  # lienthong bench: raw limits and the project's figures (code in bench/)

DEMO_DIR = Path(".lienthong") / "demo"
UP_DIR = Path(".lienthong") / "local"


def make_console() -> Console:
    # Piped output (CI, tests) gets a width wide enough for the report instead of rich's 80 columns.
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        return Console(width=200)
    return Console()


@contextlib.contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the run like Ctrl-C does: children are stopped in order, never orphaned.

    SIGINT gets Python's usual handler even when the parent shell ignored it (a background job)."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start(console: Console, system: LocalSystem) -> None:
    with console.status("Starting…") as status:

        def step(message: str) -> None:
            status.update(f"{message}…")

        system.start(on_step=step)
    assert system.nats is not None
    console.print(
        f"[green]✓[/] nats-server {system.nats.url} (JetStream, sync always"
        + (", an account per service" if system.nats_accounts else "")
        + "), "
        + ", ".join(f"{name} {ep.grpc}" for name, ep in system.endpoints().items())
    )


def _stop(console: Console, system: LocalSystem) -> None:
    if not system.services and system.nats is None:
        system.stop()
        return
    order = ", ".join(service.name for service in reversed(SERVICES))
    console.print(f"Stopping ({order}, then nats-server)…")

    def stopped(name: str, code: int | None) -> None:
        console.print(f"  {name} stopped" + (f" (exit code {code})" if code not in (0, None) else ""))

    system.stop(on_step=stopped)


def endpoints_table(system: LocalSystem) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    names = {s.name: s.grpc_service for s in SERVICES}
    for name, endpoint in system.endpoints().items():
        grid.add_row(name, f"gRPC {endpoint.grpc}  ({names[name]}; health, reflection)")
        grid.add_row("", f"metrics {endpoint.metrics}")
    if system.nats:
        grid.add_row("NATS", f"{system.nats.url}  monitoring {system.nats.monitor_url}")
        if system.nats_accounts:
            grid.add_row(
                "", f"nkeys {system.nats_key_dir}/<service>.nk (accounts from the data-sharing policy)"
            )
    grid.add_row("logs", str(system.log_dir))
    grid.add_row("data", str(system.data_dir))
    return grid


def _serve(console: Console, system: LocalSystem) -> None:
    console.print()
    console.print("[bold]Endpoints[/]")
    console.print(endpoints_table(system))
    reporting = system.endpoints().get("reporting")
    if reporting:
        console.print(f"Try: grpcurl -plaintext {reporting.grpc} list")
    console.print("[bold]Ctrl-C to stop[/] (nhấn Ctrl-C để dừng).")
    while True:
        time.sleep(0.5)
        dead = system.dead_service()
        if dead is not None:
            code = dead.process.returncode if dead.process else None
            raise ServiceFailed(
                dead.name, f"stopped unexpectedly (exit code {code})", dead.log_path, dead.log_tail()
            )
        if not system.nats_alive():
            raise LocalRunError(f"nats-server stopped unexpectedly; see {system.log_dir / 'nats-server.log'}")


def _fail(console: Console, error: BaseException | str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {error}", highlight=False)
    return typer.Exit(1)


async def _load_and_report(
    console: Console, system: LocalSystem, *, people: int, seed: int, concurrency: int, timeout: float
) -> int:
    from lienthong import demo, demo_paths, demo_walk

    endpoints = system.endpoints()
    plans = demo.build_scenario(people, seed)
    paths = demo_paths.plan_departments(plans, seed)
    planned = sum(p.command_count for p in plans)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        loading = progress.add_task(f"Loading {people} people through the registry gRPC API", total=planned)
        outcome = await demo.load_scenario(
            plans,
            endpoints["registry"].grpc,
            concurrency=concurrency,
            on_command=lambda _kind, _ok: progress.advance(loading),
        )
        walking = progress.add_task(
            f"Walking {len(paths.people)} of them through the departments' gRPC APIs", total=paths.step_count
        )
        walked = await demo_walk.walk(
            paths,
            outcome.registered,
            {name: endpoint.grpc for name, endpoint in endpoints.items()},
            concurrency=concurrency,
            on_step=lambda _act, _ok: progress.advance(walking),
        )
        # An older reporting reads only the REGISTRY stream and cannot say it has caught up: count those.
        expected = outcome.succeeded + walked.registry_events
        applying = progress.add_task("Reporting applies the events from JetStream", total=expected)

        def applied(status) -> None:
            pending = sum(max(source.pending, 0) for source in status.sources)
            total = status.events_applied + pending if status.sources else expected
            progress.update(applying, completed=status.events_applied, total=total)

        status = await demo.wait_for_ingest(
            endpoints["reporting"].grpc, expected, timeout=timeout, on_progress=applied
        )
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(outcome.by_kind.items()))
    console.print(f"[green]✓[/] {outcome.succeeded} registry commands accepted ({summary})")
    console.print(f"[green]✓[/] {demo_walk.summary(paths, walked)}")
    console.print(f"[green]✓[/] reporting applied {status.events_applied} events")
    if outcome.failed:
        console.print(f"[yellow]! {outcome.failed} commands refused by the registry[/], first ones:")
        for line in outcome.errors[:5]:
            console.print(f"  {line}", highlight=False)
    if walked.failed:
        console.print(f"[yellow]! {walked.failed} department walks stopped early[/], first ones:")
        for line in walked.errors[:5]:
            console.print(f"  {line}", highlight=False)
    if status.events_dead_lettered:
        console.print(f"[yellow]! {status.events_dead_lettered} events dead-lettered by reporting[/]")
    report = await demo.management_report(endpoints["reporting"].grpc, date(2025, 1, 1), date(2025, 12, 31))
    console.print()
    console.print(demo.report_table(report, compact=console.width < demo.WIDE_TABLE_COLUMNS))
    await _print_activity(console, endpoints["reporting"].grpc)
    await _print_plans(console, endpoints["reporting"].grpc)
    return 1 if outcome.failed or walked.failed or status.events_dead_lettered else 0


async def _print_activity(console: Console, reporting: str) -> None:
    import grpc

    from lienthong import demo_activity as activity

    start, end = activity.ACTIVITY_PERIOD
    console.print()
    try:
        counts = await activity.activity_counts(reporting, start, end)  # every province of the demo
    except grpc.aio.AioRpcError as error:
        if error.code() is not grpc.StatusCode.UNIMPLEMENTED:
            message = f"reporting refused GetActivityCounts: {error.code().name}: {error.details()}"
            raise LocalRunError(message) from None
        console.print(f"[yellow]! {activity.UNIMPLEMENTED_NOTICE}[/]", highlight=False)
        return
    console.print(activity.activity_table(counts, unit=activity.DEMO_UNIT_NAME))


async def _print_plans(console: Console, reporting: str) -> None:
    import grpc

    from lienthong import demo_plans

    on = demo_plans.as_of()
    console.print()
    try:
        progress = await demo_plans.plan_progress(reporting, on)
    except grpc.aio.AioRpcError as error:
        if error.code() is not grpc.StatusCode.UNIMPLEMENTED:
            message = f"reporting refused the plans: {error.code().name}: {error.details()}"
            raise LocalRunError(message) from None
        console.print(f"[yellow]! {demo_plans.UNIMPLEMENTED_NOTICE}[/]", highlight=False)
        return
    console.print(demo_plans.plans_table(progress, on, compact=console.width < demo_plans.COMPACT_BELOW))
    console.print(demo_plans.hint(reporting), highlight=False)


@app.command("demo")
def demo_command(
    people: int = typer.Option(300, "--people", min=1, max=100_000, help="Synthetic people to create."),
    seed: int = typer.Option(2025, "--seed", help="Seed of the scenario: the same seed gives the same data."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Print the report, then stop (for tests and CI)."),
    data_dir: Path = typer.Option(DEMO_DIR, "--data-dir", help="Demo data folder; emptied at every start."),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="PostgreSQL server (postgresql://user@host:5432/postgres): the demo (re)creates the databases "
        "lienthong_demo_registry and lienthong_demo_reporting there. Default: SQLite files in the data folder.",
    ),
    concurrency: int = typer.Option(20, "--concurrency", min=1, max=200, help="gRPC calls in flight."),
    timeout: float = typer.Option(
        300.0, "--timeout", min=1, help="Seconds to wait for reporting to catch up."
    ),
) -> None:
    """Start the system with a fresh demo data folder, load synthetic data, print the 2025 report, serve."""
    console = make_console()
    console.print(
        f"[bold]lienthong demo[/]: starting from a fresh demo data folder [cyan]{data_dir}[/] "
        "(what an earlier demo left there is removed)."
    )
    try:
        system = LocalSystem(
            data_dir, database_url=database_url, fresh=True, database_prefix="lienthong_demo"
        )
    except LocalRunError as error:
        raise _fail(console, error) from None

    def load() -> int:
        return asyncio.run(
            _load_and_report(
                console, system, people=people, seed=seed, concurrency=concurrency, timeout=timeout
            )
        )

    _run(console, system, load=load, serve=not no_wait)


@app.command("up")
def up_command(
    data_dir: Path = typer.Option(UP_DIR, "--data-dir", help="Data folder, kept between runs."),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="PostgreSQL server (postgresql://user@host:5432/postgres): the databases lienthong_registry and "
        "lienthong_reporting are created there if missing. Default: SQLite files in the data folder.",
    ),
) -> None:
    """Start nats-server and the five services on this machine (no demo data) and serve until Ctrl-C."""
    console = make_console()
    try:
        system = LocalSystem(data_dir, database_url=database_url, fresh=False, database_prefix="lienthong")
    except LocalRunError as error:
        raise _fail(console, error) from None
    _run(console, system, load=None, serve=True)


def _run(console: Console, system: LocalSystem, *, load: Callable[[], int] | None, serve: bool) -> None:
    """Start the system, optionally load data, serve until Ctrl-C, and always stop it in order."""
    exit_code = 0
    with _signals_as_interrupt():
        try:
            _start(console, system)
            if load is not None:
                exit_code = load()
            if serve:
                _serve(console, system)
            else:
                console.print("--no-wait: not serving.")
        except KeyboardInterrupt:
            console.print()
        except (LocalRunError, TimeoutError) as error:
            exit_code = 1
            console.print(f"[bold red]error:[/] {error}", highlight=False)
        finally:
            _stop(console, system)
    if exit_code:
        raise typer.Exit(exit_code)


@app.command("nats-config")
def nats_config_command(
    out: Path = typer.Option(
        natsauth.DEPLOY_DIR,
        "--out",
        help="Folder for nats-server.conf and keys/<service>.nk (compose.yaml's).",
    ),
    listen: str = typer.Option("0.0.0.0:4222", "--listen", help="Client address inside the NATS container."),
    monitor: str = typer.Option(
        "127.0.0.1:8222", "--monitor", help="Monitoring address: keep it on loopback."
    ),
    store_dir: str = typer.Option("/data", "--store-dir", help="JetStream store folder seen by the server."),
) -> None:
    """Generate nats-server accounts and one nkey per service from the data-sharing policy (for compose.yaml).

    Keys already in the folder are kept; the accounts follow the policy in force today, so run it again when
    the policy changes or one of its dated rules starts or ends."""
    console = make_console()
    config = natsauth.generate(out, listen=listen, monitor=monitor, store_dir=store_dir)
    console.print(f"wrote {config} and {out / 'keys'}/<service>{natsauth.KEY_SUFFIX} (mode 0600)")


@app.command("codegen")
def codegen_command(
    check: bool = typer.Option(False, "--check", help="Only tell whether the generated code is up to date."),
) -> None:
    """Generate lienthong_contracts/ from proto/ (needs grpcio-tools, in the dev extra)."""
    from lienthong import codegen

    console = make_console()
    if check:
        message = codegen.problem()
        if message:
            console.print(f"[bold red]{message}[/]", highlight=False)
            raise typer.Exit(1)
        console.print("generated code is up to date")
        return
    try:
        out = codegen.generate()
    except ModuleNotFoundError as error:
        raise _fail(console, f"{error}: install the dev extra (pip install -e '.[dev]')") from None
    console.print(f"generated {out}")


if __name__ == "__main__":
    app()
