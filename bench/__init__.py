"""Benchmarks of lienthong against the raw limits of the machine, measured in the same run.

Run ``lienthong bench [--quick]`` (or ``python -m bench``) from a source checkout; see
``docs/performance.md`` for what each figure measures and the latest full run.
"""
