"""What every staff command shares: the connection options, and the one helper that makes the call,
turns a refusal or an unreachable service into a clear message and an exit code, and prints the answer."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import grpc
import typer
from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console
from rich.markup import escape

from lienthong_contracts.aftercare.v1 import aftercare_pb2_grpc
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.health.v1 import health_pb2_grpc
from lienthong_contracts.registry.v1 import registry_pb2_grpc
from lienthong_contracts.rehab.v1 import rehab_pb2_grpc
from lienthong_contracts.reporting.v1 import reporting_pb2_grpc

# service name → (default port, stub class)
SERVICES: dict[str, tuple[int, type]] = {
    "registry": (50051, registry_pb2_grpc.RegistryServiceStub),
    "health": (50052, health_pb2_grpc.HealthServiceStub),
    "rehab": (50053, rehab_pb2_grpc.RehabServiceStub),
    "aftercare": (50054, aftercare_pb2_grpc.AftercareServiceStub),
    "reporting": (50055, reporting_pb2_grpc.ReportingServiceStub),
}
TIMEOUT_SECONDS = 15.0
EXIT_REFUSED, EXIT_UNREACHABLE = 1, 2


class Lang(StrEnum):
    vi = "vi"
    en = "en"


class Sex(StrEnum):
    male = "male"
    female = "female"


SEX_PB = {Sex.male: common_pb2.SEX_MALE, Sex.female: common_pb2.SEX_FEMALE}


def default_target(service: str) -> str:
    return f"127.0.0.1:{SERVICES[service][0]}"


def target_help(service: str) -> str:
    return f"{service} gRPC address host:port (env LIENTHONG_{service.upper()}_TARGET)."


def target_option(service: str) -> Any:
    return typer.Option(
        "--target", envvar=f"LIENTHONG_{service.upper()}_TARGET", help=target_help(service), show_envvar=False
    )


def day(*names: str, help: str) -> Any:
    """A date option: typer refuses anything but YYYY-MM-DD before any call."""
    return typer.Option(*names, formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help=help)


def iso(value: datetime | None) -> str:
    return value.date().isoformat() if value else ""


def _ascii_metadata(value: str | None) -> str | None:
    # Ordinary gRPC metadata is ASCII only: refuse other text here instead of failing inside grpc.
    if value is not None and not re.fullmatch(r"[ -~]+", value):
        raise typer.BadParameter("ASCII letters only (gRPC metadata), e.g. 'ho so 12/2025'")
    return value


LangOpt = Annotated[Lang, typer.Option("--lang", help="Language of the server's messages (accept-language).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the response as JSON.")]
OfficerOpt = Annotated[
    str, typer.Option("--officer", callback=_ascii_metadata, help="Your officer id (recorded with the read).")
]
PurposeOpt = Annotated[
    str, typer.Option("--purpose", callback=_ascii_metadata, help="Why you read this record (recorded).")
]
CommuneOpt = Annotated[str, typer.Option("--commune", help="Official 5-digit commune code, e.g. 00070.")]
# Who the person is (registry registration, rehab admission, methadone enrolment).
CitizenOpt = Annotated[str, typer.Option("--citizen-id", help="12-digit citizen ID (CCCD).")]
NameOpt = Annotated[str, typer.Option("--name", help="Full name.")]
BornOpt = Annotated[datetime, day("--born", help="Date of birth.")]
SexOpt = Annotated[Sex, typer.Option("--sex")]


def _stderr() -> Console:
    return Console(
        stderr=True, width=200 if not sys.stderr.isatty() and "COLUMNS" not in os.environ else None
    )


def _stdout() -> Console:
    return Console(width=200 if not sys.stdout.isatty() and "COLUMNS" not in os.environ else None)


def as_json(response: Message) -> str:
    return json_format.MessageToJson(
        response,
        preserving_proto_field_name=True,
        ensure_ascii=False,
        always_print_fields_with_no_presence=True,
    )


def _refusal(error: grpc.RpcError, lang: Lang) -> str:
    trailing = dict(error.trailing_metadata() or ())
    message = error.details() or ""
    if lang is Lang.vi and isinstance(trailing.get("message-vi-bin"), bytes):
        message = trailing["message-vi-bin"].decode("utf-8", "replace")
    code = trailing.get("error-code") or error.code().name
    return f"[bold red]refused[/] ({escape(code)}): {escape(message)}"


def call(
    service: str,
    method: str,
    request: Message,
    *,
    target: str,
    lang: Lang,
    json_out: bool = False,
    officer: str | None = None,
    purpose: str | None = None,
    show: Callable[[Any], Any] | None = None,
    quiet: bool = False,
) -> Any:
    """Call ``service.method`` at ``target``; on success print ``show(response)`` (or JSON), on a refusal
    print the server's message in ``lang`` and its error code (exit 1), when unreachable a hint (exit 2)."""
    metadata = [("accept-language", lang.value)]
    if officer is not None:
        metadata += [("x-officer-id", officer), ("x-purpose", purpose or "")]
    try:
        with grpc.insecure_channel(target) as channel:
            stub = SERVICES[service][1](channel)
            response = getattr(stub, method)(request, metadata=metadata, timeout=TIMEOUT_SECONDS)
    except grpc.RpcError as error:
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            hint = f"cannot reach {service} at {target}: is it running? (`lienthong up`)"
            _stderr().print(f"[bold red]error:[/] {escape(hint)}", highlight=False)
            raise typer.Exit(EXIT_UNREACHABLE) from None
        _stderr().print(_refusal(error, lang), highlight=False)
        raise typer.Exit(EXIT_REFUSED) from None
    if quiet:
        return response
    if json_out or show is None:
        typer.echo(as_json(response))
    else:
        shown = show(response)
        if isinstance(shown, str):
            _stdout().print(f"[green]✓[/] {escape(shown)}", highlight=False)
        else:  # a table or other rich renderable
            _stdout().print(shown)
    return response
