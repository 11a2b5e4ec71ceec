"""``lienthong report rebuild`` asks first, and refuses without a yes; no call is made then."""

from __future__ import annotations

from typer.testing import CliRunner

from lienthong.cli import app
from lienthong.natsserver import free_port


def invoke(*args: str, answer: str | None = None):
    return CliRunner().invoke(app, ["report", "rebuild", *args], input=answer)


def test_without_yes_it_asks_and_a_no_refuses_before_any_call():
    # Nothing listens on the target: a call would end with exit status 2, not 1.
    target = f"127.0.0.1:{free_port()}"
    refused = invoke("--target", target, answer="n\n")
    assert refused.exit_code == 1, refused.output
    assert "Drop the read model of reporting at" in refused.output
    assert "not rebuilt" in refused.output
    no_answer = invoke("--target", target, answer="")  # no terminal, nobody to say yes
    assert no_answer.exit_code == 1, no_answer.output
    assert "cannot reach" not in no_answer.output


def test_an_unreachable_reporting_is_exit_status_2():
    target = f"127.0.0.1:{free_port()}"
    for args, answer in ((["--yes"], None), ([], "y\n")):
        result = invoke("--target", target, *args, answer=answer)
        assert result.exit_code == 2, result.output
        assert f"cannot reach reporting at {target}" in result.output
