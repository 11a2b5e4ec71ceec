"""``lienthong report rebuild``: the operator's command that drops reporting's read model and replays it.

Exit status as for the staff commands: 0 done; 1 refused (by the service, with its message and error code,
or by the operator at the confirmation); 2 the service cannot be reached.
"""

from __future__ import annotations

import time
from typing import Annotated

import grpc
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from lienthong.staff_cli._common import (
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    Lang,
    LangOpt,
    _refusal,
    _stderr,
    _stdout,
)
from lienthong_contracts.reporting.v1 import reporting_pb2, reporting_pb2_grpc

TARGET = "127.0.0.1:50055"
Target = Annotated[
    str,
    typer.Option(
        "--target",
        envvar="LIENTHONG_REPORTING_TARGET",
        show_envvar=False,
        help="reporting gRPC address host:port (env LIENTHONG_REPORTING_TARGET).",
    ),
]


def _unreachable(target: str) -> typer.Exit:
    hint = f"cannot reach reporting at {target}: is it running? (`lienthong up`)"
    _stderr().print(f"[bold red]error:[/] {escape(hint)}", highlight=False)
    return typer.Exit(EXIT_UNREACHABLE)


def rebuild(
    target: Target = TARGET,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask: the read model is dropped and rebuilt.")
    ] = False,
    lang: LangOpt = Lang.vi,
) -> None:
    """Drop the read model and rebuild it from the department streams, with a progress bar per stream.

    Calls reporting's Rebuild and asks first unless --yes is given. Dead letters are not read again. If this
    command is interrupted, the rebuild goes on in reporting."""
    if not yes and not typer.confirm(
        f"Drop the read model of reporting at {target} and replay every stream? "
        "(Xoá dữ liệu báo cáo rồi đọc lại toàn bộ sự kiện?)",
        default=False,
    ):
        _stderr().print(
            "[bold red]not rebuilt[/]: not confirmed (use --yes to skip the question)", highlight=False
        )
        raise typer.Exit(EXIT_REFUSED)
    out = _stdout()
    started, received, final = time.perf_counter(), False, None
    with grpc.insecure_channel(target) as channel:
        stub = reporting_pb2_grpc.ReportingServiceStub(channel)
        columns = (
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        bars: dict[str, TaskID] = {}
        try:
            with Progress(*columns, console=out) as progress:
                request = reporting_pb2.RebuildRequest(confirm=True)
                for message in stub.Rebuild(request, metadata=[("accept-language", lang.value)]):
                    received = True
                    if message.done:
                        final = message
                        break
                    if message.stream not in bars:
                        bars[message.stream] = progress.add_task(message.stream, total=message.total or 1)
                    progress.update(
                        bars[message.stream],
                        completed=message.applied if message.total else 1,
                        total=message.total or 1,
                    )
        except grpc.RpcError as error:
            if error.code() is grpc.StatusCode.UNAVAILABLE and not received:
                raise _unreachable(target) from None
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                _stderr().print(
                    f"[bold red]error:[/] lost the connection to reporting at {escape(target)}; the rebuild goes "
                    "on there (or finishes when reporting starts again)",
                    highlight=False,
                )
                raise typer.Exit(EXIT_UNREACHABLE) from None
            _stderr().print(_refusal(error, lang), highlight=False)
            raise typer.Exit(EXIT_REFUSED) from None
        except KeyboardInterrupt:
            _stderr().print("interrupted: the rebuild goes on in reporting (GetIngestStatus shows how far)")
            raise typer.Exit(130) from None
    if final is None:
        _stderr().print("[bold red]error:[/] reporting ended the rebuild without saying it was done")
        raise typer.Exit(EXIT_REFUSED)
    seconds = time.perf_counter() - started
    out.print(
        f"[green]✓[/] read model rebuilt: {final.applied} of {final.total} messages replayed in {seconds:.1f}s",
        highlight=False,
    )
