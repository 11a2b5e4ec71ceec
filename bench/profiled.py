"""``python -m bench.profiled``: the reporting service's own ``main`` under pyinstrument.

The bench starts it instead of ``python -m services.reporting`` for one rebuild round; the service
stops cleanly on SIGTERM, and the profile is written at exit to ``$LIENTHONG_BENCH_PROFILE`` (.html and
.txt). Sampling costs a little throughput, so that round's rate is not recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyinstrument import Profiler

from services.reporting.main import main


def run() -> None:
    target = Path(os.environ["LIENTHONG_BENCH_PROFILE"])
    profiler = Profiler(async_mode="disabled")
    profiler.start()
    try:
        main()
    finally:
        profiler.stop()
        target.with_suffix(".html").write_text(profiler.output_html())
        target.with_suffix(".txt").write_text(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    run()
