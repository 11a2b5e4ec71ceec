"""``lienthong audit …``: check a department's audit chain and answer the first questions after a breach.

The commands read the department's database directly (an operator's tool, read-only), with the audit key
from ``LIENTHONG_AUDIT_KEY`` (the demo key when unset, as the services use).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lienthong import audit
from lienthong.db import create_engine, session_factory
from lienthong.settings import AuditSettings

app = typer.Typer(
    help="Audit log of personal-data reads: verify the chain, ask who saw what.", no_args_is_help=True
)
DEPARTMENTS = ("registry", "health", "rehab", "aftercare")

Service = Annotated[str, typer.Option("--service", help=f"One of {', '.join(DEPARTMENTS)}.")]
DataDir = Annotated[Path, typer.Option("--data-dir", help="The local run's data folder (its SQLite files).")]
DatabaseUrl = Annotated[
    str, typer.Option("--database-url", help="The department database (overrides --service/--data-dir).")
]


def department_url(service: str, data_dir: Path, database_url: str) -> str:
    """The department database the operator means: ``--database-url``, or the SQLite file of the local run."""
    if database_url:
        return database_url
    if service not in DEPARTMENTS:
        raise typer.BadParameter(f"--service must be one of {', '.join(DEPARTMENTS)}")
    path = data_dir / f"{service}.db"
    if not path.exists():
        raise typer.BadParameter(f"no database at {path}: give --data-dir or --database-url")
    return f"sqlite:///{path}"


async def _records(url: str) -> list[audit.Record]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return await audit.all_records(session)
    finally:
        await engine.dispose()


@app.command("verify")
def verify(
    service: Service = "registry",
    data_dir: DataDir = Path(".lienthong") / "local",
    database_url: DatabaseUrl = "",
) -> None:
    """Check the chain: names the first edited, removed or reordered record (exit 1)."""
    records = asyncio.run(_records(department_url(service, data_dir, database_url)))
    verdict = audit.verify(records, AuditSettings().audit_key_bytes())
    console = Console()
    if verdict.ok:
        console.print(f"[green]✓[/] {verdict.records} records, chain intact; head {verdict.head[:16]}…")
        return
    console.print(
        f"[bold red]chain broken[/] at record {verdict.first_bad}: {escape(verdict.reason)} "
        f"({verdict.records} records stored; the chain holds up to the one before)"
    )
    raise typer.Exit(1)


def _day(value: datetime | None, *, end: bool = False) -> datetime | None:
    """The first moment of that day (UTC), or of the next one for an end, which the query excludes."""
    if value is None:
        return None
    start = datetime.combine(value.date(), time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


@app.command("query")
def query(
    person: Annotated[str, typer.Option("--person", help="The person's pseudonym: who saw their data.")] = "",
    officer: Annotated[str, typer.Option("--officer", help="An officer id: what they saw.")] = "",
    since: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="From this day.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="To this day, included.")
    ] = None,
    service: Service = "registry",
    data_dir: DataDir = Path(".lienthong") / "local",
    database_url: DatabaseUrl = "",
) -> None:
    """Who saw this person's data, or what this officer saw, between two days (UTC)."""
    if not person and not officer:
        raise typer.BadParameter("give --person PSEUDONYM or --officer ID")
    url = department_url(service, data_dir, database_url)

    async def run() -> list[audit.Record]:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session:
                return await audit.query(
                    session,
                    subject=person or None,
                    officer_id=officer or None,
                    since=_day(since),
                    until=_day(until, end=True),
                )
        finally:
            await engine.dispose()

    records = asyncio.run(run())
    table = Table(title=f"{len(records)} reads")
    for header in (
        "#",
        "when (UTC)",
        "officer",
        "department asking",
        "purpose",
        "person",
        "record",
        "fields",
    ):
        table.add_column(header)
    for r in records:
        table.add_row(
            str(r.seq),
            r.recorded_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            if r.recorded_at.tzinfo
            else str(r.recorded_at),
            r.read.officer_id,
            r.read.caller_department,
            r.read.purpose,
            r.read.subject,
            r.read.record_id,
            r.read.fields,
        )
    Console(width=220).print(table)
