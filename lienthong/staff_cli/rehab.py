"""``lienthong rehab …``: facilities admit people of each kind, discharge them, and read an admission."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer

from lienthong.staff_cli._common import (
    SEX_PB,
    BornOpt,
    CitizenOpt,
    CommuneOpt,
    JsonOpt,
    Lang,
    LangOpt,
    NameOpt,
    OfficerOpt,
    PurposeOpt,
    SexOpt,
    call,
    day,
    default_target,
    iso,
    target_option,
)
from lienthong_contracts.rehab.v1 import rehab_pb2 as pb

app = typer.Typer(help="Rehab: admissions and discharges.", no_args_is_help=True)
Target = Annotated[str, target_option("rehab")]
TARGET = default_target("rehab")
AdmissionOpt = Annotated[str, typer.Option("--admission", help="Admission id.")]


class Kind(StrEnum):
    compulsory = "compulsory"
    voluntary_facility = "voluntary_facility"
    voluntary_family = "voluntary_family"
    voluntary_community = "voluntary_community"


class Reason(StrEnum):
    completed = "completed"
    term_reduced = "term_reduced"
    transferred = "transferred"
    absconded = "absconded"
    self_terminated = "self_terminated"
    violation = "violation"
    to_prison = "to_prison"
    died = "died"
    other = "other"


@app.command("admit")
def admit(
    kind: Annotated[Kind, typer.Option("--kind")],
    citizen_id: CitizenOpt,
    name: NameOpt,
    born: BornOpt,
    sex: SexOpt,
    commune: CommuneOpt,
    on: Annotated[datetime, day("--on", help="Day of admission.")],
    term_months: Annotated[int, typer.Option("--term-months", min=1, help="Term in months.")],
    facility: Annotated[
        str, typer.Option("--facility", help="Facility code (compulsory and voluntary_facility only).")
    ] = "",
    temporary_stay_days: Annotated[
        int, typer.Option("--temporary-stay-days", min=0, help="Compulsory only: days already held.")
    ] = 0,
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Admit a person who comes in (Admit)."""
    person = pb.PersonDetails(
        citizen_id=citizen_id, full_name=name, date_of_birth=iso(born), sex=SEX_PB[sex], commune_code=commune
    )
    request = pb.AdmitRequest(
        person=person,
        kind=kind.value,
        facility_code=facility,
        admitted_on=iso(on),
        term_months=term_months,
        temporary_stay_days=temporary_stay_days,
    )
    call(
        "rehab",
        "Admit",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda r: (
            f"admitted: admission {r.admission_id} (pseudonym {r.pseudonym}), "
            f"planned end {r.planned_end}, {r.law_version}, agency {r.agency}"
        ),
    )


class Stage(StrEnum):
    detox_treatment = "detox_treatment"
    education_counselling = "education_counselling"
    labour_vocational = "labour_vocational"
    reintegration_preparation = "reintegration_preparation"


@app.command("stage")
def stage(
    admission: AdmissionOpt,
    to: Annotated[Stage, typer.Option("--to", help="The next stage (one step forward).")],
    on: Annotated[datetime, day("--on", help="Day the stage starts.")],
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Move an admission to its next stage (AdvanceStage)."""
    request = pb.AdvanceStageRequest(admission_id=admission, to_stage=to.value, on=iso(on))
    call(
        "rehab",
        "AdvanceStage",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda r: f"admission {admission} now in stage {r.stage}",
    )


@app.command("discharge")
def discharge(
    admission: AdmissionOpt,
    on: Annotated[datetime, day("--on", help="Day of discharge.")],
    reason: Annotated[Reason, typer.Option("--reason")],
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Discharge a person (Discharge); a completed programme opens an aftercare case by itself."""
    request = pb.DischargeRequest(admission_id=admission, discharged_on=iso(on), reason=reason.value)
    call(
        "rehab",
        "Discharge",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda r: (
            f"admission {admission} discharged on {iso(on)}"
            + (" (programme completed: aftercare case opens)" if r.completed else "")
        ),
    )


@app.command("show")
def show(
    admission: AdmissionOpt,
    officer: OfficerOpt,
    purpose: PurposeOpt,
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
) -> None:
    """Print an admission as JSON (GetAdmission; the read is recorded with officer and purpose)."""
    call(
        "rehab",
        "GetAdmission",
        pb.GetAdmissionRequest(admission_id=admission),
        target=target,
        lang=lang,
        officer=officer,
        purpose=purpose,
    )
