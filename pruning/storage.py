"""Exact storage, in bits, of a quantised layer in each hardware format.

Every layer is viewed as a matrix ``(rows, cols)``: axis 0 stays, the other
axes are flattened (a conv ``(K, C, R, S)`` becomes ``(K, C*R*S)``), which is
how the exporters lay it out too.

* dense: ``rows * cols * value_bits``.
* CSR: ``nnz * (value_bits + col_bits) + (rows + 1) * ptr_bits`` with the
  narrowest fields that hold every index: ``col_bits = max(1,
  ceil(log2(cols)))``, ``ptr_bits = max(1, ceil(log2(nnz + 1)))``.  (The
  slides count ``2 * NNZ + rows + 1`` words; this is the same structure in
  bits.)
* RLC: ``64 * words`` of :func:`golden.rlc.encode` over the row-major
  flattening (5-bit runs, 16-bit levels, 3 pairs a word).
* 2:4: :func:`golden.sparse24.storage_bits` of the matrix with its columns
  zero-padded to a multiple of 4, or ``None`` when some group of 4 holds
  more than 2 non-zeros (the layer is not 2:4 sparse).
"""
from __future__ import annotations

import numpy as np

from golden import rlc, sparse24

__all__ = ["as_matrix", "bits_for", "storage_bits", "pad_cols"]


def as_matrix(a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    return a.reshape(a.shape[0], -1)


def bits_for(n_values: int) -> int:
    """Bits of an unsigned field holding ``0 .. n_values - 1`` (at least 1)."""
    return max(1, int(n_values - 1).bit_length())


def pad_cols(mat: np.ndarray, m: int) -> np.ndarray:
    cols = mat.shape[1]
    padded = -(-cols // m) * m
    if padded == cols:
        return mat
    out = np.zeros((mat.shape[0], padded), dtype=mat.dtype)
    out[:, :cols] = mat
    return out


def storage_bits(q, value_bits: int) -> dict:
    """``{"dense", "csr", "rlc", "sparse24"}`` bits for integer array ``q``."""
    mat = as_matrix(q)
    rows, cols = mat.shape
    nnz = int(np.count_nonzero(mat))
    out = {"dense": rows * cols * int(value_bits),
           "csr": nnz * (int(value_bits) + bits_for(cols)) + (rows + 1) * bits_for(nnz + 1),
           "rlc": int(rlc.stats(mat.reshape(-1).astype(np.int64)).bits)}
    padded = pad_cols(mat, 4)
    groups = (padded.reshape(rows, -1, 4) != 0).sum(axis=-1) if padded.size else np.zeros(0)
    out["sparse24"] = (sparse24.storage_bits(padded.shape, int(value_bits))
                       if padded.size and (groups <= 2).all() else None)
    return out
