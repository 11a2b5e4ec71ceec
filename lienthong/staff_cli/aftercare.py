"""``lienthong aftercare …``: cases open by themselves on completion events; the commune lists those
pending placement, records its placement decision and the support given, and reads a case."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import typer

from lienthong.staff_cli._common import (
    JsonOpt,
    Lang,
    LangOpt,
    OfficerOpt,
    PurposeOpt,
    call,
    day,
    default_target,
    iso,
    target_option,
)
from lienthong_contracts.aftercare.v1 import aftercare_pb2 as pb

app = typer.Typer(help="Aftercare: placement and support of cases.", no_args_is_help=True)
Target = Annotated[str, target_option("aftercare")]
TARGET = default_target("aftercare")
CaseOpt = Annotated[str, typer.Option("--case", help="Case id.")]


class Caretaker(StrEnum):
    person = "person"
    organisation = "organisation"


class Support(StrEnum):
    schooling = "schooling"
    vocational_training = "vocational_training"
    loan = "loan"
    job_placement = "job_placement"
    counselling = "counselling"
    medical_psychological = "medical_psychological"


def _pending_lines(response: pb.ListPendingPlacementsResponse) -> str:
    if not response.cases:
        return "no case pending placement"
    lines = [f"{len(response.cases)} case(s) pending placement:"]
    for c in response.cases:
        alert = "  ALERT: waiting too long" if c.alert else ""
        lines.append(
            f"  {c.case_id}  commune {c.commune_code}  completed {c.completed_on}  "
            f"{c.days_waiting} days waiting{alert}"
        )
    return "\n".join(lines)


@app.command("pending")
def pending(
    commune: Annotated[str, typer.Option("--commune", help="5-digit commune code; omit for all.")] = "",
    as_of: Annotated[datetime | None, day("--as-of", help="Count waiting days to (default today).")] = None,
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """List cases pending the commune's placement decision, with the alert flag (ListPendingPlacements)."""
    request = pb.ListPendingPlacementsRequest(
        as_of=iso(as_of) or date.today().isoformat(), commune_code=commune
    )
    call(
        "aftercare",
        "ListPendingPlacements",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=_pending_lines,
    )


@app.command("place")
def place(
    case: CaseOpt,
    on: Annotated[datetime, day("--on", help="Day of the commune chairman's decision.")],
    number: Annotated[str, typer.Option("--number", help="Decision number, e.g. 15/QĐ-UBND.")],
    caretaker_kind: Annotated[Caretaker, typer.Option("--caretaker-kind")],
    caretaker_name: Annotated[str, typer.Option("--caretaker-name", help="Who takes care of the person.")],
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Record the commune's placement decision for a pending case (PlaceCase)."""
    request = pb.PlaceCaseRequest(
        case_id=case,
        decided_on=iso(on),
        decision_number=number,
        caretaker_kind=caretaker_kind.value,
        caretaker_name=caretaker_name,
    )
    call(
        "aftercare",
        "PlaceCase",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda r: f"case {case} placed: {r.term_months} months, until {r.ends_on} ({r.law_version})",
    )


@app.command("support")
def support(
    case: CaseOpt,
    on: Annotated[datetime, day("--on", help="Day the support was given.")],
    kind: Annotated[Support, typer.Option("--kind")],
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Record support given to a placed case (RecordSupport)."""
    request = pb.RecordSupportRequest(case_id=case, given_on=iso(on), kind=kind.value)
    call(
        "aftercare",
        "RecordSupport",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda _: f"support recorded for case {case}: {kind.value} on {iso(on)}",
    )


@app.command("show")
def show(
    case: CaseOpt,
    officer: OfficerOpt,
    purpose: PurposeOpt,
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
) -> None:
    """Print a case as JSON (GetCase; the read is recorded with officer and purpose)."""
    call(
        "aftercare",
        "GetCase",
        pb.GetCaseRequest(case_id=case),
        target=target,
        lang=lang,
        officer=officer,
        purpose=purpose,
    )
