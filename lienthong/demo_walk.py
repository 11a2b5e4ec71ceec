"""The department phase (planned in ``lienthong.demo_paths``) sent through the services' public gRPC APIs.

The facilities come first, then the communes' aftercare models; then each person's steps go in order,
``concurrency`` people at a time. A step
that waits for another department's event polls the owning service's work list until the record shows up;
after ``wait_timeout`` seconds that person's walk fails with a message naming the service and the stream
it should have consumed. A refused command stops that person's remaining steps and is counted, as in the
registry phase.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import grpc

from lienthong.demo import Registered, commune_name
from lienthong.demo_paths import (
    HEALTH_FACILITIES,
    PATHS,
    REHAB_FACILITIES,
    DepartmentPlan,
    ModelChange,
    PersonPath,
    Step,
)
from lienthong_contracts.aftercare.v1 import aftercare_pb2 as ac
from lienthong_contracts.aftercare.v1 import aftercare_pb2_grpc
from lienthong_contracts.events.v1 import common_pb2
from lienthong_contracts.health.v1 import health_pb2 as hp
from lienthong_contracts.health.v1 import health_pb2_grpc
from lienthong_contracts.registry.v1 import registry_pb2 as rg
from lienthong_contracts.registry.v1 import registry_pb2_grpc
from lienthong_contracts.rehab.v1 import rehab_pb2 as rh
from lienthong_contracts.rehab.v1 import rehab_pb2_grpc

_METADATA = (("accept-language", "en"), ("x-officer-id", "demo-walker"))
_SEX = {"male": common_pb2.SEX_MALE, "female": common_pb2.SEX_FEMALE}
# What each wait is for: the service whose work list shows it, and the stream that service consumes.
_WAITS = {
    "await_determination": ("health", "the determination request for the test", "REGISTRY"),
    "await_expected_admission": ("rehab", "the admission expected after the court decision", "REGISTRY"),
    "await_aftercare_case": ("aftercare", "the aftercare case opened by the completion", "REHAB and HEALTH"),
}


@dataclass
class WalkOutcome:
    by_service: Counter = field(default_factory=Counter)  # commands accepted per service
    awaited: int = 0  # other departments' events seen
    failed: int = 0  # people whose walk stopped early
    skipped: int = 0  # people the registry phase did not fully load
    registry_events: int = 0  # events the REGISTRY stream got from this phase
    errors: list[str] = field(default_factory=list)

    def record_error(self, message: str) -> None:
        self.failed += 1
        if len(self.errors) < 20:
            self.errors.append(message)


def summary(plan: DepartmentPlan, outcome: WalkOutcome) -> str:
    counts = plan.path_counts()
    paths = ", ".join(f"{counts[path]} {path}" for path in PATHS if counts[path])
    services = ("registry", "health", "rehab", "aftercare")
    accepted = ", ".join(f"{outcome.by_service[name]} {name}" for name in services)
    return (
        f"{len(plan.people)} people walked through the departments: {paths}\n"
        f"  {sum(outcome.by_service.values())} commands accepted ({accepted}), "
        f"{outcome.awaited} hand-overs by event seen; aftercare models in {len(plan.model_communes())} "
        "communes"
    )


class _Stopped(Exception):
    """This person's walk stops here: the reason is recorded."""


@dataclass
class _State:
    """What one person's walk has learnt from the services' answers."""

    walk: PersonPath
    ids: Registered
    determination_id: str = ""
    dossier_id: str = ""
    admission_id: str = ""
    episode_id: str = ""
    case_id: str = ""

    @property
    def who(self) -> str:
        """For messages: the person's place in the scenario and commune, never a name or citizen ID."""
        return f"person #{self.walk.index} ({commune_name(self.walk.person.commune_code)})"


def _error_code(error: grpc.aio.AioRpcError) -> str:
    return dict(error.trailing_metadata() or ()).get("error-code", "")


class _Walker:
    def __init__(
        self,
        channels: Mapping[str, grpc.aio.Channel],
        outcome: WalkOutcome,
        notify: Callable[[str, bool], None],
        *,
        call_timeout: float,
        wait_timeout: float,
    ) -> None:
        self.registry = registry_pb2_grpc.RegistryServiceStub(channels["registry"])
        self.health = health_pb2_grpc.HealthServiceStub(channels["health"])
        self.rehab = rehab_pb2_grpc.RehabServiceStub(channels["rehab"])
        self.aftercare = aftercare_pb2_grpc.AftercareServiceStub(channels["aftercare"])
        self.outcome = outcome
        self.notify = notify
        self.call_timeout = call_timeout
        self.wait_timeout = wait_timeout

    async def call(self, method, request):
        for attempt in range(3):
            try:
                response = await method(request, timeout=self.call_timeout, metadata=_METADATA)
            except grpc.aio.AioRpcError as error:
                # Another department's event (the registry ending a term on a conclusion of "addicted")
                # can change the same person at the same moment: the service asks to retry.
                if _error_code(error).endswith("concurrent_change") and attempt < 2:
                    await asyncio.sleep(0.1 * (attempt + 1))
                    continue
                raise
            return response
        raise AssertionError("unreachable")

    async def until(self, state: _State, step: Step, find: Callable[[], Awaitable[str | None]]) -> str:
        """Poll ``find`` (a work-list query) until it returns the id sought, backing off up to 1 s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_timeout
        delay = 0.05
        while (found := await find()) is None:
            if loop.time() >= deadline:
                service, what, stream = _WAITS[step.act]
                raise TimeoutError(
                    f"{state.who}: {what} ({step.on}) did not show up in {service} within "
                    f"{self.wait_timeout:.0f}s: is {service} consuming {stream}? See logs/{service}.log"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        self.outcome.awaited += 1
        return found

    async def facilities(self) -> None:
        for f in REHAB_FACILITIES:
            request = rh.RegisterFacilityRequest(
                facility_code=f.code,
                name=f.name,
                public=f.public,
                operator=f.operator,
                capacity=f.capacity,
                type=f.type,
                commune_code=f.commune_code,
            )
            await self._setup("rehab", self.rehab.RegisterFacility, request)
        for facility_id, name, _province in HEALTH_FACILITIES:
            request = hp.RegisterFacilityRequest(facility_id=facility_id, name=name, licensed=True)
            await self._setup("health", self.health.RegisterFacility, request)

    async def models(self, changes: list[ModelChange]) -> None:
        """Each commune's model changes in date order (a later one is judged against the earlier ones)."""
        for change in changes:
            request = ac.RecordModelRequest(
                commune_code=change.commune_code, on=change.on.isoformat(), status=change.status
            )
            await self._setup("aftercare", self.aftercare.RecordModel, request, act="record_model")

    async def _setup(self, service: str, method, request, *, act: str = "register_facility") -> None:
        try:
            await self.call(method, request)
        except grpc.aio.AioRpcError as error:
            what = "facility" if act == "register_facility" else act
            self.outcome.record_error(f"{service} {what} {request}: {error.code().name}: {error.details()}")
            self.notify(act, False)
            return
        self.outcome.by_service[service] += 1
        self.notify(act, True)

    async def walk_person(self, state: _State) -> None:
        for step in state.walk.steps:
            try:
                await getattr(self, step.act)(state, step)
            except grpc.aio.AioRpcError as error:
                self.outcome.record_error(
                    f"{state.who}, {step.service} {step.act} on {step.on}: "
                    f"{error.code().name}: {error.details()}"
                )
            except (TimeoutError, _Stopped) as error:
                self.outcome.record_error(str(error))
            else:
                if not step.act.startswith("await_"):
                    self.outcome.by_service[step.service] += 1
                if step.service == "registry" or step.detail.get("ends_management"):
                    self.outcome.registry_events += 1
                self.notify(step.act, True)
                continue
            self.notify(step.act, False)
            return

    # --- health ---------------------------------------------------------------------------------

    def _person_details(self, state: _State, message):
        person = state.walk.person
        return message(
            citizen_id=person.citizen_id,
            full_name=person.full_name,
            date_of_birth=person.date_of_birth.isoformat(),
            sex=_SEX[person.sex],
            commune_code=person.commune_code,
        )

    async def await_determination(self, state: _State, step: Step) -> None:
        request = hp.ListPendingDeterminationsRequest(commune_code=state.walk.person.commune_code)

        async def find() -> str | None:
            listed = await self.call(self.health.ListPendingDeterminations, request)
            return next(
                (
                    d.determination_id
                    for d in listed.determinations
                    if d.pseudonym == state.ids.pseudonym and d.requested_on == step.on.isoformat()
                ),
                None,
            )

        state.determination_id = await self.until(state, step, find)

    async def record_criteria(self, state: _State, step: Step) -> None:
        await self.call(
            self.health.RecordCriteria,
            hp.RecordCriteriaRequest(
                determination_id=state.determination_id,
                facility_id=step.detail["facility"],
                observed_on=step.on.isoformat(),
                criteria_met=step.detail["criteria"],
            ),
        )

    async def conclude_determination(self, state: _State, step: Step) -> None:
        await self.call(
            self.health.ConcludeDetermination,
            hp.ConcludeDeterminationRequest(
                determination_id=state.determination_id,
                facility_id=step.detail["facility"],
                concluded_on=step.on.isoformat(),
            ),
        )

    async def enrol_methadone(self, state: _State, step: Step) -> None:
        enrolled = await self.call(
            self.health.EnrolMethadone,
            hp.EnrolMethadoneRequest(
                person=self._person_details(state, hp.PersonDetails), enrolled_on=step.on.isoformat()
            ),
        )
        state.episode_id = enrolled.episode_id

    async def advance_phase(self, state: _State, step: Step) -> None:
        await self.call(
            self.health.AdvancePhase,
            hp.AdvancePhaseRequest(
                episode_id=state.episode_id, to_phase=step.detail["to"], on=step.on.isoformat()
            ),
        )

    async def record_breach(self, state: _State, step: Step) -> None:
        await self.call(
            self.health.RecordBreach,
            hp.RecordBreachRequest(
                episode_id=state.episode_id, occurred_on=step.on.isoformat(), kind=step.detail["kind"]
            ),
        )

    async def end_methadone(self, state: _State, step: Step) -> None:
        await self.call(
            self.health.EndMethadone,
            hp.EndMethadoneRequest(
                episode_id=state.episode_id, ended_on=step.on.isoformat(), reason=step.detail["reason"]
            ),
        )

    # --- registry -------------------------------------------------------------------------------

    async def open_dossier(self, state: _State, step: Step) -> None:
        dossier = await self.call(
            self.registry.OpenCompulsoryDossier,
            rg.OpenCompulsoryDossierRequest(
                person_id=state.ids.person_id, ground=step.detail["ground"], opened_on=step.on.isoformat()
            ),
        )
        state.dossier_id = dossier.dossier_id

    async def submit_dossier(self, state: _State, step: Step) -> None:
        await self.call(
            self.registry.SubmitCompulsoryDossier,
            rg.SubmitCompulsoryDossierRequest(dossier_id=state.dossier_id, submitted_on=step.on.isoformat()),
        )

    async def court_decision(self, state: _State, step: Step) -> None:
        await self.call(
            self.registry.RecordCourtDecision,
            rg.RecordCourtDecisionRequest(
                dossier_id=state.dossier_id,
                decided_on=step.on.isoformat(),
                granted=True,
                term_months=step.detail["term_months"],
                facility_code=step.detail["facility"],
            ),
        )

    # --- rehab ----------------------------------------------------------------------------------

    async def await_expected_admission(self, state: _State, step: Step) -> None:
        request = rh.ListExpectedAdmissionsRequest(facility_code=step.detail["facility"])

        async def find() -> str | None:
            listed = await self.call(self.rehab.ListExpectedAdmissions, request)
            return next((a.admission_id for a in listed.admissions if a.dossier_id == state.dossier_id), None)

        state.admission_id = await self.until(state, step, find)

    async def admit_expected(self, state: _State, step: Step) -> None:
        admitted = await self.call(
            self.rehab.AdmitExpected,
            rh.AdmitExpectedRequest(
                admission_id=state.admission_id,
                admitted_on=step.on.isoformat(),
                temporary_stay_days=step.detail["temporary_stay_days"],
            ),
        )
        planned = step.detail["planned_end"].isoformat()
        if admitted.planned_end != planned:  # the plan's discharge date would then be refused
            raise _Stopped(
                f"{state.who}: rehab computed the planned end {admitted.planned_end}, "
                f"the demo planned {planned}"
            )

    async def admit(self, state: _State, step: Step) -> None:
        admitted = await self.call(
            self.rehab.Admit,
            rh.AdmitRequest(
                person=self._person_details(state, rh.PersonDetails),
                kind=step.detail["kind"],
                facility_code=step.detail["facility"],
                admitted_on=step.on.isoformat(),
                term_months=step.detail["term_months"],
            ),
        )
        state.admission_id = admitted.admission_id

    async def advance_stage(self, state: _State, step: Step) -> None:
        await self.call(
            self.rehab.AdvanceStage,
            rh.AdvanceStageRequest(
                admission_id=state.admission_id, to_stage=step.detail["to"], on=step.on.isoformat()
            ),
        )

    async def record_training(self, state: _State, step: Step) -> None:
        await self.call(
            self.rehab.RecordTraining,
            rh.RecordTrainingRequest(
                admission_id=state.admission_id, given_on=step.on.isoformat(), trade=step.detail["trade"]
            ),
        )

    async def discharge(self, state: _State, step: Step) -> None:
        await self.call(
            self.rehab.Discharge,
            rh.DischargeRequest(
                admission_id=state.admission_id,
                discharged_on=step.on.isoformat(),
                reason=step.detail["reason"],
            ),
        )

    # --- aftercare ------------------------------------------------------------------------------

    async def await_aftercare_case(self, state: _State, step: Step) -> None:
        person = state.walk.person
        request = ac.ListPendingPlacementsRequest(as_of=step.on.isoformat(), commune_code=person.commune_code)
        completed = step.detail["completed_on"].isoformat()

        async def find() -> str | None:
            listed = await self.call(self.aftercare.ListPendingPlacements, request)
            return next(
                (
                    c.case_id
                    for c in listed.cases
                    if c.pseudonym == state.ids.pseudonym and c.completed_on == completed
                ),
                None,
            )

        state.case_id = await self.until(state, step, find)

    async def place_case(self, state: _State, step: Step) -> None:
        placed = await self.call(
            self.aftercare.PlaceCase,
            ac.PlaceCaseRequest(
                case_id=state.case_id,
                decided_on=step.on.isoformat(),
                decision_number=step.detail["number"],
                caretaker_kind=step.detail["caretaker_kind"],
                caretaker_name=step.detail["caretaker_name"],
            ),
        )
        if placed.term_months != step.detail["term_months"]:  # later support would fall outside the term
            raise _Stopped(
                f"{state.who}: aftercare placed for {placed.term_months} months, the demo "
                f"planned {step.detail['term_months']}"
            )

    async def record_support(self, state: _State, step: Step) -> None:
        await self.call(
            self.aftercare.RecordSupport,
            ac.RecordSupportRequest(
                case_id=state.case_id, given_on=step.on.isoformat(), kind=step.detail["kind"]
            ),
        )

    async def suspect_relapse(self, state: _State, step: Step) -> None:
        await self.call(
            self.aftercare.SuspectRelapse,
            ac.SuspectRelapseRequest(case_id=state.case_id, suspected_on=step.on.isoformat()),
        )

    async def confirm_relapse(self, state: _State, step: Step) -> None:
        await self.call(
            self.aftercare.ConfirmRelapse,
            ac.ConfirmRelapseRequest(case_id=state.case_id, determined_on=step.on.isoformat()),
        )


async def walk(
    plan: DepartmentPlan,
    registered: Mapping[str, Registered],
    endpoints: Mapping[str, str],
    *,
    concurrency: int = 20,
    on_step: Callable[[str, bool], None] | None = None,
    call_timeout: float = 30.0,
    wait_timeout: float = 60.0,
) -> WalkOutcome:
    """Register the demo facilities and record the communes' aftercare models, then walk every planned
    person whom the registry phase fully loaded (``registered``: citizen ID → ids). ``endpoints``: gRPC
    address per service name."""
    outcome = WalkOutcome()
    notify = on_step or (lambda _act, _ok: None)
    semaphore = asyncio.Semaphore(concurrency)
    names = ("registry", "health", "rehab", "aftercare")
    channels = {name: grpc.aio.insecure_channel(endpoints[name]) for name in names}
    try:
        walker = _Walker(channels, outcome, notify, call_timeout=call_timeout, wait_timeout=wait_timeout)
        await walker.facilities()
        await walker.models(plan.models)

        async def one(person: PersonPath) -> None:
            ids = registered.get(person.person.citizen_id)
            if ids is None:  # the registry phase refused one of their commands (reported there)
                outcome.skipped += 1
                return
            async with semaphore:
                await walker.walk_person(_State(person, ids))

        await asyncio.gather(*(one(person) for person in plan.people))
    finally:
        for channel in channels.values():
            await channel.close()
    return outcome
