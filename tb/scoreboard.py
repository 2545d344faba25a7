"""Comparison of what the DUT produced with what golden/ says, with readable failures."""

import numpy as np

__all__ = ["Scoreboard"]


class Scoreboard:
    """Counts compared items and fails on the first mismatch of each check, showing where.

    Every check names its transaction (``label``) so that a failure says which tensor or
    matrix of a long random run went wrong, and at which element.
    """

    def __init__(self, log):
        self.log = log
        self.items = 0
        self.checks = 0

    def compare(self, label, got, expected, *, context=4):
        got = np.asarray(got, dtype=np.int64)
        expected = np.asarray(expected, dtype=np.int64)
        self.checks += 1
        if got.shape != expected.shape:
            raise AssertionError(f"{label}: got {got.size} items, expected {expected.size}")
        bad = np.flatnonzero(got != expected)
        if bad.size:
            i = int(bad[0])
            lo, hi = max(0, i - context), i + context + 1
            raise AssertionError(
                f"{label}: {bad.size} of {got.size} items differ; first at index {i}: "
                f"got {got[i]:#x}, expected {expected[i]:#x}\n"
                f"  got[{lo}:{hi}]      = {[hex(v) for v in got[lo:hi]]}\n"
                f"  expected[{lo}:{hi}] = {[hex(v) for v in expected[lo:hi]]}")
        self.items += got.size

    def equal(self, label, got, expected):
        self.checks += 1
        if got != expected:
            raise AssertionError(f"{label}: got {got!r}, expected {expected!r}")

    def summary(self):
        self.log.info("scoreboard: %d checks, %d items compared, all equal", self.checks,
                      self.items)
