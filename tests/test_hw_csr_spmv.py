"""amaranth.sim unit tests of hw/csr_spmv.py against golden/csr.py.

Every test drives the block through its three input streams (with optional random
pauses) and drains ``y`` (with optional random backpressure), then compares each y with
:func:`golden.csr.spmv`, checks one y per announced row with ``last`` on the final one,
the ``error`` flag at every beat, and, where nothing stalls, the exact cycle count.  After
the last y the block must go idle with every row and nz beat taken, so a matrix that
consumed too few or too many nz beats fails even when its results look right (the run:
tests/csr_sim.py).  Bad input: tests/test_hw_csr_spmv_badinput.py; framing and the null
beat: tests/test_hw_csr_spmv_framing.py.
"""
import numpy as np
import pytest
from amaranth.hdl import Fragment

from csr_sim import (SLIDES, X5, check_bad, check_good, framed, mat_job, random_matrix,
                     simulate, split, x_job)
from golden.csr import CSR, from_dense, spmv, to_streams
from hw.csr_spmv import CSRSpMV

# ------------------------------------------------------------------ correctness


def test_slides_example_and_cycle_count():
    dut = CSRSpMV(max_rows=8, max_cols=8)
    x = np.array([1, -2, 3, -4, 5])
    c = from_dense(SLIDES)
    ys, starts = simulate(dut, [x_job(x), mat_job(c)])
    check_good(split(ys, [4])[0], spmv(c, x))
    # 6 non-zeros + 1 empty row, plus the row-length cycle and the pipeline.
    assert ys[-1][3] - starts[0] + 1 == 6 + 1 + 1 + dut.latency


@pytest.mark.parametrize("overflow, widths, seed", [
    ("wrap", (16, 16, 32), 1),
    ("saturate", (16, 16, 32), 2),
    ("wrap", (8, 8, 16), 3),
    ("saturate", (8, 8, 16), 4),
    ("saturate", (12, 10, 24), 5),
])
def test_random_back_to_back_with_backpressure(overflow, widths, seed):
    """Densities 0/10/50/100%, rectangular shapes, x reloads, random pauses and ready."""
    vw, xw, aw = widths
    dut = CSRSpMV(value_width=vw, x_width=xw, acc_width=aw, overflow=overflow, max_rows=16, max_cols=12)
    rng = np.random.default_rng(seed)
    jobs, expected = [], []
    for cols in (7, 12):
        x = rng.integers(-(1 << (xw - 1)), 1 << (xw - 1), size=cols)
        x[rng.random(cols) < 0.3] = -(1 << (xw - 1))
        jobs.append(x_job(x, dut.xf))
        for density in (0.0, 0.1, 0.5, 1.0):
            a = random_matrix(rng, int(rng.integers(1, 9)), cols, density, vw)
            c = from_dense(a)
            jobs.append(mat_job(c, value_width=vw))
            expected.append(spmv(c, x, value_width=vw, x_width=xw, acc_width=aw, overflow=overflow))
    ys, _ = simulate(dut, jobs, seed=seed, pause=0.3, ready=0.6, max_cycles=6000)
    for group, exp in zip(split(ys, [len(e) for e in expected]), expected):
        check_good(group, exp)


def test_saturation_happens_per_step():
    """Rows 0 and 2 end in range but pass out of it on the way (so clamping after every
    step differs from wrapping or clamping once); row 1 ends below the range."""
    dut = CSRSpMV(value_width=8, x_width=8, acc_width=16, overflow="saturate", max_rows=4, max_cols=4)
    x = np.array([127, 127, 127, -128])
    a = np.array([[127, 127, 127, 127], [-128, -128, -128, 0], [-128, -128, -128, -128]])
    c = from_dense(a)
    p = 127 * 127
    exp = [(1 << 15) - 1 - 16256, -(1 << 15), -(1 << 15) + 16384]
    assert spmv(c, x, value_width=8, x_width=8, acc_width=16, overflow="saturate").tolist() == exp
    assert (a @ x).tolist() == [3 * p - 16256, -3 * 16256, -3 * 16256 + 16384]
    assert -(1 << 15) <= 3 * p - 16256 < 1 << 15 and -(1 << 15) <= -3 * 16256 + 16384
    ys, _ = simulate(dut, [x_job(x, 8), mat_job(c, value_width=8)])
    check_good(split(ys, [3])[0], exp)


def test_empty_matrix_all_empty_rows_and_cycles():
    """NNZ = 0: every y is 0, each empty row costs one cycle, the null beat none."""
    dut = CSRSpMV(max_rows=16, max_cols=4)
    x = np.array([1, 2, 3, 4])
    one = from_dense(np.zeros((1, 4), dtype=int))
    many = from_dense(np.zeros((9, 4), dtype=int))
    ys, starts = simulate(dut, [x_job(x), mat_job(one), mat_job(many)])
    g1, g2 = split(ys, [1, 9])
    check_good(g1, [0])
    check_good(g2, [0] * 9)
    assert g2[-1][3] - starts[1] + 1 == 9 + 1 + dut.latency


def test_cycle_bound_back_to_back_no_stall():
    """Σ(NNZ + empty rows) + constant for a train of matrices: no gap at row or matrix
    boundaries, no stall when consecutive non-zeros hit the same row (one 40-wide row)."""
    dut = CSRSpMV(max_rows=16, max_cols=40)
    rng = np.random.default_rng(7)
    x = rng.integers(-1000, 1000, size=40)
    shapes = [np.ones((1, 40), dtype=int) * 3,              # one long row
              random_matrix(rng, 10, 40, 0.1),              # many empty / short rows
              random_matrix(rng, 6, 40, 0.5),
              np.zeros((5, 40), dtype=int),                  # all empty
              random_matrix(rng, 3, 40, 1.0)]
    csrs = [from_dense(a) for a in shapes]
    ys, starts = simulate(dut, [x_job(x)] + [mat_job(c) for c in csrs])
    groups = split(ys, [c.nrows for c in csrs])
    steps = []
    for c, g in zip(csrs, groups):
        check_good(g, spmv(c, x))
        steps.append(c.nnz + int(np.sum(np.diff(c.row_ptr) == 0)))
    for i, (s, g) in enumerate(zip(steps, groups)):
        assert g[-1][3] - starts[i] + 1 == s + 1 + dut.latency, f"matrix {i}"
    # Back to back: each matrix's first row length is taken while the previous one ends.
    assert ys[-1][3] - starts[0] + 1 == sum(steps) + 1 + dut.latency
    assert [CSRSpMV.cycles(np.diff(c.row_ptr)) for c in csrs] == [s + 6 for s in steps]
    for prev, nxt, s in zip(starts, starts[1:], steps):
        assert nxt - prev == s


def test_long_y_stall_loses_nothing():
    """y held off for 60 cycles with 20 rows in flight: the inputs stall, no y is lost."""
    dut = CSRSpMV(max_rows=32, max_cols=8)
    rng = np.random.default_rng(11)
    x = rng.integers(-100, 100, size=8)
    csrs = [from_dense(random_matrix(rng, 20, 8, 0.2)), from_dense(random_matrix(rng, 12, 8, 0.4))]
    trace = []

    def ready(taken):
        return len(trace) > 60 and (taken % 7 != 3 or len(trace) % 5 == 0)

    ys, _ = simulate(dut, [x_job(x)] + [mat_job(c) for c in csrs], ready=ready, trace=trace)
    for c, g in zip(csrs, split(ys, [20, 12])):
        check_good(g, spmv(c, x))


@pytest.mark.parametrize("x_race", [False, True])
def test_x_reuse_and_reload_between_matrices(x_race):
    """x_race offers the new x in the same cycle as the next matrix: x must go first."""
    dut = CSRSpMV(max_rows=4, max_cols=6)
    c = from_dense(SLIDES)
    x1, x2 = np.array([1, 2, 3, 4, 5]), np.array([-7, 0, 9, 1, -1, 100])
    c2 = from_dense(np.array([[1, 0, 0, 0, 0, 2], [0, 3, 0, 0, 4, 0]]))
    jobs = [x_job(x1), mat_job(c), mat_job(c), x_job(x2), mat_job(c2), x_job(x1), mat_job(c)]
    ys, _ = simulate(dut, jobs, pause=0.0 if x_race else 0.2, ready=0.7, seed=3, x_race=x_race)
    g = split(ys, [4, 4, 2, 4])
    for group, exp in zip(g, [spmv(c, x1), spmv(c, x1), spmv(c2, x2), spmv(c, x1)]):
        check_good(group, exp)


@pytest.mark.parametrize("lanes", [1, 4])
def test_x_reload_costs_ncols_plus_one(lanes):
    """With x offered as soon as the rows before it are sent, the next matrix starts
    ncols + 1 cycles after the previous matrix's final step (back to back: 0)."""
    dut = CSRSpMV(lanes=lanes, max_rows=8, max_cols=8)
    for n in (1, 5, 8):
        x1, x2 = np.arange(1, n + 1), np.arange(n, 0, -1) * 3
        a = from_dense(np.ones((3, n), dtype=int))
        b = from_dense(np.array([[2] * n, [0] * n, [0] * (n - 1) + [-1]]))   # ends in a 1
        a_steps, b_steps = 3 * -(-n // lanes), -(-n // lanes) + 2
        jobs = [x_job(x1), mat_job(a, lanes=lanes), mat_job(b, lanes=lanes), x_job(x2),
                mat_job(a, lanes=lanes)]
        ys, starts = simulate(dut, jobs, x_race=True)
        for m, xv, g in zip((a, b, a), (x1, x1, x2), split(ys, [3, 3, 3])):
            check_good(g, spmv(m, xv, lanes=lanes))
        assert starts[1] - starts[0] == a_steps
        assert starts[2] - starts[1] == b_steps + n + 1, f"ncols {n}"


# ------------------------------------------------------------------ lanes > 1


@pytest.mark.parametrize("lanes, overflow, multipliers",
                         [(2, "saturate", "dsp"), (4, "wrap", "dsp"), (8, "saturate", "dsp"),
                          (1, "wrap", "lut"), (4, "saturate", "lut")])
def test_lanes_match_golden_and_cycle_count(lanes, overflow, multipliers):
    dut = CSRSpMV(lanes=lanes, overflow=overflow, value_width=8, x_width=8, acc_width=16,
                  max_rows=16, max_cols=16, multipliers=multipliers)
    assert dut.latency == CSRSpMV.latency_of(lanes, multipliers=multipliers, x_width=8)
    rng = np.random.default_rng(lanes)
    x = rng.integers(-128, 128, size=16)
    csrs = [from_dense(random_matrix(rng, r, 16, d, 8))
            for r, d in ((6, 1.0), (8, 0.3), (4, 0.0), (9, 0.6))]
    kw = dict(value_width=8, x_width=8, acc_width=16, overflow=overflow, lanes=lanes)
    ys, starts = simulate(dut, [x_job(x, 8)] + [mat_job(c, value_width=8, lanes=lanes) for c in csrs])
    steps = [int(np.maximum(1, -(-np.diff(c.row_ptr) // lanes)).sum()) for c in csrs]
    for c, g in zip(csrs, split(ys, [c.nrows for c in csrs])):
        check_good(g, spmv(c, x, **kw))
    assert ys[-1][3] - starts[0] + 1 == sum(steps) + 1 + dut.latency
    # Randomly stalled, with a malformed matrix in the middle.
    bad = CSR([0, 5, 6], list(range(5)) + [20], [1] * 6, (2, 16))
    jobs = [x_job(x, 8), mat_job(csrs[0], value_width=8, lanes=lanes),
            mat_job(bad, value_width=8, lanes=lanes, check=False),
            mat_job(csrs[3], value_width=8, lanes=lanes)]
    ys, _ = simulate(dut, jobs, seed=lanes, pause=0.3, ready=0.6)
    g0, g1, g2 = split(ys, [6, 2, 9])
    check_good(g0, spmv(csrs[0], x, **kw))
    check_bad(g1)
    assert g1[0][0] == int(x[:5].sum())
    check_good(g2, spmv(csrs[3], x, **kw))


def test_lanes_early_last_and_drain():
    dut = CSRSpMV(lanes=2, max_rows=8, max_cols=8)
    slot = lambda col, val: col << 16 | val
    early = ("mat", framed([5, 2]), framed([slot(0, 1) | slot(1, 1) << 32]))       # last in row 0
    extra = ("mat", framed([1]), framed([slot(2, 1), slot(3, 1) | slot(4, 1) << 32]))
    good = from_dense(SLIDES)
    ys, _ = simulate(dut, [x_job(X5), early, extra, mat_job(good, lanes=2)], seed=1, pause=0.3, ready=0.6)
    g0, g1, ok = split(ys, [2, 1, 4])
    check_bad(g0)
    check_bad(g1)
    assert [g[0] for g in g0] == [X5[0] + X5[1], 0] and g1[0][0] == X5[2]
    check_good(ok, spmv(good, X5, lanes=2))


def test_lanes_ignore_unused_slots():
    """Slots past a row's length in its final beat are don't-care, even if garbage."""
    dut = CSRSpMV(lanes=4, max_rows=8, max_cols=8)
    c = from_dense(SLIDES)
    s = to_streams(c, lanes=4)
    junk = 0xFFFF << 16 | 0x8001          # col 65535, value -32767 in every slot
    fill = sum(junk << (32 * k) for k in range(4))
    used = (1 << 64) - 1                  # every non-empty row has 2 non-zeros: slots 0, 1
    nz = [w | (fill & ~used) for w in s.nz]
    ys, _ = simulate(dut, [x_job(X5), ("mat", framed(s.rows), framed(nz))])
    check_good(split(ys, [4])[0], spmv(c, X5))


def test_narrow_col_field_with_full_memory():
    """col_width 8 with max_cols 256: every 8-bit column is in range once x fills memory."""
    dut = CSRSpMV(col_width=8, max_rows=4, max_cols=256)
    rng = np.random.default_rng(5)
    x = rng.integers(-1000, 1000, size=256)
    a = np.zeros((3, 256), dtype=int)
    a[0, [0, 128, 255]] = [1, -2, 3]
    a[2, 255] = -7
    c = from_dense(a)
    short = from_dense(a[:, :200])
    ys, _ = simulate(dut, [x_job(x), mat_job(c, col_width=8), x_job(x[:200]),
                           mat_job(c, col_width=8, check=False), mat_job(short, col_width=8)])
    g0, g1, g2 = split(ys, [3, 3, 3])
    check_good(g0, spmv(c, x))
    check_bad(g1)                         # columns 200..255 are now beyond ncols
    assert [y[0] for y in g1] == [x[0] - 2 * x[128], 0, 0]
    check_good(g2, spmv(short, x[:200]))


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize("kwargs, message", [
    (dict(value_width=0), "value_width must be an integer in"),
    (dict(acc_width=31), "acc_width must be an integer in"),
    (dict(overflow="clip"), "overflow must be 'wrap' or 'saturate'"),
    (dict(max_rows=0), "max_rows must be an integer in"),
    (dict(max_cols=1 << 16 | 1), "max_cols must be an integer in"),
    (dict(max_cols=300, row_width=8, col_width=16), "row_width 8 cannot hold a row length"),
    (dict(lanes=0), "lanes must be an integer in"),
    (dict(lanes=3), "lanes must be a power of two"),
    (dict(col_width=12), "col_width must be 8, 16, 24 or 32"),
    (dict(max_rows=True), "max_rows must be an integer"),
])
def test_parameter_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CSRSpMV(**kwargs)


def test_stream_widths_are_byte_multiples():
    dut = CSRSpMV(value_width=12, x_width=10, acc_width=40, lanes=4, col_width=8, max_cols=200)
    widths = {name: len(getattr(dut, name).payload.data) for name in ("x", "row", "nz", "y")}
    assert widths == {"x": 16, "row": 16, "nz": 4 * (16 + 8), "y": 40}
    Fragment.get(dut, None)   # and it elaborates


def test_rejected_parameters_leave_no_unused_component():
    """Parameters are checked before the component exists (hw.datapath.CheckedFirst), so
    a ValueError comes alone, without Amaranth's "created but never used" warning."""
    import gc
    import warnings

    # Amaranth stays silent about unused components until something has been elaborated.
    Fragment.get(CSRSpMV(max_rows=4, max_cols=4), None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for kwargs in (dict(lanes=3), dict(col_width=12), dict(max_cols=300, row_width=8)):
            try:
                CSRSpMV(**kwargs)
            except ValueError:
                pass
        gc.collect()
    assert not [w for w in caught if "never used" in str(w.message)]


@pytest.mark.parametrize("vw, xw", [(16, 16), (5, 3), (3, 1)])
def test_lut_multipliers_are_exact_at_the_extremes(vw, xw):
    """Radix-4 LUT products: every extreme value times every extreme x, odd widths too."""
    dut = CSRSpMV(value_width=vw, x_width=xw, acc_width=vw + xw, max_rows=8, max_cols=8,
                  multipliers="lut")
    lo_v, hi_v, lo_x, hi_x = -(1 << vw - 1), (1 << vw - 1) - 1, -(1 << xw - 1), (1 << xw - 1) - 1
    x = np.array(sorted({lo_x, hi_x, 0, -1, 1 if xw > 1 else 0}), dtype=np.int64)
    a = np.array([[lo_v] * len(x), [hi_v] * len(x), [-1] * len(x), [lo_v + 1] * len(x)])
    kw = dict(value_width=vw, x_width=xw, acc_width=vw + xw)
    xf = 8 * -(-xw // 8)                      # the x stream field: sign-extended bytes
    for col in range(len(x)):
        m = np.zeros_like(a)
        m[:, col] = a[:, col]
        c = from_dense(m)
        ys, _ = simulate(dut, [x_job(x, xf), mat_job(c, value_width=vw)])
        check_good(ys, spmv(c, x, **kw))
