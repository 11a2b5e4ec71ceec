"""Build hook: generate the protobuf/gRPC code from proto/ before setuptools collects the packages.

Generated code is never committed; every install (editable or not) produces it from the contracts.
"""

import importlib.util
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("_lienthong_codegen", here / "lienthong" / "codegen.py")
codegen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(codegen)
codegen.generate(here)

# bench/ is packaged so that `lienthong bench` can import it from the console script: an editable
# install maps only the packages listed here.
setup(packages=find_packages(include=["lienthong*", "services*", "lienthong_contracts*", "bench", "bench.*"]))
