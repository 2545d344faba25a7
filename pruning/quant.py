"""Symmetric integer quantisation to the hardware's signed width (8 or 16 bits).

``q = clip(round_half_even(w / scale), -qmax, qmax)`` with ``qmax = 2**(bits-1) - 1``
and ``scale = max|w| / qmax`` per tensor, or per output row (axis 0; per
filter for a conv weight).  The range is symmetric (no ``-2**(bits-1)``), so
negation never overflows in the MAC.  Zero maps to zero, so pruned weights
stay pruned; small survivors can round to zero too, which
:attr:`Quantized.extra_zeros` counts.  A row (or tensor) that is all zero
gets ``scale = 1.0`` so the scale is always a positive number the hardware
can requantise with.  ``w ~= q * scale``.

Per-row quantisation needs a weight with at least 2 axes: a 1-D weight is a
single row in the exporters' matrix view, so "one scale per row" would be
one scale for the tensor; rather than silently giving every element its
own scale (or silently switching mode), ``per="row"`` on a 0-D or 1-D
weight raises ``ValueError`` -- use ``per="tensor"``.

:func:`check_quantized` validates a caller-built :class:`Quantized` (dtype
matching ``bits``, ``|q| <= qmax``, ``per``, a finite positive scale of the
right shape) before an exporter trusts it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_weights, layer_label

__all__ = ["quantize", "dequantize", "Quantized", "QUANT_BITS", "check_quantized", "qmax_of"]

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
    bits = _check_bits(bits, name)
    _check_per(per, name)
    if per == "row" and w.ndim < 2:
        raise ValueError(f"{label}: per-row quantisation needs a weight with at least 2 axes, "
                         f"not shape {w.shape} (a 1-D weight is one row: use per='tensor')")
    qmax = qmax_of(bits)
    w64 = w.astype(np.float64)
    if per == "tensor":
        amax = np.abs(w64).max()
        scale = np.float64(amax / qmax)
        # A subnormal amax can underflow amax/qmax to 0.0: treat it like an
        # all-zero tensor (scale 1.0, every q rounds to 0) so the scale stays > 0.
        if not scale > 0:
            scale = np.float64(1.0)
        sb = scale
    else:
        amax = np.abs(w64.reshape(w.shape[0], -1)).max(axis=1) if w.size else np.zeros(w.shape[0])
        quot = amax / qmax
        # as per tensor: a quotient that underflowed to 0 gets scale 1.0
        scale = np.where(quot > 0, quot, 1.0)
        sb = scale.reshape((-1,) + (1,) * (w.ndim - 1))
    q = np.clip(np.rint(w64 / sb), -qmax, qmax).astype(np.int8 if bits == 8 else np.int16)
    extra = int(np.count_nonzero((q == 0) & (w64 != 0)))
    return Quantized(q, np.asarray(scale, dtype=np.float64), bits, per, extra)


def _check_bits(bits, name) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits not in QUANT_BITS:
        raise ValueError(f"{layer_label(name)}: quantisation width must be the integer 8 or 16 "
                         f"bits, not {bits!r}")
    return int(bits)


def _check_per(per, name) -> str:
    if not isinstance(per, str) or per not in ("tensor", "row"):
        raise ValueError(f"{layer_label(name)}: quantisation granularity must be 'tensor' or "
                         f"'row', not {per!r}")
    return per


def qmax_of(bits: int) -> int:
    """Largest magnitude of the symmetric signed range: ``2**(bits-1) - 1``."""
    return (1 << (int(bits) - 1)) - 1


def check_quantized(qz, name=None) -> Quantized:
    """Check a :class:`Quantized` is one :func:`quantize` could have made.

    ``q`` an ``int8`` (``bits=8``) or ``int16`` (``bits=16``) array, non-empty,
    with ``|q| <= 2**(bits-1) - 1``; ``per`` ``"tensor"`` (scale shape ``()``)
    or ``"row"`` (``q`` at least 2-D, scale shape ``(rows,)``); every scale
    finite and > 0; ``extra_zeros`` an integer in ``[0, q.size]``.
    Returns it unchanged; ``ValueError`` naming the layer otherwise.
    """
    label = layer_label(name)
    if not isinstance(qz, Quantized):
        raise ValueError(f"{label}: expected a Quantized, not {type(qz).__name__}")
    bits = _check_bits(qz.bits, name)
    per = _check_per(qz.per, name)
    q = qz.q
    want = np.dtype(np.int8 if bits == 8 else np.int16)
    if not isinstance(q, np.ndarray) or q.dtype != want:
        got = q.dtype if isinstance(q, np.ndarray) else type(q).__name__
        raise ValueError(f"{label}: quantised values must be a {want} array for {bits}-bit "
                         f"quantisation, not {got}")
    if q.size == 0:
        raise ValueError(f"{label}: quantised tensor is empty (shape {q.shape})")
    qmax = qmax_of(bits)
    lo, hi = int(q.min()), int(q.max())
    if lo < -qmax or hi > qmax:
        bad = lo if lo < -qmax else hi
        raise ValueError(f"{label}: quantised value {bad} is outside the symmetric {bits}-bit "
                         f"range [-{qmax}, {qmax}]")
    try:
        scale = np.asarray(qz.scale, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{label}: scale must be numeric, not {qz.scale!r}") from None
    if per == "row" and q.ndim < 2:
        raise ValueError(f"{label}: per-row quantisation needs a weight with at least 2 axes, "
                         f"not shape {q.shape}")
    want_shape = () if per == "tensor" else (q.shape[0],)
    if scale.shape != want_shape:
        raise ValueError(f"{label}: per-{per} scale must have shape {want_shape}, not {scale.shape}")
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"{label}: every scale must be finite and > 0")
    ez = qz.extra_zeros
    if isinstance(ez, bool) or not isinstance(ez, (int, np.integer)) or not 0 <= ez <= q.size:
        raise ValueError(f"{label}: extra_zeros must be an integer in [0, {q.size}], not {ez!r}")
    return qz


def dequantize(q, scale, per: str = "tensor") -> np.ndarray:
    """``q * scale`` broadcast per tensor or per row (float64)."""
    q = np.asarray(q)
    scale = np.asarray(scale, dtype=np.float64)
    if per == "row":
        scale = scale.reshape((-1,) + (1,) * (q.ndim - 1))
    return q.astype(np.float64) * scale
