"""Wall-clock timing for the benches (never used by tests)."""

import time

__all__ = ["best_time"]


def best_time(f, reps):
    """(fastest of ``reps`` calls of ``f`` in seconds, the last call's result)."""
    best, out = float("inf"), None
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out
