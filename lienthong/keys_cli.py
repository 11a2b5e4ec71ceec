"""``lienthong keys …``: rotate a department database's field keys while the service runs, and show them.

The commands work on the department's database directly (an operator's tool), with the master key from
``LIENTHONG_MASTER_KEY`` (the demo key when unset, as the services use): it must be the key the service
runs with, or nothing is changed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lienthong import keyrotation
from lienthong.audit_cli import DatabaseUrl, DataDir, Service, department_url
from lienthong.db import create_engine
from lienthong.fieldcrypto import KeyRingError, MasterKey
from lienthong.settings import FieldCryptoSettings

app = typer.Typer(
    help="Keys of the personal fields encrypted at rest: rotate them, see what each still encrypts.",
    no_args_is_help=True,
)


def _master() -> MasterKey:
    return MasterKey(FieldCryptoSettings().master_key_bytes())


@app.command("rotate")
def rotate(
    service: Service = "registry",
    data_dir: DataDir = Path(".lienthong") / "local",
    database_url: DatabaseUrl = "",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=10_000, help="Rows re-encrypted per transaction.")
    ] = 200,
) -> None:
    """New field key for new writes; re-encrypt older values in batches while the service runs.

    Exit status 1 if some value does not decrypt where it is (moved or changed): it is named."""
    url = department_url(service, data_dir, database_url)
    console = Console(width=120)

    shown: dict[tuple[str, int], int] = {}

    def progress(p: keyrotation.Progress) -> None:
        # One line per tenth of a table (and at its end), not per batch: a big table stays readable.
        step = 10 * p.done // max(p.total, 1)
        if shown.get((p.table, p.sweep)) == step and p.done < p.total:
            return
        shown[(p.table, p.sweep)] = step
        sweep = f" (pass {p.sweep})" if p.sweep > 1 else ""
        console.print(f"  {p.table}: {p.done}/{p.total} rows re-encrypted{sweep}")

    async def run() -> keyrotation.Rotation:
        engine = create_engine(url)
        try:
            return await keyrotation.rotate(engine, _master(), batch_size=batch_size, on_progress=progress)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except KeyRingError as error:
        console.print(f"[bold red]cannot rotate:[/] {error}")
        raise typer.Exit(1) from None
    console.print(f"[green]✓[/] {report.total} rows re-encrypted in {report.sweeps} pass(es)")
    console.print(f"new values are written with key v{report.version}")
    if report.undecryptable:
        for where in report.undecryptable:
            console.print(f"[bold red]does not decrypt[/] (moved or changed): {where}")
        console.print(f"{report.remaining} rows still need an older key")
        raise typer.Exit(1)
    console.print(f"no value needs a key older than v{report.version}")


@app.command("status")
def status(
    service: Service = "registry",
    data_dir: DataDir = Path(".lienthong") / "local",
    database_url: DatabaseUrl = "",
) -> None:
    """The data keys stored (wrapped) and how many values each field key version encrypts."""
    url = department_url(service, data_dir, database_url)

    async def run() -> keyrotation.KeyStatus:
        engine = create_engine(url)
        try:
            return await keyrotation.status(engine)
        finally:
            await engine.dispose()

    found = asyncio.run(run())
    console = Console(width=160)
    keys = Table(title=f"data keys (the configured master key is {_master().key_id})")
    for header in ("purpose", "version", "created (UTC)", "wrapped by master key"):
        keys.add_column(header)
    for k in found.keys:
        keys.add_row(k.purpose, str(k.version), f"{k.created_at:%Y-%m-%d %H:%M:%S}", k.master_key_id)
    console.print(keys)
    versions = sorted({k.version for k in found.keys if k.purpose == "field"})
    values = Table(title="encrypted values by field key version")
    values.add_column("table.column")
    for v in versions:
        values.add_column(f"v{v}", justify="right")
    values.add_column("no known key", justify="right")
    for column, counts in found.values.items():
        values.add_row(column, *(str(counts.get(v, 0)) for v in versions), str(counts.get(None, 0)))
    console.print(values)
