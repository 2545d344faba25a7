"""Tests for golden/csr.py: format, lookup, validator, bit-exact SpMV, packing."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from golden.csr import (CSR, from_dense, lookup, nz_field_widths, row_lengths, spmv,
                        storage_words, to_dense, to_signed, to_streams, validate)

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
    assert s.rows == [0, 0, 0] and s.nz == []


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
    assert next(beats, None) is None


def test_to_streams_slides_words():
    s = to_streams(from_dense(SLIDES))
    assert s.nz == [2 << 16 | 3, 4 << 16 | 4, 0 << 16 | 5, 3 << 16 | 7, 1 << 16 | 8, 4 << 16 | 6]
    s = to_streams(from_dense(-SLIDES), value_width=5, col_width=8)
    assert s.nz[0] == 2 << 8 | (-3 & 0xFF)


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
