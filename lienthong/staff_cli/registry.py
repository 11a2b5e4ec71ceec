"""``lienthong registry …``: commune police register people, record positive tests, decide and end
management, and read a person's record."""

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
from lienthong_contracts.registry.v1 import registry_pb2 as pb

app = typer.Typer(help="Registry (police): people, drug tests, management decisions.", no_args_is_help=True)
Target = Annotated[str, target_option("registry")]
TARGET = default_target("registry")
PersonOpt = Annotated[str, typer.Option("--person", help="Person id given at registration.")]


class EndReason(StrEnum):
    addicted = "addicted"
    commune_education = "commune_education"
    reform_school = "reform_school"
    compulsory_education = "compulsory_education"
    imprisoned = "imprisoned"
    died = "died"
    missing = "missing"


@app.command("register")
def register(
    citizen_id: CitizenOpt,
    name: NameOpt,
    born: BornOpt,
    sex: SexOpt,
    commune: CommuneOpt,
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Register a person (RegisterPerson)."""
    request = pb.RegisterPersonRequest(
        citizen_id=citizen_id, full_name=name, date_of_birth=iso(born), sex=SEX_PB[sex], commune_code=commune
    )
    call(
        "registry",
        "RegisterPerson",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda r: f"registered: person {r.person_id} (pseudonym {r.pseudonym})",
    )


@app.command("test")
def test(
    person: PersonOpt,
    on: Annotated[datetime, day("--on", help="Day of the test.")],
    substance: Annotated[str, typer.Option("--substance", help="e.g. heroin, methamphetamine.")],
    place: Annotated[str, typer.Option("--place", help="Where (kept in the registry only).")] = "",
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Record a positive drug test (RecordPositiveDrugTest)."""
    request = pb.RecordPositiveDrugTestRequest(
        person_id=person, tested_on=iso(on), substance=substance, place=place
    )
    call(
        "registry",
        "RecordPositiveDrugTest",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda r: (
            f"test recorded: {r.test_id}" + (" (during management)" if r.during_management else "")
        ),
    )


@app.command("decide")
def decide(
    person: PersonOpt,
    number: Annotated[str, typer.Option("--number", help="Decision number, e.g. 12/QĐ-UBND.")],
    on: Annotated[datetime, day("--on", help="Day of the decision.")],
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Issue a management decision (IssueManagementDecision)."""
    request = pb.IssueManagementDecisionRequest(person_id=person, decision_number=number, decided_on=iso(on))
    call(
        "registry",
        "IssueManagementDecision",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda r: f"management {r.management_id} open until {r.expires_on}",
    )


@app.command("end")
def end(
    management: Annotated[str, typer.Option("--management", help="Management id.")],
    on: Annotated[datetime, day("--on", help="Day it ends.")],
    reason: Annotated[EndReason, typer.Option("--reason")],
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """End a management term early (EndManagement)."""
    request = pb.EndManagementRequest(management_id=management, ended_on=iso(on), reason=reason.value)
    call(
        "registry",
        "EndManagement",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda _: f"management {management} ended on {iso(on)} ({reason.value})",
    )


@app.command("show")
def show(
    person: PersonOpt,
    officer: OfficerOpt,
    purpose: PurposeOpt,
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
) -> None:
    """Print a person's record as JSON (GetPerson; the read is recorded with officer and purpose)."""
    call(
        "registry",
        "GetPerson",
        pb.GetPersonRequest(person_id=person),
        target=target,
        lang=lang,
        officer=officer,
        purpose=purpose,
    )
