"""CSR (compressed sparse row) format and a bit-exact integer SpMV model.

Format (course slides): ``values`` are the non-zeros row by row, ``col_idx``
their columns, and ``row_ptr[i]`` the number of non-zeros before row ``i``
(``nrows + 1`` entries).  Storage is ``2·NNZ + (nrows + 1)`` words.

Bit-exact SpMV ``y = A·x`` (:func:`spmv`), the reference for ``hw/csr_spmv.py``:

* ``values`` are signed ``value_width``-bit integers, ``x`` signed
  ``x_width``-bit; each product is exact (``value_width + x_width`` bits).
* The accumulator is ``acc_width`` bits (``acc_width >= value_width +
  x_width``, so a single product always fits) and starts at 0 for every row.
* ``overflow="wrap"``: the row sum modulo ``2**acc_width``, read as two's
  complement (the order of additions does not matter).
* ``overflow="saturate"``: after *every* accumulation step the running sum is
  clamped to ``[-2**(acc_width-1), 2**(acc_width-1) - 1]``.  One step adds
  the exact sum of one group of up to ``lanes`` consecutive non-zeros of the
  row (the hardware's beat); with ``lanes=1`` that is one product per step.
  Empty rows give 0.

Stream packing shared by the hardware, its testbenches and exporters
(:func:`to_streams`): the ``row`` stream carries one row length per row in a
``row_width``-bit unsigned field; the ``nz`` stream carries beats of ``lanes``
slots, each slot ``{value: vf bits (low), col: col_width bits (high)}`` with
``vf`` = ``value_width`` rounded up to a byte, the value sign-extended to
``vf`` bits.  Slot ``k`` sits at bit ``k·(vf + col_width)``.  Each row starts
a new beat; unused slots of a row's final beat are zero.  ``last`` goes on the
final row and the final beat.  Every matrix sends exactly one ``nz`` frame: a
matrix without non-zeros sends the *null beat* (all-zero data, ``last``), so
that the hardware can always pair each matrix with its own frame.

What the hardware answers to *any* streams, malformed included, is
:mod:`golden.csr_lenient` (the counterpart of :func:`golden.rlc.decode_lenient`).  The
cycle model is :func:`steps` and :func:`matrix_cycles` (the latency is the hardware's).

This module imports only NumPy and the standard library.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import accumulate
from .bits import byte_width, to_signed

__all__ = [
    "CSR", "NZStreams", "from_dense", "to_dense", "lookup", "validate",
    "storage_words", "row_lengths", "spmv", "nz_field_widths", "to_streams",
    "to_signed", "steps", "matrix_cycles",
]

OVERFLOW_MODES = accumulate.OVERFLOW_MODES


@dataclass(frozen=True)
class CSR:
    """A CSR matrix.  Construction does not validate (so that malformed
    matrices can be built for tests); call :func:`validate`.

    row_ptr: ``nrows + 1`` integers; col_idx, values: ``NNZ`` entries each;
    shape: ``(nrows, ncols)``.  row_ptr and col_idx must be integer arrays
    (empty ones of any dtype are accepted): anything else raises TypeError
    naming the field rather than being truncated to int64.
    """
    row_ptr: np.ndarray
    col_idx: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    def __post_init__(self):
        object.__setattr__(self, "row_ptr", _index_array("row_ptr", self.row_ptr))
        object.__setattr__(self, "col_idx", _index_array("col_idx", self.col_idx))
        object.__setattr__(self, "values", np.asarray(self.values))
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def nnz(self) -> int:
        return int(self.values.shape[0]) if self.values.ndim else 0

    @property
    def nrows(self) -> int:
        return self.shape[0]

    @property
    def ncols(self) -> int:
        return self.shape[1]


def _index_array(name: str, arr) -> np.ndarray:
    """``arr`` as int64, refusing what a cast would silently change."""
    arr = np.asarray(arr)
    if arr.size == 0:
        return arr.astype(np.int64)     # np.asarray([]) is float64: nothing to truncate
    if arr.dtype.kind not in "iu":
        raise TypeError(f"CSR {name} must be an integer array, not {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and int(arr.max()) >= 1 << 63:
        k = int(np.argmax(arr >= np.uint64(1 << 63)))
        raise ValueError(f"CSR {name}[{k}] = {arr[k]} does not fit in int64")
    return arr.astype(np.int64)


def from_dense(a) -> CSR:
    """CSR of a 2-D array; non-zeros kept in row-major order, dtype preserved."""
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"Dense matrix must be 2-D, not {a.ndim}-D")
    rows, cols = np.nonzero(a)
    counts = np.bincount(rows, minlength=a.shape[0])
    row_ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return CSR(row_ptr, cols, a[rows, cols], a.shape)


def to_dense(csr: CSR) -> np.ndarray:
    """Dense array of a valid CSR matrix (duplicate entries are summed, as SpMV does)."""
    validate(csr)
    out = np.zeros(csr.shape, dtype=csr.values.dtype)
    np.add.at(out, (_row_of_each_nz(csr), csr.col_idx), csr.values)
    return out


def lookup(csr: CSR, i: int, j: int):
    """A[i, j] by the slides' row-range search: scan
    ``col_idx[row_ptr[i]:row_ptr[i+1]]`` for ``j``; absent means 0.  Duplicate
    entries of ``(i, j)`` are summed in the values' dtype, exactly as
    :func:`to_dense` does (and as :func:`spmv` accumulates them)."""
    validate(csr)
    nrows, ncols = csr.shape
    if not 0 <= i < nrows:
        raise ValueError(f"Row index {i} out of range for {nrows} rows")
    if not 0 <= j < ncols:
        raise ValueError(f"Column index {j} out of range for {ncols} columns")
    start, stop = csr.row_ptr[i], csr.row_ptr[i + 1]
    found = csr.values[start:stop][csr.col_idx[start:stop] == j]
    return np.sum(found, dtype=csr.values.dtype)


def validate(csr: CSR, *, sorted_cols: bool = False) -> None:
    """Raise ValueError naming the first problem of a malformed CSR matrix.

    Checks: shape; array lengths (``nrows + 1`` row pointers, as many columns
    as values); ``row_ptr[0] == 0``; ``row_ptr`` non-decreasing; ``row_ptr[-1]
    == NNZ``; ``0 <= col_idx < ncols``; with ``sorted_cols`` also strictly
    increasing columns inside every row (canonical CSR, no duplicates).
    """
    if len(csr.shape) != 2 or min(csr.shape) < 0:
        raise ValueError(f"Shape must be two non-negative integers, not {csr.shape}")
    nrows, ncols = csr.shape
    rp, ci, nnz = csr.row_ptr, csr.col_idx, csr.nnz
    if rp.ndim != 1 or ci.ndim != 1 or csr.values.ndim != 1:
        raise ValueError("row_ptr, col_idx and values must be 1-D arrays")
    if rp.shape[0] != nrows + 1:
        raise ValueError(f"row_ptr has {rp.shape[0]} entries, expected nrows + 1 = {nrows + 1}")
    if ci.shape[0] != nnz:
        raise ValueError(f"col_idx has {ci.shape[0]} entries but values has {nnz}")
    if rp[0] != 0:
        raise ValueError(f"row_ptr[0] must be 0, not {rp[0]}")
    bad = np.flatnonzero(np.diff(rp) < 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"row_ptr decreases at index {i + 1}: {rp[i]} -> {rp[i + 1]}")
    if rp[-1] != nnz:
        raise ValueError(f"row_ptr[-1] = {rp[-1]} does not match NNZ = {nnz}")
    bad = np.flatnonzero((ci < 0) | (ci >= ncols))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"col_idx[{k}] = {ci[k]} out of range for {ncols} columns")
    if sorted_cols and nnz > 1:
        same_row = _row_of_each_nz(csr)[1:] == _row_of_each_nz(csr)[:-1]
        bad = np.flatnonzero(same_row & (np.diff(ci) <= 0))
        if bad.size:
            k = int(bad[0]) + 1
            raise ValueError(f"col_idx[{k}] = {ci[k]} is not above the previous column of its row")


def storage_words(csr: CSR) -> int:
    """Words of CSR storage: 2·NNZ + (nrows + 1)."""
    return 2 * csr.nnz + csr.nrows + 1


def row_lengths(csr: CSR) -> np.ndarray:
    """Non-zeros per row (``np.diff(row_ptr)``; negative if row_ptr decreases)."""
    return np.diff(csr.row_ptr)


def _row_of_each_nz(csr: CSR) -> np.ndarray:
    return np.repeat(np.arange(csr.nrows), np.diff(csr.row_ptr))


def _check_width(name: str, width, lo: int, hi: int) -> int:
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not lo <= width <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], not {width!r}")
    return int(width)


def _check_signed(name: str, arr, width: int) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be integers, not {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero((arr < -(1 << (width - 1))) | (arr >= (1 << (width - 1))))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"{name}[{k}] = {arr[k]} does not fit in {width} signed bits")
    return arr


def spmv(csr: CSR, x, *, value_width: int = 16, x_width: int = 16, acc_width: int = 32,
         overflow: str = "wrap", lanes: int = 1) -> np.ndarray:
    """Bit-exact ``y = A·x`` as the hardware computes it (see module docstring).

    Parameters: value_width, x_width in [1, 32]; acc_width in
    [value_width + x_width, 64]; overflow "wrap" or "saturate"; lanes >= 1
    (only changes saturate results: the saturation step granularity).
    Returns an int64 array of ``nrows`` accumulator values.
    """
    value_width = _check_width("value_width", value_width, 1, 32)
    x_width = _check_width("x_width", x_width, 1, 32)
    acc_width = _check_width("acc_width", acc_width, value_width + x_width, 64)
    lanes = _check_width("lanes", lanes, 1, 1 << 16)
    if overflow not in OVERFLOW_MODES:
        raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, not {overflow!r}")
    validate(csr)
    vals = _check_signed("values", csr.values, value_width)
    xs = _check_signed("x", x, x_width)
    if xs.ndim != 1 or xs.shape[0] != csr.ncols:
        raise ValueError(f"x has shape {xs.shape}, expected ({csr.ncols},)")
    # Products are exact in int64 (|p| <= 2**62); a step's sum may need Python ints.
    prods = vals * xs[csr.col_idx]
    if value_width + x_width - 1 + lanes.bit_length() > 62:
        prods = prods.astype(object)
    sums, seg = accumulate.group_steps(prods, csr.row_ptr, lanes)
    return accumulate.segmented(sums, seg, csr.nrows, acc_width=acc_width, overflow=overflow)


@dataclass(frozen=True)
class NZStreams:
    """Stream words for the hardware: ``rows`` (one row length per row, last
    on the final one) and ``nz`` (the matrix's one nz frame: packed beats,
    last on the final one; the single null beat ``[0]`` when NNZ = 0).  Both
    are empty only for a matrix with no rows, which is not sent at all."""
    rows: list[int]
    nz: list[int]


def nz_field_widths(value_width: int = 16, col_width: int = 16) -> tuple[int, int]:
    """(value field, col field) bit widths of one nz slot: value_width in
    [1, 32] rounded up to a byte, and col_width (8, 16, 24 or 32)."""
    value_width = _check_width("value_width", value_width, 1, 32)
    if isinstance(col_width, bool) or col_width not in (8, 16, 24, 32):
        raise ValueError(f"col_width must be 8, 16, 24 or 32, not {col_width!r}")
    return byte_width(value_width), col_width


def to_streams(csr: CSR, *, value_width: int = 16, col_width: int = 16, row_width: int = 16,
               lanes: int = 1, check: bool = True) -> NZStreams:
    """Pack a CSR matrix into the hardware's ``row`` and ``nz`` stream words.

    Parameters: value_width in [1, 32]; col_width and row_width multiples of
    8 in [8, 32]; lanes >= 1 (slots per nz beat).  With ``check`` (default)
    the matrix must be valid and values must fit ``value_width``.

    The ``nz`` list is always exactly one frame (``last`` on its final word):
    the packed non-zeros, or the null beat ``[0]`` when NNZ = 0 (a valid
    matrix whose rows are all empty).  A matrix with no rows gives two empty
    lists: the row stream cannot carry it, so nothing is sent.

    ``check=False`` packs malformed matrices for error tests, keeping that
    frame structure: row lengths are ``np.diff(row_ptr)`` in two's complement
    of ``row_width`` bits (so a decreasing row_ptr gives a huge length),
    values need only fit their byte-rounded field, and the frame holds all
    NNZ non-zeros whatever the rows announce (non-zeros beyond
    ``row_ptr[-1]`` follow the last row's beats; NNZ = 0 still sends the null
    beat even if rows announce non-zeros).  So a matrix announcing no
    non-zeros but holding some sends them, and the block flags it.  A number
    that no field can hold (e.g. a column >= 2**col_width), or non-zeros in
    a matrix with no rows, raises ValueError either way.
    """
    vf, cf = nz_field_widths(value_width, col_width)
    lanes = _check_width("lanes", lanes, 1, 1 << 16)
    if isinstance(row_width, bool) or row_width not in (8, 16, 24, 32):
        raise ValueError(f"row_width must be 8, 16, 24 or 32, not {row_width!r}")
    if check:
        validate(csr)
        _check_signed("values", csr.values, value_width)
    lengths = row_lengths(csr)
    if lengths.size and (lengths.min() < -(1 << (row_width - 1)) or lengths.max() >= (1 << row_width)):
        raise ValueError(f"A row length does not fit the {row_width}-bit row field")
    rows = (lengths & ((1 << row_width) - 1)).tolist()
    cols = csr.col_idx
    bad = np.flatnonzero((cols < 0) | (cols >= (1 << cf)))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"col_idx[{k}] = {cols[k]} does not fit the {cf}-bit column field")
    vals = _check_signed("values", csr.values, vf) & ((1 << vf) - 1)
    nnz = vals.shape[0]
    if csr.nrows == 0:
        if nnz:
            raise ValueError(f"A matrix with no rows cannot carry its {nnz} non-zeros: "
                             f"the row stream has no empty frame")
        return NZStreams([], [])
    if nnz == 0:
        return NZStreams(rows, [0])
    # Beats may exceed 64 bits, hence Python ints in object arrays.
    slots = cols.astype(object) << vf | vals.astype(object)
    # Row segments with pointers clipped and made monotone, so that malformed
    # matrices still pack; surplus non-zeros form a final segment.
    bounds = np.maximum.accumulate(np.clip(csr.row_ptr, 0, nnz))
    bounds = np.append(np.append(0, bounds), nnz)
    idx = np.arange(nnz)
    pos = idx - bounds[np.searchsorted(bounds, idx, side="right") - 1]
    shifts = (pos % lanes) * (vf + cf)
    beats = np.add.reduceat(slots << shifts.astype(object), np.flatnonzero(pos % lanes == 0))
    return NZStreams(rows, [int(b) for b in beats])


# ------------------------------------------------------------------ cycle model

def steps(row_lengths, lanes: int = 1) -> int:
    """Clock steps of a matrix in the hardware: ``Σ max(1, ceil(len / lanes))`` (a row
    retires a beat of up to ``lanes`` non-zeros per clock, an empty row one clock), i.e.
    ``NNZ + empty rows`` for ``lanes = 1``.  Negative lengths count as empty."""
    lanes = _check_width("lanes", lanes, 1, 1 << 16)
    n = np.asarray(row_lengths, dtype=np.int64).reshape(-1)
    return int(np.maximum(1, -(-n // lanes)).sum())


def matrix_cycles(row_lengths, *, lanes: int = 1, latency: int) -> int:
    """Cycles from a matrix's first row-length transfer to its final y transfer when
    nothing stalls: ``steps + 1 + latency``, where ``latency`` is the hardware's (cycles
    from the final step to the final y; ``hw.csr_spmv.CSRSpMV.latency_of(lanes)``).  A
    train of back-to-back matrices costs the sum of their steps plus ``1 + latency`` once."""
    return steps(row_lengths, lanes) + 1 + int(latency)

