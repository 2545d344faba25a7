"""Tests for golden/csr.py: format, lookup, validator, bit-exact SpMV, packing."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from golden.csr import (CSR, NZStreams, from_dense, lookup, nz_field_widths, row_lengths,
                        spmv, storage_words, to_dense, to_signed, to_streams, validate)

SLIDES = np.array([[0, 0, 3, 0, 4],
                   [0, 0, 0, 0, 0],
                   [5, 0, 0, 7, 0],
                   [0, 8, 0, 0, 6]])


def ref_spmv(csr, x, acc_width, overflow, lanes=1):
    """Step-by-step Python-int model, written independently of the vectorised one."""
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    out = []
    for i in range(csr.nrows):
        acc, start, stop = 0, int(csr.row_ptr[i]), int(csr.row_ptr[i + 1])
        for b in range(start, stop, lanes):
            acc += sum(int(csr.values[k]) * int(x[csr.col_idx[k]]) for k in range(b, min(b + lanes, stop)))
            if overflow == "saturate":
                acc = min(max(acc, lo), hi)
        out.append(to_signed(acc, acc_width) if overflow == "wrap" else acc)
    return out


@st.composite
def matrices(draw, max_rows=8, max_cols=8, width=16):
    rows = draw(st.integers(0, max_rows))
    cols = draw(st.integers(1, max_cols))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (width - 1)), 1 << (width - 1)
    vals = rng.integers(lo, hi, size=(rows, cols))
    extreme = rng.random((rows, cols)) < 0.2
    vals[extreme] = rng.choice([lo, hi - 1], size=int(extreme.sum()))
    mask = rng.random((rows, cols)) < density
    x = rng.integers(lo, hi, size=cols)
    x[rng.random(cols) < 0.2] = lo
    return vals * mask, x


def test_slides_example_exact():
    c = from_dense(SLIDES)
    assert c.values.tolist() == [3, 4, 5, 7, 8, 6]
    assert c.col_idx.tolist() == [2, 4, 0, 3, 1, 4]
    assert c.row_ptr.tolist() == [0, 2, 2, 4, 6]
    assert storage_words(c) == 2 * 6 + 5 == 17
    assert row_lengths(c).tolist() == [2, 0, 2, 2]
    assert lookup(c, 2, 3) == 7
    assert lookup(c, 1, 2) == 0
    assert lookup(c, 3, 4) == 6 and lookup(c, 3, 0) == 0


def test_lookup_sums_duplicates_like_to_dense():
    c = CSR([0, 3, 4], [1, 3, 1, 1], [5, 2, -7, 9], (2, 4))
    assert lookup(c, 0, 1) == -2 and lookup(c, 0, 3) == 2 and lookup(c, 1, 1) == 9
    assert lookup(c, 1, 0) == 0
    assert [[lookup(c, i, j) for j in range(4)] for i in range(2)] == to_dense(c).tolist()
    assert spmv(c, np.array([0, 1, 0, 0])).tolist() == [-2, 9]
    f = CSR([0, 2], [0, 0], np.array([0.5, 0.25]), (1, 1))
    assert lookup(f, 0, 0) == 0.75 and lookup(f, 0, 0).dtype == np.float64


@pytest.mark.parametrize("field, value, exc, message", [
    ("row_ptr", [0.0, 1.7], TypeError, "CSR row_ptr must be an integer array, not float64"),
    ("row_ptr", [0.0, 1.0], TypeError, "CSR row_ptr must be an integer array, not float64"),
    ("col_idx", np.array([1.0]), TypeError, "CSR col_idx must be an integer array, not float64"),
    ("row_ptr", [False, True], TypeError, "CSR row_ptr must be an integer array, not bool"),
    ("col_idx", ["1"], TypeError, "CSR col_idx must be an integer array, not <U1"),
    ("col_idx", np.array([1 << 63], dtype=np.uint64), ValueError,
     r"CSR col_idx\[0\] = 9223372036854775808 does not fit in int64"),
])
def test_index_arrays_must_be_integers(field, value, exc, message):
    """No silent truncation (1.7 -> 1) or wrap-around when the arrays become int64."""
    args = dict(row_ptr=[0, 1], col_idx=[1], values=[3], shape=(1, 2))
    args[field] = value
    with pytest.raises(exc, match=message):
        CSR(**args)


def test_index_arrays_accept_integer_dtypes_and_empty_lists():
    c = CSR(np.array([0, 1], dtype=np.uint8), np.array([1], dtype=np.int16), [3], (1, 2))
    assert c.row_ptr.dtype == c.col_idx.dtype == np.int64 and c.col_idx.tolist() == [1]
    e = CSR([0, 0], [], [], (1, 2))
    assert e.col_idx.dtype == np.int64 and e.nnz == 0
    validate(e)


def test_lookup_rejects_out_of_range():
    c = from_dense(SLIDES)
    with pytest.raises(ValueError, match="Row index 4"):
        lookup(c, 4, 0)
    with pytest.raises(ValueError, match="Column index 5"):
        lookup(c, 0, 5)


@settings(deadline=None, max_examples=40)
@given(matrices())
def test_roundtrip_and_lookup(mx):
    a, _ = mx
    c = from_dense(a)
    validate(c, sorted_cols=True)
    assert np.array_equal(to_dense(c), a)
    assert storage_words(c) == 2 * np.count_nonzero(a) + a.shape[0] + 1
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            assert lookup(c, i, j) == a[i, j]


def test_float_roundtrip():
    a = np.array([[0.0, 1.5], [-2.25, 0.0]])
    c = from_dense(a)
    assert c.values.dtype == a.dtype and np.array_equal(to_dense(c), a)


@pytest.mark.parametrize("csr, message", [
    (CSR([1, 2, 2, 4, 6], [2, 4, 0, 3, 1, 4], [3, 4, 5, 7, 8, 6], (4, 5)), r"row_ptr\[0\] must be 0, not 1"),
    (CSR([0, 2, 1, 4, 6], [2, 4, 0, 3, 1, 4], [3, 4, 5, 7, 8, 6], (4, 5)), "row_ptr decreases at index 2: 2 -> 1"),
    (CSR([0, 2, 2, 4, 5], [2, 4, 0, 3, 1, 4], [3, 4, 5, 7, 8, 6], (4, 5)), r"row_ptr\[-1\] = 5 does not match NNZ = 6"),
    (CSR([0, 2, 2, 4, 6], [2, 4, 0, 5, 1, 4], [3, 4, 5, 7, 8, 6], (4, 5)), r"col_idx\[3\] = 5 out of range for 5"),
    (CSR([0, 2, 2, 4, 6], [2, 4, -1, 3, 1, 4], [3, 4, 5, 7, 8, 6], (4, 5)), r"col_idx\[2\] = -1 out of range"),
    (CSR([0, 2, 2, 6], [2, 4, 0, 3, 1, 4], [3, 4, 5, 7, 8, 6], (4, 5)), "row_ptr has 4 entries, expected nrows"),
    (CSR([0, 2, 2, 4, 6], [2, 4, 0, 3, 1], [3, 4, 5, 7, 8, 6], (4, 5)), "col_idx has 5 entries but values has 6"),
    (CSR([0, 2], [2, 4], [3, 4], (1, -5)), "non-negative"),
])
def test_validate_names_the_problem(csr, message):
    with pytest.raises(ValueError, match=message):
        validate(csr)


def test_validate_sorted_cols():
    c = CSR([0, 2], [4, 2], [1, 1], (1, 5))
    validate(c)
    with pytest.raises(ValueError, match=r"col_idx\[1\] = 2 is not above"):
        validate(c, sorted_cols=True)


@settings(deadline=None, max_examples=40)
@given(matrices())
def test_spmv_matches_float_reference(mx):
    a, x = mx
    # 48-bit accumulator: no overflow for these sizes, so the result is exact.
    y = spmv(from_dense(a), x, acc_width=48)
    assert np.array_equal(y.astype(np.float64), a.astype(np.float64) @ x.astype(np.float64))


@settings(deadline=None, max_examples=60)
@given(matrices(width=8), st.integers(16, 20), st.sampled_from(["wrap", "saturate"]), st.integers(1, 4))
def test_spmv_bit_exact_in_both_overflow_modes(mx, acc_width, overflow, lanes):
    a, x = mx
    c = from_dense(a)
    y = spmv(c, x, value_width=8, x_width=8, acc_width=acc_width, overflow=overflow, lanes=lanes)
    assert y.tolist() == ref_spmv(c, x, acc_width, overflow, lanes)
    assert y.min(initial=0) >= -(1 << (acc_width - 1)) and y.max(initial=0) < 1 << (acc_width - 1)


def test_saturate_is_per_step_not_final():
    # p, p, p, -p with p = 127*127: the third step clamps, so the row ends at
    # hi - p rather than the exact 2p (which fits in 16 bits).
    c = from_dense(np.array([[127, 127, 127, -127]]))
    x = np.array([127, 127, 127, 127])
    p, hi = 127 * 127, (1 << 15) - 1
    kw = dict(value_width=8, x_width=8, acc_width=16)
    assert spmv(c, x, overflow="saturate", **kw).tolist() == [hi - p]
    assert spmv(c, x, **kw).tolist() == [2 * p]
    # lanes=3: steps are (p+p+p) then -p, so the clamp still happens...
    assert spmv(c, x, overflow="saturate", lanes=3, **kw).tolist() == [hi - p]
    # ...lanes=4: one step holding the exact sum, no clamp.
    assert spmv(c, x, overflow="saturate", lanes=4, **kw).tolist() == [2 * p]


@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
@pytest.mark.parametrize("acc_width", [32, 61, 62, 64])
def test_extreme_values_wide_paths(overflow, acc_width):
    lo = -(1 << 31)
    a = np.full((3, 70), lo, dtype=np.int64)
    a[1] = (1 << 31) - 1
    a[2, ::2] = 0
    x = np.full(70, lo, dtype=np.int64)
    c = from_dense(a)
    for lanes in (1, 5):
        y = spmv(c, x, value_width=32, x_width=32, acc_width=max(acc_width, 64), overflow=overflow, lanes=lanes)
        assert y.tolist() == ref_spmv(c, x, max(acc_width, 64), overflow, lanes)
    y = spmv(from_dense(a // 65536), x // 65536, acc_width=acc_width, overflow=overflow)
    assert y.tolist() == ref_spmv(from_dense(a // 65536), x // 65536, acc_width, overflow)


def test_empty_cases():
    x = np.arange(4)
    assert spmv(from_dense(np.zeros((3, 4), dtype=int)), x).tolist() == [0, 0, 0]
    assert spmv(from_dense(np.zeros((3, 4), dtype=int)), x, overflow="saturate").tolist() == [0, 0, 0]
    assert spmv(from_dense(np.zeros((0, 4), dtype=int)), x).tolist() == []
    s = to_streams(from_dense(np.zeros((3, 4), dtype=int)))
    assert s.rows == [0, 0, 0] and s.nz == [0]          # the null beat
    assert to_streams(from_dense(np.zeros((3, 4), dtype=int)), lanes=4).nz == [0]
    assert to_streams(from_dense(np.zeros((0, 4), dtype=int))) == NZStreams([], [])


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(value_width=0), ValueError, "value_width must be an integer in"),
    (dict(acc_width=31), ValueError, "acc_width must be an integer in"),
    (dict(acc_width=65, value_width=32, x_width=32), ValueError, "acc_width"),
    (dict(overflow="clip"), ValueError, "overflow must be one of"),
    (dict(lanes=0), ValueError, "lanes"),
    (dict(value_width=3), ValueError, r"values\[1\] = 4 does not fit in 3 signed bits"),
    (dict(x_width=2), ValueError, r"x\[2\] = 2 does not fit in 2 signed bits"),
])
def test_spmv_parameter_errors(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        spmv(from_dense(SLIDES), np.arange(5), **kwargs)


def test_spmv_rejects_bad_x_and_float_values():
    with pytest.raises(ValueError, match=r"x has shape \(4,\), expected \(5,\)"):
        spmv(from_dense(SLIDES), np.arange(4))
    with pytest.raises(TypeError, match="values must be integers"):
        spmv(from_dense(SLIDES * 0.5), np.arange(5))
    with pytest.raises(ValueError, match="row_ptr decreases"):
        spmv(CSR([0, 2, 1], [0, 1], [1, 1], (2, 2)), np.arange(2))


def unpack(word, vf, cf, lanes):
    slot = vf + cf
    return [(word >> (k * slot + vf) & ((1 << cf) - 1), to_signed(word >> (k * slot), vf))
            for k in range(lanes)]


@settings(deadline=None, max_examples=40)
@given(matrices(), st.integers(1, 4), st.sampled_from([12, 16]))
def test_to_streams_packing(mx, lanes, value_width):
    a, _ = mx
    a = a >> (16 - value_width)
    c = from_dense(a)
    s = to_streams(c, value_width=value_width, lanes=lanes)
    vf, cf = nz_field_widths(value_width)
    assert vf == 16 and cf == 16
    assert s.rows == row_lengths(c).tolist()
    beats = iter(s.nz)
    for i, n in enumerate(s.rows):
        got = []
        for _ in range(-(-n // lanes)):
            got += unpack(next(beats), vf, cf, lanes)
        assert got[:n] == [(j, a[i, j]) for j in np.flatnonzero(a[i])]
        assert got[n:] == [(0, 0)] * (len(got) - n)
    if c.nnz == 0 and c.nrows:
        assert next(beats) == 0                 # the null beat is the whole frame
    assert next(beats, None) is None


def test_to_streams_slides_words():
    s = to_streams(from_dense(SLIDES))
    assert s.nz == [2 << 16 | 3, 4 << 16 | 4, 0 << 16 | 5, 3 << 16 | 7, 1 << 16 | 8, 4 << 16 | 6]
    s = to_streams(from_dense(-SLIDES), value_width=5, col_width=8)
    assert s.nz[0] == 2 << 8 | (-3 & 0xFF)


def _frame(csr, **kw):
    """The non-zeros of a frame as (col, value) pairs, slot by slot (lanes from kw)."""
    vf, cf = nz_field_widths(kw.get("value_width", 16))
    s = to_streams(csr, check=False, **kw)
    return s, [p for w in s.nz for p in unpack(w, vf, cf, kw.get("lanes", 1))]


@pytest.mark.parametrize("lanes", [1, 3])
def test_to_streams_malformed_keeps_one_frame_per_matrix(lanes):
    """check=False: the frame is exactly the packed non-zeros, or the null beat when
    NNZ = 0, whatever the rows announce."""
    # NNZ = 0 while rows announce non-zeros (also via a decreasing row_ptr): null beat.
    for bad in (CSR([0, 2], [], [], (1, 5)), CSR([0, 0, -1], [], [], (2, 5))):
        assert to_streams(bad, check=False, lanes=lanes).nz == [0]
    # All rows empty but NNZ > 0: the surplus is sent (and the block flags it).
    s, pairs = _frame(CSR([0, 0], [3, 4], [9, -1], (1, 5)), lanes=lanes)
    assert s.rows == [0] and len(s.nz) == -(-2 // lanes)
    assert pairs[:2] == [(3, 9), (4, -1)] and s.nz != [0]
    # Row pointers past NNZ, before 0, or decreasing: every non-zero still sent, once.
    for bad in (CSR([0, 5, 6], [0, 1, 2], [1, 2, 3], (2, 5)),
                CSR([2, 3, 3], [0, 1, 2, 3], [1, 2, 3, 4], (2, 5)),
                CSR([0, 3, 1, 4], [0, 1, 2, 3], [1, 2, 3, 4], (3, 5))):
        s, pairs = _frame(bad, lanes=lanes)
        sent = [p for p in pairs if p != (0, 0)]
        assert sorted(sent) == sorted(zip(bad.col_idx.tolist(), bad.values.tolist()))
    with pytest.raises(ValueError, match="no rows cannot carry its 1 non-zeros"):
        to_streams(CSR([1], [0], [1], (0, 5)), check=False)


def test_to_streams_malformed_packing():
    bad = CSR([0, 2, 1, 3], [0, 1, 2], [1, 2, 3], (3, 4))
    with pytest.raises(ValueError, match="row_ptr decreases"):
        to_streams(bad)
    s = to_streams(bad, check=False)
    assert s.rows == [2, 0xFFFF, 2] and len(s.nz) == 3
    extra = CSR([0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 4], (2, 4))
    s = to_streams(extra, check=False, lanes=2)
    assert s.rows == [1, 1] and s.nz == [1, 1 << 16 | 2, 2 << 16 | 3 | (3 << 16 | 4) << 32]
    wide = CSR([0, 1], [0], [1 << 11], (1, 2))
    assert to_streams(wide, value_width=12, check=False).nz == [1 << 11]
    with pytest.raises(ValueError, match=r"values\[0\] = 2048 does not fit in 12 signed bits"):
        to_streams(wide, value_width=12)
    with pytest.raises(ValueError, match="does not fit in 16 signed bits"):
        to_streams(CSR([0, 1], [0], [1 << 15], (1, 2)), value_width=12, check=False)
    with pytest.raises(ValueError, match=r"col_idx\[0\] = 65536 does not fit the 16-bit column field"):
        to_streams(CSR([0, 1], [1 << 16], [1], (1, 2)), check=False)
    with pytest.raises(ValueError, match="row_width must be"):
        to_streams(bad, row_width=12)


# ------------------------------------------------ cycle model and the lenient stream model

def test_cycle_model_and_the_benchmarks_latency_match_the_hardware():
    from bench.bench_golden_csr import LATENCY
    from hw.csr_spmv import CSRSpMV
    from golden.csr import matrix_cycles, steps
    assert steps([2, 0, 2, 2]) == 7 and steps([5, 0, 1], lanes=4) == 4
    assert steps([-3, 0]) == 2                       # a negative length counts as empty
    assert matrix_cycles([2, 0, 2, 2], latency=3) == 11
    for lanes, latency in LATENCY.items():
        assert CSRSpMV.latency_of(lanes) == latency
        assert CSRSpMV.cycles([9, 0, 4], lanes) == matrix_cycles([9, 0, 4], lanes=lanes,
                                                                 latency=latency)


@settings(deadline=None, max_examples=40)
@given(matrices(width=8), st.integers(1, 4), st.sampled_from(["wrap", "saturate"]))
def test_lenient_model_is_spmv_on_valid_streams(mx, lanes, overflow):
    from golden.csr_lenient import from_streams, load_x, spmv_lenient
    a, x = mx
    if a.shape[0] == 0:
        return
    c = from_dense(a)
    kw = dict(value_width=8, acc_width=16, overflow=overflow)
    s = to_streams(c, value_width=8, lanes=lanes)
    xmem = load_x([v & 0xFF for v in x.tolist()], x_width=8, max_cols=8)
    ys, errs = spmv_lenient(s.rows, s.nz, xmem, lanes=lanes, max_rows=8, **kw)
    assert ys == spmv(c, x, x_width=8, lanes=lanes, **kw).tolist() and not any(errs)
    back = from_streams(s.rows, s.nz, ncols=a.shape[1], lanes=lanes, value_width=8)
    assert np.array_equal(to_dense(back), a)


def test_lenient_model_flags_bad_streams():
    from golden.csr_lenient import XMemory, load_x, spmv_lenient
    x = load_x([2, 0xFFFD, 5], max_cols=4)           # 2, -3, 5
    assert x.ncols == 3 and not x.bad
    assert load_x([1, 2, 3], max_cols=2).bad and load_x([1 << 11], x_width=12).values[0] == 0
    # column == ncols: contributes 0 and flags, every later row keeps the flag
    assert spmv_lenient([1, 1], [3 << 16 | 1, 0 << 16 | 1], x) == ([0, 2], [True, True])
    # surplus beats are drained and flagged; early last flags and starves later rows
    assert spmv_lenient([1], [1, 1 << 16 | 1], x) == ([2], [True])
    assert spmv_lenient([2, 1], [1], x) == ([2, 0], [True, True])
    # all-empty matrix: the null beat is fine, anything else is flagged
    assert spmv_lenient([0, 0], [0], x) == ([0, 0], [False, False])
    assert spmv_lenient([0], [5], x) == ([0], [True])
    # no x loaded yet: a row announcing non-zeros is flagged
    assert spmv_lenient([1], [1], XMemory.EMPTY) == ([0], [True])
    with pytest.raises(ValueError, match="at least one row"):
        spmv_lenient([], [0], x)
