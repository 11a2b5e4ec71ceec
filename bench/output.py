"""The run as a rich table on the terminal, as JSON and as Markdown."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.figures import Run


def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit in ("ms",) and value < 100:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def _status(row: dict) -> str:
    if row["met"] is None:
        return "–" if row["goal"] is None else "not measured"
    return "met" if row["met"] else "NOT met"


def _measured(row: dict) -> str:
    if row["value"] is None:
        return "–"
    stat = "" if row["stat"] == "median" else f"{row['stat']} "
    return f"{stat}{_number(row['value'], row['unit'])} {row['unit']}"


def _range(row: dict) -> str:
    return f"{_number(row['min'], row['unit'])}–{_number(row['max'], row['unit'])}"


def _count(row: dict) -> str:
    return str(row["rounds"]) if row["stat"] == "median" else f"{row['rounds']} calls"


def _ratio(row: dict) -> str:
    return "–" if row["ratio"] is None else f"{row['ratio']:.2f}"


def table(run: Run) -> Table:
    grid = Table(title=f"lienthong bench ({run.mode})", show_lines=False)
    for name in ("figure", "measured", "min–max", "rounds", "ratio", "goal", "status"):
        grid.add_column(name, overflow="fold")
    for row in run.rows():
        style = {"baseline": "cyan", "info": "dim"}.get(row["kind"], "")
        status = _status(row)
        status_style = "green" if status == "met" else "red" if status == "NOT met" else ""
        grid.add_row(
            f"[{style}]{row['label']}[/]" if style else row["label"],
            _measured(row),
            _range(row),
            _count(row),
            _ratio(row) + (f" of {row['baseline']}" if row["ratio"] is not None else ""),
            row["goal"] or "",
            f"[{status_style}]{status}[/]" if status_style else status,
        )
    return grid


def print_run(run: Run, console: Console) -> None:
    console.print(table(run))
    for note in run.notes:
        console.print(f"• {note}")
    if run.scale_curve:
        console.print("Scale curve (national generator, report times):")
        for p in run.scale_curve:
            console.print(
                f"  {p['scale'] * 100:g} %: {p['people']:,} people, {p['steps']:,} steps; province-year p95 "
                f"{p['report_province_year_p95_ms']:,.0f} ms, communes p95 {p['report_communes_p95_ms']:,.0f} ms"
            )
    for p in run.rebuild_curve:
        console.print(
            f"  rebuild at {p['scale'] * 100:g} %: {p['replay_events']:,} events, {p['rebuild_events_per_s']:,}/s, "
            f"{p['rebuild_ratio']:.2f} of raw pull ({p['raw_pull_per_s']:,}/s)"
        )


def as_json(run: Run) -> dict:
    return {
        "mode": run.mode,
        "machine": run.machine,
        "settings": run.settings,
        "figures": run.rows(),
        "scale_curve": run.scale_curve,
        "rebuild_curve": run.rebuild_curve,
        "notes": run.notes,
        "artefacts": run.artefacts,
    }


def markdown(run: Run) -> str:
    lines: list[str] = []
    m = run.machine
    lines += [
        f"Run: **{run.mode}**, {m.get('started_at', '')}, {m.get('duration_seconds', '?')} s. Machine: {m.get('cpus')} × "
        f"{m.get('cpu')} @ {m.get('cpu_mhz')} MHz, {m.get('memory')} RAM, Linux {m.get('kernel')}, Python "
        f"{m.get('python')}, {m.get('nats_server')}. Load average at start "
        f"{', '.join(f'{x:.2f}' for x in m.get('load_average_start', ()))}, at end "
        f"{', '.join(f'{x:.2f}' for x in m.get('load_average_end', ()))}.",
        "",
        "| figure | measured | min–max | rounds | ratio | goal | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in run.rows():
        label = row["label"] if row["kind"] != "baseline" else f"*raw:* {row['label']}"
        ratio = _ratio(row) + (f" of `{row['baseline']}`" if row["ratio"] is not None else "")
        lines.append(
            f"| {label} | {_measured(row)} | {_range(row)} | {_count(row)} | {ratio} | {row['goal'] or ''} | {_status(row)} |"
        )
    if run.scale_curve:
        lines += [
            "",
            "Scale curve (national generator; Hà Nội, 2025):",
            "",
            "| scale | people | steps | bulk write s | province-year p95 ms | communes p95 ms |",
            "|---|---|---|---|---|---|",
        ]
        for p in run.scale_curve:
            lines.append(
                f"| {p['scale'] * 100:g} % | {p['people']:,} | {p['steps']:,} | {p['write_seconds']} | "
                f"{p['report_province_year_p95_ms']:,.0f} | {p['report_communes_p95_ms']:,.0f} |"
            )
    if run.rebuild_curve:
        lines += [
            "",
            "Rebuild scale curve (the national generator's events replayed, one round each):",
            "",
            "| scale | events | raw pull msgs/s | rebuild events/s | ratio | reporting peak MB |",
            "|---|---|---|---|---|---|",
        ]
        for p in run.rebuild_curve:
            lines.append(
                f"| {p['scale'] * 100:g} % | {p['replay_events']:,} | {p['raw_pull_per_s']:,} | "
                f"{p['rebuild_events_per_s']:,} | {p['rebuild_ratio']:.2f} | {p['rebuild_rss_mb']} |"
            )
    if run.notes:
        lines += ["", *[f"- {note}" for note in run.notes]]
    return "\n".join(lines) + "\n"


def write(run: Run, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "latest.json", "md": out_dir / "latest.md"}
    paths["json"].write_text(json.dumps(as_json(run), indent=2, ensure_ascii=False) + "\n")
    paths["md"].write_text(markdown(run))
    return paths
