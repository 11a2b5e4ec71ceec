"""Generate Python code from the contracts in ``proto/`` and tell when it is missing or stale.

Kept to the standard library plus grpcio-tools so that ``setup.py`` can load it by path during a build,
before the package itself is importable.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PACKAGE = "lienthong_contracts"
STAMP = "_source_digest.txt"
ROOT = Path(__file__).resolve().parent.parent


def proto_files(root: Path = ROOT) -> list[Path]:
    return sorted((root / "proto").rglob("*.proto"))


def source_digest(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for path in proto_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def generate(root: Path = ROOT) -> Path:
    from grpc_tools import protoc  # build-time dependency only

    proto_root = root / "proto"
    files = [str(p.relative_to(proto_root)) for p in proto_files(root)]
    if not files:
        raise SystemExit(f"no .proto files under {proto_root}")
    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf well-known types
    args = [
        "protoc",
        f"-I{proto_root}",
        f"-I{include}",
        f"--python_out={root}",
        f"--pyi_out={root}",
        f"--grpc_python_out={root}",
        *files,
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    out = root / PACKAGE
    for directory in [out, *(p for p in out.rglob("*") if p.is_dir() and p.name != "__pycache__")]:
        (directory / "__init__.py").touch()
    (out / STAMP).write_text(source_digest(root) + "\n")
    return out


def problem(root: Path = ROOT) -> str | None:
    """Why the generated code cannot be trusted, or None when it matches ``proto/``."""
    fix = "run `python -m lienthong.codegen` (or reinstall with pip) to generate it from proto/"
    stamp = root / PACKAGE / STAMP
    if not stamp.exists():
        return f"generated protobuf code is missing ({PACKAGE}/): {fix}"
    if stamp.read_text().strip() != source_digest(root):
        return f"generated protobuf code in {PACKAGE}/ is stale: proto/ changed since it was generated; {fix}"
    for proto in proto_files(root):
        module = root / proto.relative_to(root / "proto").with_name(proto.stem + "_pb2.py")
        if not module.exists():
            return f"generated module {module.relative_to(root)} is missing; {fix}"
    return None


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        message = problem()
        print(message or "generated code is up to date")
        raise SystemExit(1 if message else 0)
    print(f"generated {generate()}")
