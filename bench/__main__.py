"""``python -m bench`` from a source checkout: the same as ``lienthong bench``."""

import typer

from bench.command import bench

typer.run(bench)
