"""Benchmarks: each `bench_*` module exposes `run(quick) -> list[dict]`; run them all with `python -m bench`."""
