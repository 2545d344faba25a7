"""amaranth.sim tests of csr_spmv on bad input: every class of malformed matrix or x is
flagged on ``error``, answers exactly one y per announced row, and leaves the next matrix
exact (the run: tests/csr_sim.py; framing and the null beat:
tests/test_hw_csr_spmv_framing.py).
"""
import numpy as np
import pytest

from csr_sim import (SLIDES, X5, check_bad, check_good, framed, mat_job, simulate, split,
                     x_job)
from golden.csr import CSR, from_dense, spmv
from hw.csr_spmv import CSRSpMV


def _bad_then_good(dut, bad_jobs, nrows_bad, x, seed=0):
    """Run a malformed matrix followed by the slides matrix; return the bad group."""
    good = from_dense(SLIDES[:, :len(x)]) if len(x) < 5 else from_dense(SLIDES)
    jobs = [x_job(x)] + bad_jobs + [mat_job(good)]
    ys, _ = simulate(dut, jobs, seed=seed, pause=0.2, ready=0.7)
    bad, ok = split(ys, [nrows_bad, 4])
    check_bad(bad)
    check_good(ok, spmv(good, x))
    return bad


def test_col_beyond_ncols_and_beyond_max_cols():
    dut = CSRSpMV(max_rows=8, max_cols=8)
    c = CSR([0, 2, 3], [1, 5, 0xFFFF], [10, 20, 30], (2, 8))   # x has 5 elements
    bad = _bad_then_good(dut, [mat_job(c, check=False)], 2, X5)
    assert [b[0] for b in bad] == [10 * -3, 0]   # flagged non-zeros contribute 0
    assert [b[2] for b in bad] == [1, 1]


def test_value_beyond_value_width():
    dut = CSRSpMV(value_width=12, max_rows=8, max_cols=8)
    c = CSR([0, 1, 2, 3], [0, 1, 2], [5, 1 << 11, 3], (3, 5))   # 2048 needs 13 bits
    bad = _bad_then_good(dut, [mat_job(c, value_width=12, check=False)], 3, X5)
    assert [b[0] for b in bad] == [10, 0, 15] and [b[2] for b in bad] == [0, 1, 1]


def test_decreasing_row_ptr():
    dut = CSRSpMV(max_rows=8, max_cols=8)
    c = CSR([0, 3, 1, 4], [0, 1, 2, 3], [1, 1, 1, 1], (3, 5))
    _bad_then_good(dut, [mat_job(c, check=False)], 3, X5)


def test_row_ptr_not_starting_at_zero():
    dut = CSRSpMV(max_rows=8, max_cols=8)
    c = CSR([1, 2, 3], [0, 1, 2], [1, 1, 1], (2, 5))   # nz 0 belongs to no row
    _bad_then_good(dut, [mat_job(c, check=False)], 2, X5)


@pytest.mark.parametrize("rows_ptr", [[0, 1, 2], [0, 0, 1], [0, 2, 2]])
def test_more_nonzeros_than_announced_is_drained(rows_ptr):
    dut = CSRSpMV(max_rows=8, max_cols=8)
    c = CSR(rows_ptr, [0, 1, 2, 3, 4], [1, 2, 3, 4, 5], (2, 5))
    _bad_then_good(dut, [mat_job(c, check=False)], 2, X5, seed=sum(rows_ptr))


def test_fewer_nonzeros_than_announced():
    dut = CSRSpMV(max_rows=8, max_cols=8)
    # nz.last inside row 0 (announced 3, got 2), and rows after it get nothing.
    early = ("mat", framed([3, 0, 2]), framed([0 << 16 | 1, 1 << 16 | 1]))
    # nz.last ends row 0 exactly, then row 2 announces more.
    later = ("mat", framed([1, 0, 2, 0]), framed([2 << 16 | 1]))
    # nz.last inside the final row.
    final = ("mat", framed([1, 3]), framed([0 << 16 | 1, 1 << 16 | 1, 4 << 16 | 1]))
    good = from_dense(SLIDES)
    jobs = [x_job(X5), early, later, final, mat_job(good)]
    ys, _ = simulate(dut, jobs, seed=5, pause=0.2, ready=0.7)
    g_early, g_later, g_final, ok = split(ys, [3, 4, 2, 4])
    assert [g[0] for g in g_final] == [2, -3 - 11] and [g[2] for g in g_final] == [0, 1]
    check_bad(g_early)
    check_bad(g_later)
    assert [g[0] for g in g_early] == [2 - 3, 0, 0]
    assert [g[0] for g in g_later] == [5, 0, 0, 0] and [g[2] for g in g_later] == [0, 0, 1, 1]
    check_good(ok, spmv(good, X5))


def test_row_length_beyond_ncols_and_too_many_rows():
    dut = CSRSpMV(max_rows=4, max_cols=8)
    long_row = ("mat", framed([6, 1]), framed([0 << 16 | 1] * 6 + [1 << 16 | 1]))  # ncols = 5
    too_many = mat_job(from_dense(np.eye(5, dtype=int)))                          # 5 > 4 rows
    good = from_dense(SLIDES)
    ys, _ = simulate(dut, [x_job(X5), long_row, too_many, mat_job(good)], seed=9, pause=0.2, ready=0.7)
    g1, g2, ok = split(ys, [2, 5, 4])
    check_bad(g1)
    assert [g[0] for g in g1] == [0, X5[0]]
    check_bad(g2)
    assert [g[0] for g in g2] == X5[:4].tolist() + [0] and [g[2] for g in g2] == [0, 0, 0, 0, 1]
    check_good(ok, spmv(good, X5))


def test_bad_x_is_reported_until_reloaded():
    dut = CSRSpMV(x_width=12, max_rows=8, max_cols=5)
    c = from_dense(SLIDES)
    too_long = ("x", framed([1, 2, 3, 4, 5, 6]))
    too_wide = ("x", framed([1, 2, 1 << 11, 4, 5]))
    jobs = [too_long, mat_job(c), mat_job(c), too_wide, mat_job(c), x_job(X5, 16), mat_job(c)]
    ys, _ = simulate(dut, jobs, seed=4, pause=0.2, ready=0.7)
    g = split(ys, [4, 4, 4, 4])
    for group in g[:2]:
        assert [y[2] for y in group] == [1] * 4
        assert [y[0] for y in group] == spmv(c, np.arange(1, 6)).tolist()   # 6th dropped
    assert [y[2] for y in g[2]] == [1] * 4
    assert [y[0] for y in g[2]] == spmv(c, np.array([1, 2, 0, 4, 5])).tolist()
    check_good(g[3], spmv(c, X5))


def test_no_x_loaded_flags_and_recovers():
    dut = CSRSpMV(max_rows=8, max_cols=8)
    c = from_dense(SLIDES)
    empty = from_dense(np.zeros((2, 5), dtype=int))
    ys, _ = simulate(dut, [mat_job(empty), mat_job(c), x_job(X5), mat_job(c)], seed=2, pause=0.2)
    g0, g1, g2 = split(ys, [2, 4, 4])
    check_good(g0, [0, 0])   # an all-empty matrix needs no x
    check_bad(g1)
    assert [y[0] for y in g1] == [0] * 4
    check_good(g2, spmv(c, X5))


def test_error_holds_after_last_until_next_matrix():
    """error follows the offered y, then holds the last taken y's value while idle."""
    dut = CSRSpMV(max_rows=8, max_cols=8)
    bad = CSR([0, 1], [7], [1], (1, 8))
    good = from_dense(SLIDES)
    trace = []

    def ready(taken):   # leave the bad matrix's y waiting for 10 cycles
        return taken > 0 or sum(t[0] for t in trace) >= 10

    jobs = [x_job(X5), mat_job(bad, check=False), ("gap", 30), mat_job(good)]
    ys, _ = simulate(dut, jobs, ready=ready, trace=trace)
    bad_y, good_y = split(ys, [1, 4])
    check_bad(bad_y)
    check_good(good_y, spmv(good, X5))
    first_valid = next(i for i, t in enumerate(trace) if t[0])
    waiting = trace[first_valid:first_valid + 8]
    assert waiting == [(1, 1, 1)] * 8            # offered, not taken: error and busy high
    after = trace[first_valid + 12:first_valid + 20]
    assert after == [(0, 1, 0)] * 8              # taken: idle, error held
    assert trace[-1][1] == 0
