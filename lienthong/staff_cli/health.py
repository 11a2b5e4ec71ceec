"""``lienthong health …``: methadone clinics enrol people and end their treatment."""

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
    SexOpt,
    call,
    day,
    default_target,
    iso,
    target_option,
)
from lienthong_contracts.health.v1 import health_pb2 as pb

app = typer.Typer(help="Health: methadone treatment.", no_args_is_help=True)
Target = Annotated[str, target_option("health")]
TARGET = default_target("health")


class EndReason(StrEnum):
    completed = "completed"
    voluntary_stop = "voluntary_stop"
    terminated_violation = "terminated_violation"
    transferred = "transferred"
    died = "died"


@app.command("enrol")
def enrol(
    citizen_id: CitizenOpt,
    name: NameOpt,
    born: BornOpt,
    sex: SexOpt,
    commune: CommuneOpt,
    on: Annotated[datetime, day("--on", help="Day of enrolment.")],
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """Enrol a person in methadone treatment (EnrolMethadone)."""
    person = pb.PersonDetails(
        citizen_id=citizen_id, full_name=name, date_of_birth=iso(born), sex=SEX_PB[sex], commune_code=commune
    )
    request = pb.EnrolMethadoneRequest(person=person, enrolled_on=iso(on))
    call(
        "health",
        "EnrolMethadone",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda r: f"enrolled: episode {r.episode_id} (pseudonym {r.pseudonym}, {r.law_version})",
    )


@app.command("end")
def end(
    episode: Annotated[str, typer.Option("--episode", help="Methadone episode id.")],
    on: Annotated[datetime, day("--on", help="Day treatment ended.")],
    reason: Annotated[EndReason, typer.Option("--reason")],
    target: Target = TARGET,
    lang: LangOpt = Lang.vi,
    json_out: JsonOpt = False,
) -> None:
    """End a methadone episode (EndMethadone); a completed one opens an aftercare case by itself."""
    request = pb.EndMethadoneRequest(episode_id=episode, ended_on=iso(on), reason=reason.value)
    call(
        "health",
        "EndMethadone",
        request,
        target=target,
        lang=lang,
        json_out=json_out,
        show=lambda _: f"episode {episode} ended on {iso(on)} ({reason.value})",
    )
