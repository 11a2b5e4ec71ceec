"""The staff commands (``lienthong registry|rehab|aftercare …``) against real services run in-process.

The CLI calls gRPC synchronously, so each invocation runs in a thread while the test's event loop keeps
serving."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from typer.testing import CliRunner

from lienthong import bus
from lienthong.cli import app
from lienthong.natsserver import NatsServer
from services.aftercare.main import build_plan as aftercare_plan
from services.aftercare.settings import AftercareSettings
from services.registry.main import build_plan as registry_plan
from services.registry.settings import RegistrySettings
from services.rehab.main import build_plan as rehab_plan
from services.rehab.settings import RehabSettings
from tests.conftest import RunningService, eventually

pytestmark = pytest.mark.integration

PERSON = ["--citizen-id", "001099012345", "--name", "Nguyễn Văn An", "--born", "1999-04-02", "--sex", "male"]
PERSON += ["--commune", "00070"]


async def lienthong(*args: str, code: int = 0):
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
async def registry(nats_server: NatsServer, database_url: str):
    settings = RegistrySettings(
        nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0
    )
    async with RunningService(registry_plan(settings)) as service:
        yield service.grpc_target


async def test_register_test_decide_then_a_refusal_in_both_languages(registry):
    target = ["--target", registry]
    registered = await lienthong("registry", "register", *PERSON, "--json", *target)
    person_id = json.loads(registered.stdout)["person_id"]
    assert person_id
    tested = await lienthong(
        "registry",
        "test",
        "--person",
        person_id,
        "--on",
        "2025-02-01",
        "--substance",
        "heroin",
        "--place",
        "Phường Hoàn Kiếm",
        *target,
    )
    assert "test recorded" in tested.stdout
    decided = await lienthong(
        "registry", "decide", "--person", person_id, "--number", "12/QĐ-UBND", "--on", "2025-02-10", *target
    )
    assert "management" in decided.stdout and "open until" in decided.stdout
    second = ["registry", "decide", "--person", person_id, "--number", "13/QĐ-UBND", "--on", "2025-02-11"]
    refused_vi = await lienthong(*second, *target, code=1)
    assert "management.already_open" in refused_vi.stderr
    assert "Người này đang trong diện quản lý theo quyết định 12/QĐ-UBND" in refused_vi.stderr
    refused_en = await lienthong(*second, *target, "--lang", "en", code=1)
    assert "management.already_open" in refused_en.stderr
    assert "The person is already under management by decision 12/QĐ-UBND" in refused_en.stderr
    shown = await lienthong(
        "registry", "show", "--person", person_id, "--officer", "cb-07", "--purpose", "ho so 12", *target
    )
    record = json.loads(shown.stdout)
    assert record["full_name"] == "Nguyễn Văn An" and len(record["managements"]) == 1
    missing = await lienthong("registry", "show", "--person", person_id, *target, code=2)
    assert "--officer" in missing.output


async def test_unreachable_service_and_bad_input_never_call():
    down = await lienthong("registry", "register", *PERSON, "--target", "127.0.0.1:1", code=2)
    assert "cannot reach registry at 127.0.0.1:1: is it running? (`lienthong up`)" in down.stderr
    bad_date = await lienthong(
        "registry",
        "register",
        *PERSON[:-2],
        "--commune",
        "00070",
        "--born",
        "1999-13-01",
        "--target",
        "127.0.0.1:1",
        code=2,
    )
    assert "cannot reach" not in bad_date.output and "--born" in bad_date.output
    bad_kind = await lienthong(
        "rehab",
        "discharge",
        "--admission",
        "a",
        "--on",
        "2025-01-01",
        "--reason",
        "bored",
        "--target",
        "127.0.0.1:1",
        code=2,
    )
    assert "cannot reach" not in bad_kind.output


async def test_admit_discharge_then_aftercare_pending_place_support(
    nats_server: NatsServer, database_url: str, tmp_path
):
    rehab = RehabSettings(nats_url=nats_server.url, database_url=database_url, grpc_port=0, metrics_port=0)
    # Aftercare on its own SQLite file (the services never share a database).
    aftercare = AftercareSettings(
        nats_url=nats_server.url,
        database_url=f"sqlite:///{tmp_path / 'aftercare.db'}",
        grpc_port=0,
        metrics_port=0,
    )
    connection = await nats.connect(nats_server.url)
    try:
        js = connection.jetstream()
        for spec in (bus.StreamSpec("REGISTRY", ["registry.>"]), bus.StreamSpec("HEALTH", ["health.>"])):
            await bus.declare_stream(js, spec)
        async with RunningService(rehab_plan(rehab)) as reh, RunningService(aftercare_plan(aftercare)) as aft:
            admitted = await lienthong(
                "rehab",
                "admit",
                "--kind",
                "voluntary_family",
                *PERSON,
                "--on",
                "2025-01-02",
                "--term-months",
                "6",
                "--json",
                "--target",
                reh.grpc_target,
            )
            admission = json.loads(admitted.stdout)["admission_id"]
            for to, on in (("detox_treatment", "2025-01-10"), ("education_counselling", "2025-03-01")):
                staged = await lienthong(
                    "rehab",
                    "stage",
                    "--admission",
                    admission,
                    "--to",
                    to,
                    "--on",
                    on,
                    "--target",
                    reh.grpc_target,
                )
                assert f"stage {to}" in staged.stdout
            done = await lienthong(
                "rehab",
                "discharge",
                "--admission",
                admission,
                "--on",
                "2025-07-02",
                "--reason",
                "completed",
                "--target",
                reh.grpc_target,
            )
            assert "programme completed" in done.stdout
            listing = ["aftercare", "pending", "--commune", "00070", "--as-of", "2025-07-10"]

            async def pending():
                result = await lienthong(*listing, "--json", "--target", aft.grpc_target)
                return json.loads(result.stdout)["cases"]

            cases = await eventually(pending, message="a case pending placement")
            assert len(cases) == 1 and cases[0]["alert"] is False
            shown = await lienthong(*listing, "--target", aft.grpc_target)
            assert cases[0]["case_id"] in shown.stdout and "8 days waiting" in shown.stdout
            case = cases[0]["case_id"]
            placed = await lienthong(
                "aftercare",
                "place",
                "--case",
                case,
                "--on",
                "2025-07-08",
                "--number",
                "15/QĐ-UBND",
                "--caretaker-kind",
                "person",
                "--caretaker-name",
                "Trần Văn Bình",
                "--target",
                aft.grpc_target,
            )
            assert f"case {case} placed" in placed.stdout
            await lienthong(
                "aftercare",
                "support",
                "--case",
                case,
                "--on",
                "2025-08-01",
                "--kind",
                "vocational_training",
                "--target",
                aft.grpc_target,
            )
            refused = await lienthong(
                "aftercare",
                "support",
                "--case",
                case,
                "--on",
                "2025-08-01",
                "--kind",
                "schooling",
                "--lang",
                "en",
                "--target",
                aft.grpc_target,
                code=1,
            )
            assert "refused" in refused.stderr
            assert (
                await lienthong("aftercare", "pending", "--commune", "00070", "--target", aft.grpc_target)
            ).stdout.count("no case pending") == 1
    finally:
        await connection.close()
