"""Benchmarks: one bench_<name>.py module per area, each exposing run(quick=False) -> list[dict]."""
