"""``lienthong bench``: the command. Light to import; the benchmark itself loads only when it runs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def bench(
    quick: bool = typer.Option(False, "--quick", help="About a minute: every figure, small and short."),
    rounds: int = typer.Option(
        0, "--rounds", help="Rounds of the interleaved figures (default: 3 quick, 5 full)."
    ),
    scale: float = typer.Option(
        0.0, "--scale", help="Share of national scale for the report figures (default: 0.1 quick, 1.0 full)."
    ),
    rebuild_curve: str = typer.Option(
        None,
        "--rebuild-curve",
        help="Shares of national scale to replay for the rebuild scale curve, e.g. 0.1,0.3 (default: full run 0.1,0.3; none quick).",
    ),
    postgres: str = typer.Option(
        "", "--postgres", help="Also measure PostgreSQL one-row commits on this DSN."
    ),
    out: Path = typer.Option(RESULTS, "--out", help="Folder for latest.json, latest.md and the profile."),
    docs: bool = typer.Option(
        None, "--docs/--no-docs", help="Rewrite the table in docs/performance.md (default: full runs only)."
    ),
    profile: bool = typer.Option(
        True, "--profile/--no-profile", help="Save a pyinstrument profile of the slowest report."
    ),
    smoke: bool = typer.Option(False, "--smoke", hidden=True, help="Tiny sizes: the plumbing only (tests)."),
) -> None:
    """Benchmarks: raw limits of this machine and the project's figures, side by side, in one run."""
    from bench import modes, output, runner
    from lienthong.cli import make_console

    console = make_console()
    mode = "smoke" if smoke else "quick" if quick else "full"
    curve = None if rebuild_curve is None else tuple(float(x) for x in rebuild_curve.split(",") if x.strip())
    sizes = modes.pick(mode, rounds=rounds or None, scale=scale or None, rebuild_curve=curve)
    out.mkdir(parents=True, exist_ok=True)
    run = asyncio.run(
        runner.run_bench(
            sizes,
            out_dir=out,
            postgres=postgres or None,
            say=lambda message: console.print(f"[dim]{message}[/]"),
            profile=profile,
        )
    )
    output.print_run(run, console)
    paths = output.write(run, out)
    console.print(
        f"Written: {paths['json']}, {paths['md']}" + "".join(f", {p}" for p in run.artefacts.values())
    )
    if docs if docs is not None else mode == "full":
        update_docs(output.markdown(run))
        console.print(f"Updated: {DOCS}")


def update_docs(table: str, path: Path = DOCS) -> None:
    """Replace the generated block of docs/performance.md, keeping the written analysis around it."""
    text = path.read_text() if path.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    block = f"{BEGIN}\n{table}{END}"
    path.write_text(re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: block, text, flags=re.S))


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
