"""Golden model of the N:M structured-sparse format (2:4 by default, as on NVIDIA A100).

The format compresses a dense array along its **last (reduction) axis**, in
groups of ``m`` consecutive elements.  Every group stores exactly ``n`` values
and ``n`` indices, whatever its number of non-zeros:

* ``values``: shape ``(..., K // m, n)``, the dense dtype.  Slot ``j`` of a
  group holds ``dense[..., g*m + meta[..., g, j]]``.
* ``meta``: shape ``(..., K // m, n)``, ``uint8``.  The in-group positions
  (``0 .. m-1``) of the stored values, **strictly ascending** within a group.

A group with fewer than ``n`` non-zeros stores explicit zeros at valid,
distinct indices.  The canonical choice (what :func:`compress` emits and what
a hardware encoder must emit to be bit-exact) is: the positions of the
non-zeros, plus the lowest positions that hold a zero, until there are ``n``;
the ``n`` positions are then listed in ascending order.  So an all-zero 2:4
group is ``values=(0, 0), meta=(0, 1)`` and ``[0, 5, 0, 0]`` is
``values=(0, 5), meta=(0, 1)``.  A group with more than ``n`` non-zeros
cannot be represented and :func:`compress` raises ``ValueError`` naming it.

``K`` must be a multiple of ``m``: callers pad the reduction axis with zeros
first (``pruning`` does this and records the original length).

Metadata packing (:func:`pack_meta`), for ``$readmemh`` and for the MAC
that consumes it: each group is ``n * b`` bits, ``b = log2(m)`` (4 bits for
2:4).  Index ``j`` of a group occupies bits ``[b*j + b-1 : b*j]`` of the
group's field (index 0 in the least significant bits).  Groups of one row
(all leading axes flattened) are packed little-end first into ``word_bits``
words: group ``g`` of a row lands in word ``g // G`` of that row at bit
``(g % G) * n * b``, with ``G = word_bits // (n * b)``.  Every row starts on
a fresh word; unused high bits of a row's last word are zero.  For 2:4 and
32-bit words that is 8 groups (32 dense weights) per word.

Storage (:func:`storage_bits`) is exact: ``groups * n * (value_bits + b)``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["compress", "decompress", "validate", "pack_meta", "unpack_meta",
           "storage_bits", "index_bits"]


def _check_nm(n, m) -> int:
    """Validate ``n``/``m``; return the index width ``b = log2(m)`` in bits."""
    for label, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{label} must be an integer, not {v!r}")
    if m < 2 or (m & (m - 1)) != 0:
        raise ValueError(f"m must be a power of two >= 2, not {m}")
    if not 1 <= n < m:
        raise ValueError(f"n must satisfy 1 <= n < m (m={m}), not {n}")
    return int(m).bit_length() - 1


def index_bits(m: int = 4) -> int:
    """Bits per stored index for group size ``m`` (2 for 2:4)."""
    return _check_nm(1, m)


def _groups(dense: np.ndarray, m: int) -> np.ndarray:
    if dense.ndim < 1:
        raise ValueError("dense must have at least one axis (the reduction axis)")
    k = dense.shape[-1]
    if k % m:
        raise ValueError(f"reduction axis length {k} is not a multiple of m={m}; "
                         f"pad it with zeros first")
    return dense.reshape(dense.shape[:-1] + (k // m, m))


def compress(dense, n: int = 2, m: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Compress ``dense`` (shape ``(..., K)``, ``K % m == 0``) to ``(values, meta)``.

    Parameters: ``dense`` any numeric array; ``n`` values kept per group;
    ``m`` group size (power of two).  Returns ``values`` (dense dtype) and
    ``meta`` (``uint8``), both of shape ``(..., K // m, n)``.
    Raises ``ValueError`` naming the first group with more than ``n`` non-zeros.
    """
    _check_nm(n, m)
    dense = np.asarray(dense)
    g = _groups(dense, m)
    nz = g != 0
    counts = nz.sum(axis=-1)
    bad = np.flatnonzero(counts > n)
    if bad.size:
        first = int(bad[0])
        pos = np.unravel_index(first, counts.shape)
        raise ValueError(f"group {first} (index {tuple(int(p) for p in pos)}) has "
                         f"{int(counts.flat[first])} non-zeros, more than n={n}")
    # Rank positions: non-zeros first, then zeros, each by ascending position;
    # the first n ranked positions, re-sorted ascending, are the canonical indices.
    pos = np.arange(m, dtype=np.int64)
    key = np.where(nz, pos, pos + m)
    chosen = np.sort(np.argsort(key, axis=-1, kind="stable")[..., :n], axis=-1)
    values = np.take_along_axis(g, chosen, axis=-1)
    return values, chosen.astype(np.uint8)


def decompress(values, meta, shape) -> np.ndarray:
    """Expand ``(values, meta)`` back to a dense array of ``shape``.

    ``shape`` is the dense shape ``(..., K)``.  The metadata is validated first
    (see :func:`validate`, non-canonical padding is accepted here).
    """
    values = np.asarray(values)
    meta = np.asarray(meta)
    shape = tuple(int(s) for s in shape)
    n = values.shape[-1] if values.ndim else 0
    m = _infer_m(values, meta, shape)
    validate(values, meta, shape, n=n, m=m, canonical=False)
    out = np.zeros(shape[:-1] + (shape[-1] // m, m), dtype=values.dtype)
    np.put_along_axis(out, meta.astype(np.int64), values, axis=-1)
    return out.reshape(shape)


def _infer_m(values, meta, shape) -> int:
    if len(shape) < 1 or values.ndim < 2 or values.shape[-2] == 0:
        raise ValueError(f"cannot infer the group size from values shape "
                         f"{values.shape} and dense shape {shape}")
    groups = values.shape[-2]
    if shape[-1] % groups:
        raise ValueError(f"dense length {shape[-1]} is not a multiple of the "
                         f"{groups} groups in values")
    return shape[-1] // groups


def validate(values, meta, shape, n: int = 2, m: int = 4, canonical: bool = True) -> None:
    """Check a compressed array; raise ``ValueError`` naming the first bad group.

    Checks: shapes ``(..., K // m, n)`` for both arrays, ``meta`` integer,
    indices in ``[0, m)`` and strictly ascending within every group, and
    (when ``canonical``) that padding slots follow the canonical rule, i.e.
    ``compress(decompress(values, meta)) == (values, meta)``.
    """
    _check_nm(n, m)
    values = np.asarray(values)
    meta = np.asarray(meta)
    shape = tuple(int(s) for s in shape)
    if len(shape) < 1 or shape[-1] % m:
        raise ValueError(f"dense shape {shape} must have a last axis that is a multiple of m={m}")
    want = shape[:-1] + (shape[-1] // m, n)
    if values.shape != want:
        raise ValueError(f"values shape {values.shape} does not match {want} for dense shape {shape}")
    if meta.shape != want:
        raise ValueError(f"meta shape {meta.shape} does not match {want} for dense shape {shape}")
    if not np.issubdtype(meta.dtype, np.integer):
        raise ValueError(f"meta must be an integer array, not {meta.dtype}")
    if meta.size == 0:
        return
    mi = meta.astype(np.int64).reshape(-1, n)
    bad = np.flatnonzero(((mi < 0) | (mi >= m)).any(axis=1))
    if bad.size:
        raise ValueError(f"group {int(bad[0])} has an index outside [0, {m}): {mi[bad[0]].tolist()}")
    if n > 1:
        bad = np.flatnonzero((np.diff(mi, axis=1) <= 0).any(axis=1))
        if bad.size:
            raise ValueError(f"group {int(bad[0])} indices are not strictly ascending: "
                             f"{mi[bad[0]].tolist()}")
    if canonical:
        dense = np.zeros((mi.shape[0], m), dtype=values.dtype)
        np.put_along_axis(dense, mi, values.reshape(-1, n), axis=1)
        cmeta = compress(dense, n=n, m=m)[1].reshape(-1, n)
        bad = np.flatnonzero((cmeta.astype(np.int64) != mi).any(axis=1))
        if bad.size:
            g = int(bad[0])
            raise ValueError(f"group {g} padding is not canonical: indices {mi[g].tolist()}, "
                             f"expected {cmeta[g].astype(int).tolist()}")


def pack_meta(meta, m: int = 4, word_bits: int = 32) -> np.ndarray:
    """Pack ``meta`` (``(..., G, n)``) into ``uint64`` words, rows word-aligned.

    Returns shape ``(rows, words_per_row)`` with ``rows`` the product of the
    leading axes (1 for a 1-D dense array).  See the module docstring for the
    bit layout.  ``word_bits`` must be a multiple of the group field width
    ``n * log2(m)`` and at most 64.
    """
    meta = np.asarray(meta)
    if meta.ndim < 2:
        raise ValueError(f"meta must have shape (..., groups, n), not {meta.shape}")
    n = meta.shape[-1]
    b = _check_nm(n, m)
    field = n * b
    if not (0 < word_bits <= 64) or word_bits % field:
        raise ValueError(f"word_bits must be a multiple of {field} in (0, 64], not {word_bits}")
    per = word_bits // field
    g = meta.shape[-2]
    rows = int(np.prod(meta.shape[:-2], dtype=np.int64))
    words_per_row = -(-g // per)
    mi = meta.reshape(rows, g, n).astype(np.uint64)
    shifts = (np.arange(n, dtype=np.uint64) * np.uint64(b))
    fields = np.bitwise_or.reduce(mi << shifts, axis=-1) if n > 1 else (mi[..., 0])
    padded = np.zeros((rows, words_per_row * per), dtype=np.uint64)
    padded[:, :g] = fields
    padded = padded.reshape(rows, words_per_row, per)
    fshift = np.arange(per, dtype=np.uint64) * np.uint64(field)
    return np.bitwise_or.reduce(padded << fshift, axis=-1)


def unpack_meta(words, shape, n: int = 2, m: int = 4, word_bits: int = 32) -> np.ndarray:
    """Inverse of :func:`pack_meta` for dense ``shape``; returns ``uint8`` meta."""
    b = _check_nm(n, m)
    field = n * b
    if not (0 < word_bits <= 64) or word_bits % field:
        raise ValueError(f"word_bits must be a multiple of {field} in (0, 64], not {word_bits}")
    shape = tuple(int(s) for s in shape)
    if len(shape) < 1 or shape[-1] % m:
        raise ValueError(f"dense shape {shape} must have a last axis that is a multiple of m={m}")
    per = word_bits // field
    g = shape[-1] // m
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    words = np.asarray(words, dtype=np.uint64)
    want = (rows, -(-g // per))
    if words.shape != want:
        raise ValueError(f"packed meta shape {words.shape} does not match {want} for dense shape {shape}")
    fshift = np.arange(per, dtype=np.uint64) * np.uint64(field)
    fields = ((words[..., None] >> fshift) & np.uint64((1 << field) - 1)).reshape(rows, -1)[:, :g]
    ishift = np.arange(n, dtype=np.uint64) * np.uint64(b)
    idx = (fields[..., None] >> ishift) & np.uint64(m - 1)
    return idx.astype(np.uint8).reshape(shape[:-1] + (g, n))


def storage_bits(shape, value_bits: int, n: int = 2, m: int = 4) -> int:
    """Exact bits of values plus metadata for a dense ``shape`` (last axis % m == 0)."""
    b = _check_nm(n, m)
    shape = tuple(int(s) for s in shape)
    if len(shape) < 1 or shape[-1] % m:
        raise ValueError(f"dense shape {shape} must have a last axis that is a multiple of m={m}")
    if value_bits < 1:
        raise ValueError(f"value_bits must be a positive integer, not {value_bits}")
    groups = int(np.prod(shape, dtype=np.int64)) // m
    return groups * n * (int(value_bits) + b)
