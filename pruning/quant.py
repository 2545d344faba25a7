"""Symmetric integer quantisation to the hardware's signed width (8 or 16 bits).

``q = clip(round_half_even(w / scale), -qmax, qmax)`` with ``qmax = 2**(bits-1) - 1``
and ``scale = max|w| / qmax`` per tensor, or per output row (axis 0; per
filter for a conv weight).  The range is symmetric (no ``-2**(bits-1)``), so
negation never overflows in the MAC.  Zero maps to zero, so pruned weights
stay pruned; small survivors can round to zero too, which
:attr:`Quantized.extra_zeros` counts.  A row (or tensor) that is all zero
gets ``scale = 1.0`` so the scale is always a positive number the hardware
can requantise with.  ``w ~= q * scale``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_weights, layer_label

__all__ = ["quantize", "dequantize", "Quantized", "QUANT_BITS"]

QUANT_BITS = (8, 16)


@dataclass
class Quantized:
    """``q`` (int8/int16, weight shape), ``scale`` (float64: shape ``()`` per
    tensor, ``(rows,)`` per row), ``bits``, ``per`` and ``extra_zeros`` (non-zero
    weights that rounded to 0)."""
    q: np.ndarray
    scale: np.ndarray
    bits: int
    per: str
    extra_zeros: int

    def dequantize(self) -> np.ndarray:
        return dequantize(self.q, self.scale, self.per)


def quantize(w, bits: int = 8, per: str = "tensor", name=None) -> Quantized:
    """Quantise a float weight (see the module docstring).

    Parameters: ``bits`` 8 or 16; ``per`` ``"tensor"`` or ``"row"``.
    """
    label = layer_label(name)
    w = check_weights(w, name)
    if bits not in QUANT_BITS:
        raise ValueError(f"{label}: quantisation width must be 8 or 16 bits, not {bits!r}")
    if per not in ("tensor", "row"):
        raise ValueError(f"{label}: quantisation granularity must be 'tensor' or 'row', not {per!r}")
    if per == "row" and w.ndim < 1:
        raise ValueError(f"{label}: per-row quantisation needs at least one axis")
    qmax = (1 << (bits - 1)) - 1
    w64 = w.astype(np.float64)
    if per == "tensor":
        amax = np.abs(w64).max()
        scale = np.float64(amax / qmax) if amax > 0 else np.float64(1.0)
        sb = scale
    else:
        amax = np.abs(w64.reshape(w.shape[0], -1)).max(axis=1) if w.size else np.zeros(w.shape[0])
        scale = np.where(amax > 0, amax / qmax, 1.0)
        sb = scale.reshape((-1,) + (1,) * (w.ndim - 1))
    q = np.clip(np.rint(w64 / sb), -qmax, qmax).astype(np.int8 if bits == 8 else np.int16)
    extra = int(np.count_nonzero((q == 0) & (w64 != 0)))
    return Quantized(q, np.asarray(scale, dtype=np.float64), bits, per, extra)


def dequantize(q, scale, per: str = "tensor") -> np.ndarray:
    """``q * scale`` broadcast per tensor or per row (float64)."""
    q = np.asarray(q)
    scale = np.asarray(scale, dtype=np.float64)
    if per == "row":
        scale = scale.reshape((-1,) + (1,) * (q.ndim - 1))
    return q.astype(np.float64) * scale
