"""Generated protobuf code: present and fresh in the repository, and told missing or stale otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lienthong.codegen import PACKAGE, ROOT, STAMP, generate, problem, proto_files, source_digest

FIX = "python -m lienthong.codegen"


@pytest.fixture
def proto_copy(tmp_path: Path) -> Path:
    """A root holding a copy of the repository's proto/ and nothing generated yet."""
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    return tmp_path


def test_the_repository_code_is_present_and_fresh():
    assert proto_files(), "the repository has no .proto files"
    assert problem(ROOT) is None
    assert problem() is None


def test_digest_does_not_depend_on_where_the_repository_is(proto_copy):
    assert source_digest(proto_copy) == source_digest(ROOT)


def test_missing_then_generated_then_stale(proto_copy):
    missing = problem(proto_copy)
    assert missing is not None
    assert "missing" in missing
    assert PACKAGE in missing
    assert FIX in missing

    out = generate(proto_copy)
    assert out == proto_copy / PACKAGE
    assert (out / STAMP).read_text().strip() == source_digest(proto_copy)
    assert list(out.rglob("*_pb2.py")), "protoc wrote no message modules"
    assert list(out.rglob("*_pb2_grpc.py")), "protoc wrote no gRPC modules"
    assert list(out.rglob("*_pb2.pyi")), "protoc wrote no type stubs"
    for directory in [out, *(p for p in out.rglob("*") if p.is_dir() and p.name != "__pycache__")]:
        assert (directory / "__init__.py").exists(), directory
    assert problem(proto_copy) is None

    edited = proto_files(proto_copy)[0]
    edited.write_text(edited.read_text() + "\n// edited after generation\n")
    stale = problem(proto_copy)
    assert stale is not None
    assert "stale" in stale
    assert PACKAGE in stale
    assert FIX in stale

    generate(proto_copy)
    assert problem(proto_copy) is None


def test_generated_code_matches_the_committed_digest(proto_copy):
    generate(proto_copy)
    assert (proto_copy / PACKAGE / STAMP).read_text() == (ROOT / PACKAGE / STAMP).read_text()


def test_renaming_a_proto_file_makes_the_code_stale(proto_copy):
    generate(proto_copy)
    first = proto_files(proto_copy)[0]
    first.rename(first.with_name("renamed_" + first.name))
    assert "stale" in (problem(proto_copy) or "")


def test_adding_a_proto_file_makes_the_code_stale(proto_copy):
    generate(proto_copy)
    first = proto_files(proto_copy)[0]
    (first.parent / "added.proto").write_text('syntax = "proto3";\npackage added;\n')
    assert "stale" in (problem(proto_copy) or "")


def test_generate_without_proto_files_fails_clearly(tmp_path):
    (tmp_path / "proto").mkdir()
    with pytest.raises(SystemExit, match=r"no \.proto files under"):
        generate(tmp_path)


def test_protoc_failure_is_reported(proto_copy):
    broken = proto_files(proto_copy)[0]
    broken.write_text(broken.read_text() + "\nmessage {\n")
    with pytest.raises(SystemExit, match="protoc failed"):
        generate(proto_copy)
    assert "missing" in (problem(proto_copy) or "")
