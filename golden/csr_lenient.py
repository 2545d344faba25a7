"""What ``csr_spmv`` outputs for *any* streams, malformed included: the counterpart of
:func:`golden.rlc.decode_lenient` for the CSR format of :mod:`golden.csr`.

* :func:`load_x`: the x the block stores for an x stream (:class:`XMemory`);
* :func:`spmv_lenient`: y and ``error`` per row for one matrix's row lengths and nz frame;
* :func:`from_streams`: the valid matrix that streams carry (the inverse of
  :func:`golden.csr.to_streams`), or None; for such streams :func:`spmv_lenient` is
  :func:`golden.csr.spmv` with error low everywhere.

Python loops over beats: for tests and benches on small matrices.  Imports only NumPy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import accumulate
from .bits import byte_width, to_signed
from .csr import CSR, _check_width, nz_field_widths

__all__ = ["XMemory", "load_x", "spmv_lenient", "from_streams"]



@dataclass(frozen=True)
class XMemory:
    """The x the hardware holds after an x stream: ``values`` (int64, ``ncols`` of them)
    and ``bad`` (the stream had an element wider than ``x_width`` or more than
    ``max_cols`` elements; every matrix using this x is flagged).  Before the first x
    the hardware holds ``XMemory.EMPTY``: ncols = 0, not bad."""
    values: np.ndarray
    bad: bool = False

    @property
    def ncols(self) -> int:
        return int(self.values.shape[0])


XMemory.EMPTY = XMemory(np.zeros(0, dtype=np.int64))


def _fits(v: int, width: int) -> bool:
    return -(1 << (width - 1)) <= v < 1 << (width - 1)


def load_x(words, *, x_width: int = 16, max_cols: int = 1024) -> XMemory:
    """What the hardware stores for one x stream (``words``: its data words, each an
    ``x_width``-rounded-up-to-a-byte field, last on the final one): an element that is
    not a sign extension of ``x_width`` bits is stored as 0, elements beyond
    ``max_cols`` are dropped, and either makes the x bad."""
    x_width = _check_width("x_width", x_width, 1, 32)
    xf = byte_width(x_width)
    vals = [to_signed(w, xf) for w in words]
    if not vals:
        raise ValueError("An x stream has at least one element")
    bad = len(vals) > max_cols or not all(_fits(v, x_width) for v in vals)
    kept = [v if _fits(v, x_width) else 0 for v in vals[:max_cols]]
    return XMemory(np.array(kept, dtype=np.int64), bad)


def spmv_lenient(rows, nz, x: XMemory, *, lanes: int = 1, value_width: int = 16,
                 acc_width: int = 32, overflow: str = "wrap", max_rows: int = 1024,
                 col_width: int = 16) -> tuple[list[int], list[bool]]:
    """Exactly what the hardware outputs for one matrix's streams, whatever they hold:
    (y per row, error per row).  ``rows``: the row lengths (one matrix, last on the final
    one); ``nz``: the matrix's one nz frame (packed words, last on the final one); ``x``:
    the stored x (:func:`load_x`).  The error of row i covers the matrix up to and
    including row i (so the final row's covers the whole matrix).

    Rules (the hardware's, see ``hw/csr_spmv.py``): a row longer than ``ncols``, beyond
    ``max_rows``, or announcing non-zeros after the frame's last beat is flagged and
    taken as empty.  A row reads ``ceil(len / lanes)`` beats, slots past its length
    ignored; a slot with a column >= ncols or a value that is not a sign extension of
    ``value_width`` bits contributes 0 and flags.  The frame's last beat inside a row
    (before its final beat) flags, and the rest of the matrix gets no non-zeros.  If no
    row announced non-zeros, the final row takes one beat (the null beat), flagged unless
    it is all zeros.  A frame not finished when the final row ends is drained and
    flagged.  Each step (one beat) is wrapped or saturated (:func:`golden.accumulate.step`).
    For streams that form a valid matrix (:func:`from_streams`) this is
    ``spmv(...)`` with error low everywhere.  Python loop: for tests on small matrices.
    """
    vf, cf = nz_field_widths(value_width, col_width)
    lanes = _check_width("lanes", lanes, 1, 1 << 16)
    accumulate.check_overflow(overflow)
    rows, beats = [int(r) for r in rows], [int(w) for w in nz]
    if not rows or not beats:
        raise ValueError("A matrix has at least one row and an nz frame of at least one beat")
    slot_mask, ncols = (1 << (vf + cf)) - 1, x.ncols
    pos, err, nz_done, announced = 0, x.bad, False, False
    ys, errors = [], []
    for i, length in enumerate(rows):
        final = i == len(rows) - 1
        row_bad = length > ncols or i >= max_rows or (i > 0 and nz_done and length > 0)
        announced |= length > 0
        err |= row_bad
        rem, acc = (0 if row_bad else length), 0
        while rem > 0 and not nz_done:
            word = beats[pos]
            pos += 1
            total = 0
            for k in range(min(lanes, rem)):
                slot = word >> (k * (vf + cf)) & slot_mask
                val, col = to_signed(slot, vf), slot >> vf
                if col < ncols and _fits(val, value_width):
                    total += val * int(x.values[col])
                else:
                    err = True
            acc = accumulate.step(acc, total, acc_width=acc_width, overflow=overflow)
            if pos == len(beats):          # the frame's last beat
                nz_done = True
                err |= rem > lanes         # ... inside the row
            rem -= lanes
        if final and not announced and not nz_done:      # the null beat
            err |= beats[pos] != 0
            pos += 1
            nz_done = pos == len(beats)
        if final and not nz_done:                        # surplus: drained
            err = True
        ys.append(acc)
        errors.append(bool(err))
    return ys, errors


def from_streams(rows, nz, *, ncols: int, lanes: int = 1, value_width: int = 16,
                 col_width: int = 16, max_rows: int = 1024) -> CSR | None:
    """The valid matrix that streams ``rows`` / ``nz`` carry, or None if they carry none.

    The inverse of :func:`to_streams`, and of the hardware's reading: slots past a row's
    length are ignored (whatever they hold), and an all-empty matrix must send exactly
    the null beat.  None when a row is longer than ``ncols``, there are more than
    ``max_rows`` rows, the frame has the wrong number of beats, a column is >= ncols or
    a value does not fit ``value_width`` bits."""
    vf, cf = nz_field_widths(value_width, col_width)
    rows, beats = [int(r) for r in rows], [int(w) for w in nz]
    if len(rows) > max_rows or any(n > ncols for n in rows):
        return None
    if not any(rows):
        return CSR(np.zeros(len(rows) + 1, np.int64), [], [], (len(rows), ncols)) \
            if beats == [0] else None
    if len(beats) != sum(-(-n // lanes) for n in rows):
        return None
    cols, vals, it = [], [], iter(beats)
    for n in rows:
        for b in range(-(-n // lanes)):
            word = next(it)
            for k in range(min(lanes, n - b * lanes)):
                slot = word >> ((vf + cf) * k) & ((1 << (vf + cf)) - 1)
                cols.append(slot >> vf)
                vals.append(to_signed(slot, vf))
    if any(c >= ncols for c in cols) or not all(_fits(v, value_width) for v in vals):
        return None
    return CSR(np.concatenate(([0], np.cumsum(rows))), cols, np.array(vals, dtype=np.int64),
               (len(rows), ncols))
