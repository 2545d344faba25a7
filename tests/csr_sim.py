"""CSR SpMV in the Amaranth simulator: jobs, the run, and the checks shared by
tests/test_hw_csr_spmv.py and tests/test_hw_csr_spmv_framing.py (built on
:mod:`amaranth_sim`).

A run is a list of *jobs*: ``("x", words)``, ``("mat", rows, nz)`` (each a
:func:`amaranth_sim.framed` list) or ``("gap", cycles)``.  :func:`simulate` drives them
and returns every y transfer as ``(y, last, error, cycle)``.
"""

import numpy as np

from amaranth_sim import StreamSim, framed
from golden.csr import to_signed, to_streams
from golden.csr_lenient import XMemory, load_x, spmv_lenient

__all__ = ["framed", "x_job", "mat_job", "simulate", "split", "check_good", "check_bad",
           "SLIDES", "X5", "random_matrix", "expected_stream"]

SLIDES = np.array([[0, 0, 3, 0, 4], [0, 0, 0, 0, 0], [5, 0, 0, 7, 0], [0, 8, 0, 0, 6]])
X5 = np.array([2, -3, 5, 7, -11])


def x_job(x, width=16):
    return ("x", framed([int(v) & ((1 << width) - 1) for v in x]))


def mat_job(csr, **kw):
    s = to_streams(csr, **kw)
    return ("mat", framed(s.rows), framed(s.nz))


def random_matrix(rng, rows, cols, density, width=16):
    lo, hi = -(1 << (width - 1)), 1 << (width - 1)
    a = rng.integers(lo, hi, size=(rows, cols))
    a[rng.random((rows, cols)) < 0.15] = lo
    return a * (rng.random((rows, cols)) < density)


def _plan(jobs):
    """Matrices, the x vectors with how many matrices precede each, and idle gaps."""
    mats = [j for j in jobs if j[0] == "mat"]
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
    return mats, x_plan, gaps, x_before


def simulate(dut, jobs, *, seed=0, pause=0.0, ready=1.0, max_cycles=4000, trace=None,
             x_race=False, nz_delay=0):
    """Run ``jobs`` (("x", words) / ("mat", rows, nz) / ("gap", cycles), in order).

    Returns (ys, starts): ys is a list of (y, last, error, cycle) per y transfer; starts
    the cycle of each matrix's first row transfer.  An x vector is presented once all
    rows of the matrices before it are sent, a matrix once the x before it is sent and
    any gap before it has passed (with ``x_race``, as soon as that x is first offered,
    so both compete).  ``ready`` is a probability, or a function of the number of ys
    taken so far; ``trace`` (a list) receives (valid, error, busy) per cycle.  ``nz``
    starts ``nz_delay`` cycles late.  After the last y the block must go idle (``busy``
    low) with every row and nz beat taken: each matrix consumed exactly its own frame.
    """
    sim = StreamSim(dut, seed=seed)
    mats, x_plan, gaps, x_before = _plan(jobs)
    n_ys = sum(len(j[1]) for j in mats)
    state = {"mats_sent": 0, "x_sent": 0, "x_offered": 0,
             "nz_left": sum(len(j[2]) for j in mats)}
    ys, starts = [], []

    async def x_driver(ctx):
        for before, words in x_plan:
            while state["mats_sent"] < before:
                await ctx.tick()
            state["x_offered"] += 1
            for data, last in words:
                await sim.put(ctx, dut.x, data, last, pause=pause)
            state["x_sent"] += 1

    async def row_driver(ctx):
        for i, (_, rows, _) in enumerate(mats):
            while state["x_offered" if x_race else "x_sent"] < x_before[i]:
                await ctx.tick()
            for _ in range(gaps[i]):
                await ctx.tick()
            for k, (data, last) in enumerate(rows):
                cycle = await sim.put(ctx, dut.row, data, last, pause=pause)
                if k == 0:
                    starts.append(cycle)
            state["mats_sent"] += 1

    async def nz_driver(ctx):
        for _ in range(nz_delay):
            await ctx.tick()
        for _, _, nz in mats:
            for data, last in nz:
                await sim.put(ctx, dut.nz, data, last, pause=pause)
                state["nz_left"] -= 1

    async def collector(ctx):
        while len(ys) < n_ys:
            take = ready(len(ys)) if callable(ready) else sim.wants(ready)
            taken, valid, data, last, err, busy, cycle = await sim.get(
                ctx, dut.y, ready=take, sample=(dut.error, dut.busy))
            if trace is not None:
                trace.append((valid, err, busy))
            if taken:
                ys.append((to_signed(data, dut.yf), last, err, cycle))
            if cycle > max_cycles:
                raise AssertionError(f"hang: {len(ys)} of {n_ys} y after {cycle} cycles")
        for k in range(300):    # nothing may follow the expected ys; the block goes idle
            _, valid, _, _, busy, _ = await sim.get(ctx, dut.y, ready=0, sample=(dut.busy,))
            assert not valid, "a y beyond the announced rows"
            if k >= 3 and not busy and not state["nz_left"] and state["mats_sent"] == len(mats):
                break
        else:
            raise AssertionError(f"not idle after the last y: busy {busy}, {state['nz_left']} "
                                 f"nz beats left, rows of {state['mats_sent']} of {len(mats)} "
                                 f"matrices sent")

    sim.run(collector, background=(x_driver, row_driver, nz_driver))
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


def expected_stream(jobs, *, lanes, value_width, x_width, acc_width, overflow, max_rows,
                    max_cols, col_width=16):
    """What the block must answer to ``jobs``, from the golden stream model
    (:func:`golden.csr_lenient.load_x`, :func:`golden.csr_lenient.spmv_lenient`): (y, last, error) per
    row of every matrix, in order."""
    xmem, out = XMemory.EMPTY, []
    for job in jobs:
        if job[0] == "x":
            xmem = load_x([d for d, _ in job[1]], x_width=x_width, max_cols=max_cols)
        elif job[0] == "mat":
            rows, nz = job[1], job[2]
            assert nz and nz[-1][1] and not any(l for _, l in nz[:-1]), "one frame"
            ys, errs = spmv_lenient([r for r, _ in rows], [w for w, _ in nz], xmem,
                                    lanes=lanes, value_width=value_width, acc_width=acc_width,
                                    overflow=overflow, max_rows=max_rows, col_width=col_width)
            out += [(y, int(i == len(ys) - 1), int(e)) for i, (y, e) in enumerate(zip(ys, errs))]
    return out
