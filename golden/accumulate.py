"""The one accumulator model every block's golden model uses.

A block accumulates in *steps*: one step adds the exact sum of the products the hardware
retires together in one clock (one product for a one-lane datapath, a beat of ``lanes``
products for CSR SpMV, the products of all lanes for Cnvlutin, ``N·G`` products for the
N:M MAC).  The accumulator is ``acc_width`` bits, signed, and starts at 0 for every
output (*segment*):

* ``overflow="wrap"``: the sum modulo ``2**acc_width``, read as two's complement; the
  grouping into steps and their order do not matter.
* ``overflow="saturate"``: after *every* step the running sum is clamped to
  ``[-2**(acc_width-1), 2**(acc_width-1) - 1]``; the grouping does matter, which is why
  every block states its steps.

:func:`step` is one step on Python integers (the reference); :func:`accumulate` runs a
sequence of steps; :func:`segmented` does many outputs at once, vectorised, for long
runs.  This module imports only NumPy.
"""
from __future__ import annotations

import numpy as np

from .bits import check_int

__all__ = ["OVERFLOW_MODES", "check_overflow", "check_acc_width", "wrap", "saturate",
           "step", "accumulate", "group_steps", "segmented"]

OVERFLOW_MODES = ("wrap", "saturate")


def check_overflow(overflow) -> str:
    if isinstance(overflow, bool) or overflow not in OVERFLOW_MODES:
        raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, not {overflow!r}")
    return overflow


def check_acc_width(acc_width, lo: int = 2, hi: int = 64) -> int:
    return check_int("acc_width", acc_width, lo, hi)


def wrap(value, width: int):
    """``value`` modulo ``2**width`` read as two's complement (int or int64 array)."""
    if isinstance(value, np.ndarray):
        arr = value.astype(np.int64)
        shift = np.uint64(64 - width)
        return ((arr.view(np.uint64) << shift).view(np.int64)) >> shift.astype(np.int64)
    value = int(value) & ((1 << width) - 1)
    return value - (1 << width) if value >> (width - 1) else value


def saturate(value, width: int):
    """``value`` clamped to the ``width``-bit signed range."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if isinstance(value, np.ndarray):
        return np.minimum(np.maximum(value, lo), hi)
    return min(max(int(value), lo), hi)


def step(acc: int, addend: int, *, acc_width: int, overflow: str) -> int:
    """One accumulation step: ``acc + addend`` wrapped or clamped (Python integers)."""
    total = int(acc) + int(addend)
    return wrap(total, acc_width) if overflow == "wrap" else saturate(total, acc_width)


def accumulate(steps, *, acc_width: int, overflow: str, start: int = 0) -> int:
    """The accumulator after ``steps`` (each the exact sum of one clock's products)."""
    check_overflow(overflow)
    check_acc_width(acc_width)
    acc = int(start)
    for s in steps:
        acc = step(acc, s, acc_width=acc_width, overflow=overflow)
    return acc


def group_steps(terms: np.ndarray, seg_ptr: np.ndarray, per_step: int):
    """Split each segment ``terms[seg_ptr[i]:seg_ptr[i+1]]`` into steps of ``per_step``
    consecutive terms (the last step of a segment may be shorter).  Returns ``(sums,
    seg)``: each step's exact sum (int64, or Python ints in an object array when int64
    could overflow) and the segment it belongs to, segments in order."""
    terms = np.asarray(terms)
    seg_ptr = np.asarray(seg_ptr, dtype=np.int64)
    n, nseg = terms.shape[0], seg_ptr.shape[0] - 1
    if n == 0:
        return np.zeros(0, dtype=terms.dtype if terms.dtype == object else np.int64), \
            np.zeros(0, dtype=np.int64)
    seg_of = np.repeat(np.arange(nseg), np.diff(seg_ptr))
    pos = np.arange(n) - seg_ptr[seg_of]
    starts = np.flatnonzero(pos % per_step == 0)
    prefix = np.concatenate((np.zeros(1, dtype=terms.dtype), np.cumsum(terms)))
    ends = np.append(starts[1:], n)
    with np.errstate(over="ignore"):
        sums = prefix[ends] - prefix[starts]
    return sums, seg_of[starts]


def segmented(sums: np.ndarray, seg: np.ndarray, nseg: int, *, acc_width: int,
              overflow: str) -> np.ndarray:
    """Per segment, the accumulator after its steps (``sums`` in order, ``seg`` their
    segment ids, non-decreasing); segments without steps give 0.  Returns int64.

    Wrap is a per-segment sum modulo ``2**acc_width``.  Saturate is a segmented
    Hillis-Steele scan: each step is the map f(x) = clamp(x + a, l, h), and these compose
    in closed form, (a1,l1,h1) then (a2,l2,h2) -> (a1+a2, clamp(l1+a2, l2, h2),
    clamp(h1+a2, l2, h2)), so log2(longest segment) vector passes suffice.  Clipping
    ``a`` to ±2**acc_width changes nothing for x in the accumulator range and keeps int64
    safe; pass ``sums`` as an object array for widths where int64 could overflow.
    """
    check_overflow(overflow)
    acc_width = check_acc_width(acc_width)
    sums = np.asarray(sums)
    seg = np.asarray(seg, dtype=np.int64)
    y = np.zeros(nseg, dtype=np.int64)
    if sums.shape[0] == 0:
        return y
    if overflow == "wrap":
        with np.errstate(over="ignore"):
            if sums.dtype == object:
                tot = np.zeros(nseg, dtype=object)
                np.add.at(tot, seg, sums)
                return np.array([wrap(int(v), acc_width) for v in tot], dtype=np.int64)
            tot = np.zeros(nseg, dtype=np.int64)
            np.add.at(tot, seg, sums.astype(np.int64))
        return wrap(tot, acc_width)
    dtype = object if (sums.dtype == object or acc_width > 61) else np.int64
    lo, hi, big = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1, 1 << acc_width
    a = np.minimum(np.maximum(sums.astype(dtype), -big), big)
    l = np.full(a.shape, lo, dtype=dtype)
    h = np.full(a.shape, hi, dtype=dtype)
    steps_per_seg = np.bincount(seg, minlength=nseg)
    d = 1
    while d < steps_per_seg.max():
        i = np.arange(d, a.shape[0])
        i = i[seg[i - d] == seg[i]]
        j = i - d
        a2, l2, h2 = a[i], l[i], h[i]
        new_a = np.minimum(np.maximum(a[j] + a2, -big), big)
        new_l = np.minimum(np.maximum(l[j] + a2, l2), h2)
        new_h = np.minimum(np.maximum(h[j] + a2, l2), h2)
        a[i], l[i], h[i] = new_a, new_l, new_h
        d *= 2
    last_step = np.cumsum(steps_per_seg) - 1
    nonempty = steps_per_seg > 0
    k = last_step[nonempty]
    y[nonempty] = np.minimum(np.maximum(a[k], l[k]), h[k]).astype(np.int64)
    return y
