"""CSR SpMV: golden-model speed and the hardware's cycle model per density.

Rows (fixed seed), square int16 matrices at densities 0, 1, 10, 50 and 100% plus a
power-law row-length matrix (unbalanced rows) and one full row among empty ones:

* storage: CSR words (2·NNZ + n + 1) against n·n dense words;
* golden: :func:`golden.csr.spmv` speed in M non-zeros/s, wrap and saturate (best of 3,
  wall-clock, machine-dependent);
* hardware: cycles of ``csr_spmv`` from the golden cycle model
  :func:`golden.csr.matrix_cycles` with the block's latency per lanes (:data:`LATENCY`,
  plain data: this benchmark does not import Amaranth; tests/test_golden_csr.py checks it
  against ``hw.csr_spmv.CSRSpMV.latency_of``), the cycle count the amaranth.sim tests
  assert exactly, for lanes = 1, 4 and 8: non-zeros per
  cycle, cycles against the NNZ bound (lanes = 1) or percent of the lanes' peak, and the
  speed-up over a dense row-by-row engine spending one cycle per element (rows × cols).
  Measured Verilator figures come from the cocotb bench (``make sim``).
"""

from __future__ import annotations

import numpy as np

from golden import csr
from bench.timing import best_time

SEED = 20160618
DENSITIES = (0.0, 0.01, 0.10, 0.50, 1.0)
LANES = (1, 4, 8)
# CSRSpMV.latency_of(lanes) at the block's defaults (DSP multipliers): final step to final
# y (read, x register, multiply, tree of log2(lanes) levels, accumulate, y register)
LATENCY = {1: 5, 4: 7, 8: 8}


def _matrix(rng, n, density):
    values = rng.integers(-32768, 32768, (n, n))
    return values * (rng.random((n, n)) < density)


def _power_law(rng, n):
    """Row lengths from a Pareto tail: a few long rows, many short or empty ones."""
    lengths = np.minimum(n, (rng.pareto(1.2, n) * 3).astype(np.int64))
    keep = rng.random((n, n)).argsort(axis=1) < lengths[:, None]
    return rng.integers(-32768, 32768, (n, n)) * keep


def _one_row(rng, n):
    a = np.zeros((n, n), dtype=np.int64)
    a[n // 2] = rng.integers(1, 32768, n)
    return a


def _row(case, a, x, reps):
    m = csr.from_dense(a)
    n_rows, n_cols = a.shape
    nnz = m.nnz
    lengths = csr.row_lengths(m)
    t_wrap = best_time(lambda: csr.spmv(m, x), reps)[0]
    t_sat = best_time(lambda: csr.spmv(m, x, overflow="saturate"), reps)[0]
    row = {
        "case": case,
        "shape": f"{n_rows}x{n_cols}",
        "nnz": nnz,
        "empty_rows": int(np.sum(lengths == 0)),
        "csr_words_vs_dense": round(csr.storage_words(m) / (n_rows * n_cols), 4),
        "golden_wrap_Mnz_s": round(nnz / t_wrap / 1e6, 1) if nnz else "-",
        "golden_sat_Mnz_s": round(nnz / t_sat / 1e6, 1) if nnz else "-",
    }
    for lanes in LANES:
        cycles = csr.matrix_cycles(lengths, lanes=lanes, latency=LATENCY[lanes])
        tag = f"p{lanes}_"
        row[tag + "cycles"] = cycles
        row[tag + "nz_per_cycle"] = round(nnz / cycles, 3)
        if lanes == 1:
            # The bound: NNZ + empty rows + a constant (the pipeline).
            row[tag + "cycles_over_nnz"] = round(cycles / nnz, 3) if nnz else "-"
            row[tag + "extra_over_nnz_plus_empty"] = cycles - nnz - row["empty_rows"]
        else:
            row[tag + "pct_of_peak"] = round(100 * nnz / cycles / lanes, 1)
        row[tag + "speedup_vs_dense"] = round(n_rows * n_cols / cycles, 2)
    return row


def run(quick: bool = False) -> list[dict]:
    """Rows for 1024×1024 matrices (256×256 and one timing rep if ``quick``)."""
    n = 256 if quick else 1024
    reps = 1 if quick else 3
    rng = np.random.default_rng(SEED)
    x = rng.integers(-32768, 32768, n)
    rows = [_row(f"uniform {d:.0%}", _matrix(rng, n, d), x, reps) for d in DENSITIES]
    rows.append(_row("power-law rows", _power_law(rng, n), x, reps))
    rows.append(_row("one full row", _one_row(rng, n), x, reps))
    return rows
