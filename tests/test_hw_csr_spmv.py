"""amaranth.sim unit tests of hw/csr_spmv.py against golden/csr.py.

Every test drives the block through its three input streams (with optional random
pauses) and drains ``y`` (with optional random backpressure), then compares each y with
:func:`golden.csr.spmv`, checks one y per announced row with ``last`` on the final one,
the ``error`` flag at every beat, and, where nothing stalls, the exact cycle count.
"""
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from amaranth.hdl import Elaboratable, Fragment, Module, Signal
from amaranth.sim import Simulator

from golden.csr import CSR, from_dense, spmv, to_signed, to_streams
from hw.csr_spmv import CSRSpMV, matrix_cycles


class _Harness(Elaboratable):
    """The block plus a free-running cycle counter sampled at every transfer."""

    def __init__(self, dut):
        self.dut = dut
        self.cycle = Signal(32)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        m.d.sync += self.cycle.eq(self.cycle + 1)
        return m


def framed(words):
    """(data, last) pairs with last on the final word."""
    return [(w, i == len(words) - 1) for i, w in enumerate(words)]


def x_job(x, width=16):
    return ("x", framed([int(v) & ((1 << width) - 1) for v in x]))


def mat_job(csr, **kw):
    s = to_streams(csr, **kw)
    return ("mat", framed(s.rows), framed(s.nz))


def simulate(dut, jobs, *, seed=0, pause=0.0, ready=1.0, max_cycles=4000, trace=None,
             x_race=False):
    """Run ``jobs`` (("x", words) / ("mat", rows, nz) / ("gap", cycles), in order).

    Returns (ys, starts): ys is a list of (y, last, error, cycle) per y transfer; starts
    the cycle of each matrix's first row transfer.  An x vector is presented once all
    rows of the matrices before it are sent, a matrix once the x before it is sent and
    any gap before it has passed (with ``x_race``, as soon as that x is first offered,
    so both compete).  ``ready`` is a probability, or a function of the number of ys
    taken so far; ``trace`` (a list) receives (valid, error, busy) per cycle.
    """
    rng = random.Random(seed)
    h = _Harness(dut)
    mats = [j for j in jobs if j[0] == "mat"]
    n_ys = sum(len(j[1]) for j in mats)
    state = {"mats_sent": 0, "x_sent": 0, "x_offered": 0}
    x_plan, seen = [], 0   # (matrices before this x, words)
    gaps = [0] * (len(mats) + 1)   # idle cycles before each matrix
    for job in jobs:
        if job[0] == "x":
            x_plan.append((seen, job[1]))
        elif job[0] == "gap":
            gaps[seen] += job[1]
        else:
            seen += 1
    x_before = [sum(1 for k, _ in x_plan if k <= i) for i in range(len(mats))]
    ys, starts = [], []

    async def put(ctx, stream, data, last):
        while pause and rng.random() < pause:
            await ctx.tick()
        ctx.set(stream.valid, 1)
        ctx.set(stream.payload, {"data": data, "last": last})
        cycle, = await ctx.tick().sample(h.cycle).until(stream.ready)
        ctx.set(stream.valid, 0)
        return cycle

    async def x_driver(ctx):
        for before, words in x_plan:
            while state["mats_sent"] < before:
                await ctx.tick()
            state["x_offered"] += 1
            for data, last in words:
                await put(ctx, dut.x, data, last)
            state["x_sent"] += 1

    async def row_driver(ctx):
        for i, (_, rows, _) in enumerate(mats):
            while state["x_offered" if x_race else "x_sent"] < x_before[i]:
                await ctx.tick()
            for _ in range(gaps[i]):
                await ctx.tick()
            for k, (data, last) in enumerate(rows):
                cycle = await put(ctx, dut.row, data, last)
                if k == 0:
                    starts.append(cycle)
            state["mats_sent"] += 1

    async def nz_driver(ctx):
        for _, _, nz in mats:
            for data, last in nz:
                await put(ctx, dut.nz, data, last)

    async def collector(ctx):
        while len(ys) < n_ys:
            take = ready(len(ys)) if callable(ready) else ready >= 1.0 or rng.random() < ready
            ctx.set(dut.y.ready, take)
            _, _, valid, data, last, err, busy, cycle = await ctx.tick().sample(
                dut.y.valid, dut.y.payload.data, dut.y.payload.last, dut.error, dut.busy, h.cycle)
            if trace is not None:
                trace.append((valid, err, busy))
            if take and valid:
                ys.append((to_signed(data, dut.yf), last, err, cycle))
            if cycle > max_cycles:
                raise AssertionError(f"hang: {len(ys)} of {n_ys} y after {cycle} cycles")
        ctx.set(dut.y.ready, 0)
        for _ in range(3):    # nothing may follow the expected ys
            _, _, valid = await ctx.tick().sample(dut.y.valid)
            assert not valid, "a y beyond the announced rows"

    sim = Simulator(h)
    sim.add_clock(1e-6)
    for driver in (x_driver, row_driver, nz_driver):
        sim.add_testbench(driver, background=True)
    sim.add_testbench(collector)
    sim.run()
    return ys, starts


def split(ys, mats):
    """Group y transfers per matrix, checking the count and the last flags."""
    out, pos = [], 0
    for rows in mats:
        group = ys[pos:pos + rows]
        assert len(group) == rows
        assert [g[1] for g in group] == [0] * (rows - 1) + [1], "last must mark only the final row"
        out.append(group)
        pos += rows
    assert pos == len(ys)
    return out


def check_good(group, expected):
    assert [g[0] for g in group] == list(expected)
    assert [g[2] for g in group] == [0] * len(group), "error raised on a good matrix"


def check_bad(group):
    errs = [g[2] for g in group]
    assert errs[-1] == 1, "error must be high at the bad matrix's last y"
    assert errs == sorted(errs), "error must stay high once raised within a matrix"


SLIDES = np.array([[0, 0, 3, 0, 4], [0, 0, 0, 0, 0], [5, 0, 0, 7, 0], [0, 8, 0, 0, 6]])


def random_matrix(rng, rows, cols, density, width=16):
    lo, hi = -(1 << (width - 1)), 1 << (width - 1)
    a = rng.integers(lo, hi, size=(rows, cols))
    a[rng.random((rows, cols)) < 0.15] = lo
    return a * (rng.random((rows, cols)) < density)


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
    """NNZ = 0: every y is 0, each empty row costs one cycle, no nz is needed."""
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
    assert [matrix_cycles(np.diff(c.row_ptr)) for c in csrs] == [s + 4 for s in steps]
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


# ------------------------------------------------------------------ bad input


def _bad_then_good(dut, bad_jobs, nrows_bad, x, seed=0):
    """Run a malformed matrix followed by the slides matrix; return the bad group."""
    good = from_dense(SLIDES[:, :len(x)]) if len(x) < 5 else from_dense(SLIDES)
    jobs = [x_job(x)] + bad_jobs + [mat_job(good)]
    ys, _ = simulate(dut, jobs, seed=seed, pause=0.2, ready=0.7)
    bad, ok = split(ys, [nrows_bad, 4])
    check_bad(bad)
    check_good(ok, spmv(good, x))
    return bad


X5 = np.array([2, -3, 5, 7, -11])


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


@st.composite
def garbled_matrices(draw):
    """Row lengths and nz beats with random defects (or none): lengths beyond ncols,
    too many rows, beat counts off by some, columns and values out of range.  Framing
    is kept: a matrix announcing non-zeros sends at least one beat, last on the final."""
    lanes = draw(st.sampled_from([1, 4]))
    ncols = draw(st.integers(1, 6))
    n_rows = draw(st.integers(1, 7))
    rows = [draw(st.one_of(st.integers(0, ncols), st.integers(0, ncols),
                           st.sampled_from([ncols + 1, 0xFFFF]))) for _ in range(n_rows)]
    expected = sum(-(-n // lanes) for n in rows if n <= ncols)
    n_beats = draw(st.one_of(st.just(expected), st.integers(max(expected - 2, 1), expected + 2)))
    n_beats = max(n_beats, 1) if any(rows) else 0
    col = st.one_of(st.integers(0, ncols - 1), st.integers(0, ncols - 1), st.integers(ncols, 0xFFFF))
    val = st.one_of(st.integers(-2048, 2047), st.integers(-2048, 2047), st.sampled_from([2048, -2049]))
    beats = [[(draw(col), draw(val)) for _ in range(lanes)] for _ in range(n_beats)]
    return lanes, ncols, rows, beats


def _expected_if_wellformed(lanes, ncols, max_rows, rows, beats, x):
    """The golden y when the streams are a valid matrix, else None."""
    if len(rows) > max_rows or any(n > ncols for n in rows):
        return None
    if len(beats) != sum(-(-n // lanes) for n in rows):
        return None
    cols, vals, it = [], [], iter(beats)
    for n in rows:
        for b in range(-(-n // lanes)):
            for c, v in next(it)[:min(lanes, n - b * lanes)]:
                cols.append(c)
                vals.append(v)
    if any(c >= ncols for c in cols) or any(not -2048 <= v < 2048 for v in vals):
        return None
    m = CSR(np.concatenate(([0], np.cumsum(rows))), cols, np.array(vals, dtype=np.int64), (len(rows), ncols))
    return spmv(m, x, value_width=12, lanes=lanes)


@settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(garbled_matrices(), st.integers(0, 2**16))
def test_garbled_streams_never_hang_and_recover(case, seed):
    """Any defect: one y per announced row, last on the final one, error at last, no
    hang, and the following good matrix is exact.  A clean draw must be exact too."""
    lanes, ncols, rows, beats = case
    max_rows = 6
    dut = CSRSpMV(value_width=12, lanes=lanes, max_rows=max_rows, max_cols=8)
    x = np.arange(1, ncols + 1) * np.where(np.arange(ncols) % 2, -3, 5)
    slot = lambda c, v: c << 16 | (v & 0xFFFF)
    words = [sum(slot(c, v) << (32 * k) for k, (c, v) in enumerate(b)) for b in beats]
    good = from_dense(np.array([[0, 3, 0, 0, 0, 1][:ncols], [2, 0, 0, 0, 0, 0][:ncols]]))
    jobs = [x_job(x), ("mat", framed(rows), framed(words)), mat_job(good, value_width=12, lanes=lanes)]
    ys, _ = simulate(dut, jobs, seed=seed, pause=0.2, ready=0.7, max_cycles=600)
    garbled, ok = split(ys, [len(rows), 2])
    expected = _expected_if_wellformed(lanes, ncols, max_rows, rows, beats, x)
    if expected is None:
        check_bad(garbled)
    else:
        check_good(garbled, expected)
    check_good(ok, spmv(good, x, value_width=12, lanes=lanes))


# ------------------------------------------------------------------ lanes > 1


@pytest.mark.parametrize("lanes, overflow", [(2, "saturate"), (4, "wrap"), (8, "saturate")])
def test_lanes_match_golden_and_cycle_count(lanes, overflow):
    dut = CSRSpMV(lanes=lanes, overflow=overflow, value_width=8, x_width=8, acc_width=16,
                  max_rows=16, max_cols=16)
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
