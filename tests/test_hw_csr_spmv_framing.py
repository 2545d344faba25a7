"""amaranth.sim tests of csr_spmv's framing: every matrix pairs with exactly its own nz
frame, whatever the rows announce and however long the frame (the null beat of a matrix
without non-zeros included), and the block answers any streams exactly as the golden
stream model says (:func:`golden.csr_lenient.spmv_lenient`; the run: tests/csr_sim.py).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from csr_sim import (SLIDES, X5, check_bad, check_good, expected_stream, framed, mat_job,
                     simulate, split, x_job)
from golden.csr import CSR, from_dense, spmv, to_streams
from golden.csr_lenient import from_streams
from hw.csr_spmv import CSRSpMV


GARBAGE_KW = dict(value_width=12, x_width=8, acc_width=20)


@st.composite
def framed_sequences(draw):
    """x, then 3 to 6 matrices alternating freely between valid ones (golden packing) and
    garbage: any row lengths (empty, in range, beyond ncols, 0xFFFF, too many rows) with
    an nz frame of any length >= 1 beat, its beats null, in range or out of range.  The
    sequence always ends with a valid matrix."""
    lanes = draw(st.sampled_from([1, 2, 4]))
    overflow = draw(st.sampled_from(["wrap", "saturate"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ncols = draw(st.integers(1, 8))
    kinds = draw(st.lists(st.sampled_from(["valid", "garbage", "garbage"]), min_size=2,
                          max_size=5)) + ["valid"]
    mats = []
    for kind in kinds:
        if kind == "valid":
            a = rng.integers(-2048, 2048, size=(draw(st.integers(1, 6)), ncols))
            a *= rng.random(a.shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))
            mats.append(("valid", from_dense(a)))
            continue
        n_rows = draw(st.integers(1, 8))                  # max_rows is 6
        if draw(st.booleans()):
            rows = [0] * n_rows                           # announces none
        else:
            rows = [draw(st.sampled_from([0, 0, 1, ncols, ncols + 1, 0xFFFF,
                                          int(rng.integers(0, ncols + 1))]))
                    for _ in range(n_rows)]
        need = max(1, sum(-(-n // lanes) for n in rows if n <= ncols))
        n_beats = draw(st.sampled_from([need, need, 1, need + 1, max(1, need - 1),
                                        need + 3]))
        null_p = draw(st.sampled_from([0.0, 0.5, 1.0]))
        beats = []
        for _ in range(n_beats):
            if rng.random() < null_p:
                beats.append(0)
                continue
            word = 0
            for k in range(lanes):
                col = int(rng.integers(0, ncols)) if rng.random() < 0.85 else \
                    int(rng.integers(ncols, 1 << 16))
                val = int(rng.integers(-2048, 2048)) if rng.random() < 0.9 else \
                    int(rng.choice([2048, -2049, -32768]))
                word |= (col << 16 | val & 0xFFFF) << (32 * k)
            beats.append(word)
        mats.append(("garbage", (rows, beats)))
    return lanes, overflow, ncols, mats


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(framed_sequences(), st.integers(0, 2**16), st.sampled_from([0.0, 0.3]))
def test_framed_garbage_never_shifts_results_or_hangs(case, seed, pause):
    """Any defect in any number of matrices, each with its own nz frame: exactly one y per
    announced row and tlast for every matrix, no hang, every nz beat consumed, every valid
    matrix exact with error low, and every matrix exactly as the documented rules say
    (clean garbage must be a well-formed matrix and give its golden y)."""
    lanes, overflow, ncols, mats = case
    max_rows, max_cols = 6, 8
    kw = dict(GARBAGE_KW, overflow=overflow)
    dut = CSRSpMV(lanes=lanes, max_rows=max_rows, max_cols=max_cols, **kw)
    x = np.arange(1, ncols + 1) * np.where(np.arange(ncols) % 2, -7, 5)
    x[-1] = -128
    jobs = [x_job(x, 8)]
    for kind, m in mats:
        if kind == "valid":
            jobs.append(mat_job(m, value_width=12, lanes=lanes))
        else:
            jobs.append(("mat", framed(m[0]), framed(m[1])))
    ys, _ = simulate(dut, jobs, seed=seed, pause=pause, ready=0.7, max_cycles=3000)
    model = expected_stream(jobs, lanes=lanes, max_rows=max_rows, max_cols=max_cols, **kw)
    assert [(y, last, err) for y, last, err, _ in ys] == model
    for (kind, m), group in zip(mats, split(ys, [len(j[1]) for j in jobs[1:]])):
        if kind == "valid":
            check_good(group, spmv(m, x, lanes=lanes, **kw))
            continue
        clean = from_streams(*m, ncols=ncols, lanes=lanes, value_width=kw["value_width"],
                             max_rows=max_rows)
        if clean is None:
            check_bad(group)
        else:
            check_good(group, spmv(clean, x, lanes=lanes, **kw))


def test_reviewer_framing_cases():
    """NNZ = 0 with non-zeros announced, a decreasing row_ptr with NNZ = 0, and surplus
    non-zeros in an all-empty matrix, each packed by to_streams(check=False) and followed
    by valid matrices: the bad one is flagged, the others exact with error low."""
    dut = CSRSpMV(max_rows=8, max_cols=8)
    one = [from_dense(np.array([[1, 2, 0, 0, 0]])), from_dense(np.array([[0, 0, 3, 4, 0]])),
           from_dense(np.array([[0, 5, 0, 0, 6]]))]
    two = [from_dense(np.array([[1, 2, 0, 0, 0], [0, 0, 0, 0, 3]])),
           from_dense(np.array([[0, 0, 3, 4, 0], [1, 0, 0, 0, 0]]))]
    cases = [(CSR([0, 2], [], [], (1, 5)), one),          # framing3
             (CSR([0, 0, -1], [], [], (2, 5)), two),      # framing4
             (CSR([0, 0], [3], [9], (1, 5)), two)]
    for bad, goods in cases:
        assert to_streams(bad, check=False).nz in ([0], [3 << 16 | 9])
        jobs = [x_job(X5), mat_job(bad, check=False)] + [mat_job(g) for g in goods]
        for pause in (0.0, 0.3):
            ys, _ = simulate(dut, jobs, seed=bad.nrows, pause=pause, ready=0.7)
            groups = split(ys, [bad.nrows] + [g.nrows for g in goods])
            check_bad(groups[0])
            for g, group in zip(goods, groups[1:]):
                check_good(group, spmv(g, X5))


@pytest.mark.parametrize("lanes", [1, 4])
def test_null_frame_defects_are_flagged_and_drained(lanes):
    """An all-empty matrix whose frame is not the single null beat: non-zero data, two
    beats, a null beat without last; a matrix announcing non-zeros whose frame is only
    the null beat (a non-zero (col 0, 0), then early last)."""
    dut = CSRSpMV(lanes=lanes, max_rows=8, max_cols=8)
    good = from_dense(SLIDES)
    cases = [([0, 0], [5]), ([0], [0, 0]), ([0, 0, 0], [0, 1 << 16 | 3, 0]), ([0], [1 << 20]),
             ([2, 1], [0]), ([0, 0, lanes + 1], [0])]
    jobs = [x_job(X5)]
    for rows, nz in cases:
        jobs += [("mat", framed(rows), framed(nz)), mat_job(good, lanes=lanes)]
    ys, _ = simulate(dut, jobs, seed=lanes, pause=0.3, ready=0.6)
    groups = split(ys, [n for rows, _ in cases for n in (len(rows), 4)])
    for (rows, _), bad, ok in zip(cases, groups[::2], groups[1::2]):
        check_bad(bad)
        assert [y[0] for y in bad] == [0] * len(rows)   # the null beat's col 0 × 0
        check_good(ok, spmv(good, X5, lanes=lanes))
    two_rows = [1, 1] if lanes == 1 else [0, 1]   # early last, or a row after last
    assert [[y[2] for y in bad] for bad in groups[::2]][-2:] == [two_rows, [0, 0, 1]]


@pytest.mark.parametrize("lanes", [1, 4])
def test_null_beat_read_as_zero_nonzeros_is_not_flagged(lanes):
    """The documented limit: NNZ = 0 with one row announcing at most ``lanes`` non-zeros
    sends the null beat, which is also a legal beat of zeros at column 0, so nothing is
    flagged; every y is 0, exactly what such explicit zeros give."""
    dut = CSRSpMV(lanes=lanes, max_rows=8, max_cols=8)
    bad = CSR([0, 0, lanes, lanes], [], [], (3, 5))
    zeros = CSR([0, 0, lanes, lanes], [0] * lanes, [0] * lanes, (3, 5))
    assert to_streams(bad, check=False, lanes=lanes) == to_streams(zeros, lanes=lanes)
    ys, _ = simulate(dut, [x_job(X5), mat_job(bad, check=False, lanes=lanes)])
    check_good(split(ys, [3])[0], [0, 0, 0])


@pytest.mark.parametrize("lanes", [1, 4])
def test_null_beats_cost_no_cycle(lanes):
    """All-empty matrices (their null beat rides with the final row's step) back to back
    with others: one cycle per row, no bubble anywhere in the train."""
    dut = CSRSpMV(lanes=lanes, max_rows=16, max_cols=8)
    empty = lambda n: from_dense(np.zeros((n, 5), dtype=int))
    csrs = [empty(1), empty(1), empty(3), from_dense(SLIDES), empty(1), from_dense(SLIDES),
            empty(9), empty(2)]
    ys, starts = simulate(dut, [x_job(X5)] + [mat_job(c, lanes=lanes) for c in csrs])
    steps = [int(np.maximum(1, -(-np.diff(c.row_ptr) // lanes)).sum()) for c in csrs]
    for c, g in zip(csrs, split(ys, [c.nrows for c in csrs])):
        check_good(g, spmv(c, X5, lanes=lanes))
    assert np.diff(starts).tolist() == steps[:-1]
    assert ys[-1][3] - starts[0] + 1 == sum(steps) + 1 + dut.latency
    # A lone all-empty matrix of R rows: R + 1 + latency cycles, first row to last y.
    ys, starts = simulate(dut, [x_job(X5), mat_job(empty(5), lanes=lanes)])
    assert ys[-1][3] - starts[0] + 1 == 5 + 1 + dut.latency


def test_late_null_beat_holds_only_the_final_step():
    """nz idle for 20 cycles: an all-empty matrix's rows but the last give their y at
    once; the final step waits for the null beat (so its error covers the frame)."""
    dut = CSRSpMV(max_rows=8, max_cols=8)
    jobs = [x_job(X5), mat_job(from_dense(np.zeros((3, 5), dtype=int))),
            mat_job(from_dense(SLIDES))]
    ys, starts = simulate(dut, jobs, nz_delay=20 + len(X5))
    g0, g1 = split(ys, [3, 4])
    check_good(g0, [0, 0, 0])
    check_good(g1, spmv(from_dense(SLIDES), X5))
    assert g0[1][3] - starts[0] < 5 + dut.latency and g0[2][3] - starts[0] >= 20

