"""Golden RLC model: encode/decode throughput and compression on synthetic data.

Rows (one per data set, fixed seed):
  * "uniform": i.i.d. int16 levels, non-zero with probability 10%, 50%, 90%;
  * "relu": N(0,1) + bias -> ReLU -> quantised to int16 in steps of 1/256, at
    pre-ReLU biases chosen so the zero fraction spans about 30%..90%.
Columns: zero fraction, code size (bits/element, ratio vs raw 16-bit, ratio to
the order-0 entropy) and the golden model's speed in M elements/s (best of 3).
Speed figures are wall-clock and machine-dependent.
"""

from __future__ import annotations

import numpy as np

from golden import rlc
from bench.timing import best_time

SEED = 20160201  # fixed: the rows are reproducible
UNIFORM_NONZERO = (0.10, 0.50, 0.90)
RELU_BIASES = (0.5, 0.0, -0.5, -1.0, -1.3)  # zero fraction ~ Phi(-bias): 31% .. 90%
RELU_SCALE = 256  # int16 step 1/256


def _uniform(rng, n, nonzero):
    v = rng.integers(-32768, 32768, n, dtype=np.int64).astype(np.int16)
    v[rng.random(n) >= nonzero] = 0
    return v


def _relu(rng, n, bias):
    x = np.maximum(rng.standard_normal(n) + bias, 0.0)
    return np.minimum(np.rint(x * RELU_SCALE), 32767).astype(np.int16)


def _row(case, values, reps):
    n = values.size
    t_enc, words = best_time(lambda: rlc.encode(values), reps)
    t_dec, back = best_time(lambda: rlc.decode(words, n, signed=True), reps)
    if not np.array_equal(back, values):
        raise AssertionError(f"RLC round trip failed on {case}")
    s = rlc.stats(values)
    return {
        "case": case,
        "n": n,
        "zero_frac": round(1 - s.nnz / n, 4),
        "bits_per_elem": round(s.bits_per_element, 3),
        "ratio_vs_raw16": round(s.ratio_vs_raw16, 3),
        "entropy_bits_per_elem": round(s.entropy_bits_per_element, 3),
        "ratio_to_entropy": round(s.ratio_to_entropy, 3),
        "encode_Melem_s": round(n / t_enc / 1e6, 1),
        "decode_Melem_s": round(n / t_dec / 1e6, 1),
    }


def run(quick: bool = False) -> list[dict]:
    """Rows for 10 M elements per data set (1 M and a single timing rep if `quick`)."""
    n = 1_000_000 if quick else 10_000_000
    reps = 1 if quick else 3
    rng = np.random.default_rng(SEED)
    rows = [_row(f"uniform int16, {p:.0%} non-zero", _uniform(rng, n, p), reps) for p in UNIFORM_NONZERO]
    rows += [_row(f"ReLU(N(0,1){b:+.1f}) /256", _relu(rng, n, b), reps) for b in RELU_BIASES]
    return rows
