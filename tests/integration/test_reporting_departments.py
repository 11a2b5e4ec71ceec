"""Reporting reads every department's stream: a person's path by pseudonym, activity counts, per-stream status.

Real nats-server and database; reporting runs through its real ``serve()``. The test plays health, rehab
and aftercare: it declares their streams and publishes their events as they would.
"""

from __future__ import annotations

import grpc
import pytest

from lienthong import bus
from lienthong.envelope import Envelope
from lienthong_contracts.aftercare.v1 import events_pb2 as aftercare
from lienthong_contracts.health.v1 import events_pb2 as health
from lienthong_contracts.registry.v1 import events_pb2 as registry
from lienthong_contracts.rehab.v1 import events_pb2 as rehab
from lienthong_contracts.reporting.v1 import reporting_pb2
from tests.conftest import eventually
from tests.integration import test_reporting as base
from tests.integration.test_reporting import BA_DINH, HOAN_KIEM, REGISTRY, pseudonym, ref

pytestmark = pytest.mark.integration
reporting = base.reporting  # the same fixture: reporting serving on a fresh nats-server and database

STREAMS = {
    "health": bus.StreamSpec("HEALTH", ["health.>"]),
    "rehab": bus.StreamSpec("REHAB", ["rehab.>"]),
    "aftercare": bus.StreamSpec("AFTERCARE", ["aftercare.>"]),
}


class Department:
    """Publishes one department's events with the headers its outbox relay would send."""

    def __init__(self, js, name: str, agency: str) -> None:
        self.js, self.name, self.agency = js, name, agency
        self.stream = STREAMS[name] if name in STREAMS else REGISTRY
        self.version = 0

    async def publish(
        self, subject: str, message, *, person: str | None = None, agency: str | None = None
    ) -> str:
        self.version += 1
        envelope = Envelope.new(
            subject=subject,
            source=f"lienthong/{self.name}",
            person=person or message.person.pseudonym,
            aggregate_id=f"{self.name}-aggregate",
            aggregate_version=self.version,
            agency=agency or self.agency,
            payload=message.SerializeToString(),
        )
        ack = await self.js.publish(
            subject, envelope.payload, headers=envelope.headers(), stream=self.stream.name
        )
        assert ack.stream == self.stream.name
        return envelope.event_id


async def declare_all(js) -> None:
    for spec in STREAMS.values():
        await bus.declare_stream(js, spec)


async def status_where(stub, predicate, message: str) -> reporting_pb2.IngestStatus:
    async def check():
        status = await stub.GetIngestStatus(reporting_pb2.IngestStatusRequest())
        return status if predicate(status) else None

    return await eventually(check, message=message)


def by_stream(status: reporting_pb2.IngestStatus) -> dict[str, tuple[int, int, int]]:
    return {s.stream: (s.events_applied, s.events_dead_lettered, s.pending) for s in status.sources}


async def test_a_persons_path_across_departments_in_the_order_of_the_acts(reporting):
    await declare_all(reporting.js)
    health_dept = Department(reporting.js, "health", "health")
    rehab_dept = Department(reporting.js, "rehab", "labour")
    aftercare_dept = Department(reporting.js, "aftercare", "police")
    someone, other = pseudonym(41), pseudonym(42)

    # Published out of the order of the acts, as different departments' relays would.
    await aftercare_dept.publish(
        "aftercare.case.opened.v1",
        aftercare.CaseOpened(
            person=ref(41, HOAN_KIEM),
            case_id="case-1",
            source="health:ep-1",
            source_kind="methadone",
            completed_on="2025-04-01",
            opened_on="2025-04-02",
        ),
    )
    await health_dept.publish(
        "health.methadone.enrolled.v1",
        health.MethadoneEnrolled(person=ref(41, HOAN_KIEM), episode_id="ep-1", enrolled_on="2024-02-01"),
    )
    await health_dept.publish(
        "health.methadone.ended.v1",
        health.MethadoneEnded(
            person=ref(41, HOAN_KIEM), episode_id="ep-1", ended_on="2025-04-01", reason="completed"
        ),
    )
    await rehab_dept.publish(
        "rehab.admission.admitted.v1",
        rehab.Admitted(
            person=ref(42, BA_DINH),
            admission_id="adm-1",
            kind="voluntary_community",
            admitted_on="2024-10-01",
            term_months=6,
            law_version="law_73_2021",
        ),
    )
    await aftercare_dept.publish(
        "aftercare.model.changed.v1",
        aftercare.ModelChanged(
            commune_code=HOAN_KIEM, province_code="01", changed_on="2025-01-15", status="started"
        ),
        person=f"commune:{HOAN_KIEM}",
    )
    await reporting.registry.publish(
        reporting.registry.event(
            "registry.person.registered.v1",
            registry.PersonRegistered(person=ref(41, HOAN_KIEM), registered_on="2023-12-20"),
        )
    )

    status = await status_where(reporting.stub, lambda s: s.caught_up and s.events_applied == 6, "6 applied")
    assert by_stream(status) == {
        "REGISTRY": (1, 0, 0),
        "HEALTH": (2, 0, 0),
        "REHAB": (1, 0, 0),
        "AFTERCARE": (2, 0, 0),
    }

    path = await reporting.stub.GetPersonTimeline(reporting_pb2.PersonTimelineRequest(pseudonym=someone))
    assert [(s.event_type, s.occurred_on, s.agency) for s in path.steps] == [
        ("registry.person.registered.v1", "2023-12-20", "police"),
        ("health.methadone.enrolled.v1", "2024-02-01", "health"),
        ("health.methadone.ended.v1", "2025-04-01", "health"),
        ("aftercare.case.opened.v1", "2025-04-02", "police"),
    ]
    ended = path.steps[2]
    assert (ended.record_id, {c.name: c.value for c in ended.codes}) == ("ep-1", {"reason": "completed"})
    assert all(s.commune_code == HOAN_KIEM and s.province_code == "01" for s in path.steps)

    counts = await reporting.stub.GetActivityCounts(
        reporting_pb2.ActivityCountsRequest(
            period_start="2024-01-01", period_end="2025-12-31", province_code="01"
        )
    )
    assert {(c.department, c.event_type): (c.events, c.people) for c in counts.counts} == {
        ("health", "health.methadone.enrolled.v1"): (1, 1),
        ("health", "health.methadone.ended.v1"): (1, 1),
        ("rehab", "rehab.admission.admitted.v1"): (1, 1),
        ("aftercare", "aftercare.case.opened.v1"): (1, 1),
        # A commune's model is an act without a person.
        ("aftercare", "aftercare.model.changed.v1"): (1, 0),
    }
    only_ba_dinh = await reporting.stub.GetActivityCounts(
        reporting_pb2.ActivityCountsRequest(
            period_start="2024-01-01", period_end="2025-12-31", commune_codes=[BA_DINH]
        )
    )
    assert [(c.event_type, c.people) for c in only_ba_dinh.counts] == [("rehab.admission.admitted.v1", 1)]
    other_path = await reporting.stub.GetPersonTimeline(reporting_pb2.PersonTimelineRequest(pseudonym=other))
    assert [s.agency for s in other_path.steps] == ["labour"]


async def test_a_bad_event_on_one_stream_is_dead_lettered_there_while_the_others_flow(reporting):
    await declare_all(reporting.js)
    health_dept = Department(reporting.js, "health", "health")
    rehab_dept = Department(reporting.js, "rehab", "police")
    await health_dept.publish(
        "health.determination.concluded.v1",
        health.DeterminationConcluded(
            person=ref(1),
            determination_id="d-1",
            concluded_on="2025-13-01",
            result=health.DETERMINATION_RESULT_ADDICTED,
        ),
    )
    await health_dept.publish(
        "health.methadone.enrolled.v1",
        health.MethadoneEnrolled(person=ref(2), episode_id="ep-2", enrolled_on="2025-01-01"),
    )
    await rehab_dept.publish(
        "rehab.admission.returned.v1",
        rehab.Returned(person=ref(3), admission_id="adm-3", returned_on="2025-05-05"),
    )
    status = await status_where(
        reporting.stub, lambda s: s.caught_up and s.events_dead_lettered == 1, "one dead letter"
    )
    assert by_stream(status) == {
        "REGISTRY": (0, 0, 0),
        "HEALTH": (1, 1, 0),
        "REHAB": (1, 0, 0),
        "AFTERCARE": (0, 0, 0),
    }
    dead = await reporting.js.get_last_msg("DLQ_REPORTING", "dlq.reporting.health.determination.concluded.v1")
    assert "concluded_on" in dead.headers["lt-dlq-reason"]


async def test_a_stream_declared_later_is_read_once_it_exists(reporting):
    status = await reporting.stub.GetIngestStatus(reporting_pb2.IngestStatusRequest())
    assert not status.caught_up
    assert by_stream(status)["AFTERCARE"] == (0, 0, -1)  # its owner has not started yet
    await declare_all(reporting.js)
    await Department(reporting.js, "aftercare", "police").publish(
        "aftercare.support.given.v1",
        aftercare.SupportGiven(person=ref(5), case_id="case-5", given_on="2025-06-01", kind="loan"),
    )
    status = await status_where(reporting.stub, lambda s: s.caught_up, "caught up once AFTERCARE exists")
    assert by_stream(status)["AFTERCARE"] == (1, 0, 0)


async def test_a_malformed_pseudonym_is_refused(reporting):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await reporting.stub.GetPersonTimeline(
            reporting_pb2.PersonTimelineRequest(pseudonym="001090012345"),
            metadata=(("accept-language", "en"),),
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pseudonym must look like" in refused.value.details()
