"""Saliency scores: higher means more important (kept longer).

Every function returns a float array shaped like the weight.  Group norms
(L1, L2, any Lp) are applied on top of these element scores by
:func:`pruning.masks.select` via its ``p`` argument.

* :func:`magnitude` -- ``|w|`` (Han et al. 2015).
* :func:`random_scores` -- seeded uniform scores (the baseline every paper beats).
* :func:`taylor` -- first-order Taylor ``|w * g|`` (Molchanov et al.), ``g``
  the loss gradient, usually averaged over a calibration set.
* :func:`obd` -- Optimal Brain Damage ``0.5 * h_ii * w**2`` (LeCun et al.
  1989); ``h`` supplied, or estimated for this package's MLPs by
  :func:`pruning.train.hessian_diag`.
* :func:`wanda` -- ``|w_ij| * ||x_j||_2`` from calibration inputs (Sun et al.
  2023); compare within each output row (``scope="row"``).
"""
from __future__ import annotations

import numpy as np

from ._checks import check_same_shape, check_weights, layer_label

__all__ = ["magnitude", "random_scores", "taylor", "obd", "wanda", "score", "CRITERIA"]

CRITERIA = ("magnitude", "random", "taylor", "obd", "wanda")


def magnitude(w, name=None) -> np.ndarray:
    """``|w|``; ``w`` must be a finite float array."""
    return np.abs(check_weights(w, name))


def random_scores(w, seed, name=None) -> np.ndarray:
    """Uniform [0, 1) scores from ``np.random.default_rng(seed)`` (PCG64: the
    same stream on every platform).  ``seed`` is required, so runs repeat."""
    w = check_weights(w, name)
    if seed is None:
        raise ValueError(f"{layer_label(name)}: random pruning needs an explicit seed")
    parts = seed if isinstance(seed, tuple) else (seed,)
    if not parts or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0
                        for v in parts):
        raise ValueError(f"{layer_label(name)}: random seed must be a non-negative integer "
                         f"(or a tuple of them), not {seed!r}")
    return np.random.default_rng(tuple(int(v) for v in parts) if isinstance(seed, tuple)
                                 else int(seed)).random(w.shape)


# Largest binary exponent a product may reach before we rescale it (float64
# overflows at 2**1024).
_EXP_LIMIT = 1020


def _exponent(a) -> int:
    """``e`` with ``max|a| < 2**e`` (0 for an all-zero or empty array)."""
    m = float(np.max(np.abs(a))) if np.size(a) else 0.0
    return int(np.frexp(m)[1]) if m > 0 else 0


def _product(factors, coef: float = 1.0) -> np.ndarray:
    """``coef * prod(factors)`` in float64 that cannot overflow to inf (or give NaN).

    When the factors' magnitudes could overflow, every factor is first divided
    by a power of two (exact) and the product is scaled back only up to
    ``2**_EXP_LIMIT``: all scores shrink by one common power of two, which
    keeps their ranking (the only thing a criterion is used for); scores far
    below the largest may underflow to 0.  Otherwise the product is computed
    plainly, bit for bit as before.
    """
    factors = [np.asarray(f, dtype=np.float64) for f in factors]
    exps = [_exponent(f) for f in factors]
    if sum(exps) <= _EXP_LIMIT:
        out = np.float64(coef) * factors[0]
        for f in factors[1:]:
            out = out * f
        return out
    out = np.float64(coef) * np.ldexp(factors[0], -exps[0])
    for f, e in zip(factors[1:], exps[1:]):
        out = out * np.ldexp(f, -e)
    return np.ldexp(out, _EXP_LIMIT)


def _l2_norm(x64: np.ndarray, axis) -> np.ndarray:
    """``sqrt(sum(x**2))`` along ``axis`` as ``(mantissa, exponent)`` arrays, no overflow.

    Each slice is divided by the power of two ``2**e`` just above its largest
    magnitude (exact), so the squares are at most 1; the norm is
    ``mantissa * 2**e``.  Bit for bit the plain formula whenever that does not
    over- or underflow.
    """
    m = np.max(np.abs(x64), axis=axis, keepdims=True) if x64.size else np.zeros(())
    e = np.where(m > 0, np.frexp(m)[1], 0)
    scaled = np.ldexp(x64, -e)
    mant = np.sqrt((scaled * scaled).sum(axis=axis))
    return mant, np.squeeze(e, axis=axis)


def taylor(w, grad, name=None) -> np.ndarray:
    """First-order Taylor saliency ``|w * grad|`` (``grad`` same shape as ``w``).

    Computed without overflow: if ``|w * grad|`` would exceed the float64
    range, all scores are divided by one common power of two (same ranking).
    """
    w = check_weights(w, name)
    g = check_same_shape(grad, w.shape, name, "gradient")
    return np.abs(_product([w, g]))


def obd(w, hessian_diag, name=None) -> np.ndarray:
    """Optimal Brain Damage saliency ``0.5 * h_ii * w**2``.

    ``hessian_diag`` has the weight's shape.  A negative ``h_ii`` (a non-convex
    point) gives a negative saliency, which ranks below every zero-cost weight.
    Computed without overflow, like :func:`taylor`.
    """
    w = check_weights(w, name)
    h = check_same_shape(hessian_diag, w.shape, name, "Hessian diagonal")
    w64 = w.astype(np.float64)
    return _product([h, w64, w64], coef=0.5)


def wanda(w, inputs, name=None) -> np.ndarray:
    """Activation-aware score ``|w_ij| * ||x_j||_2``.

    ``w`` is ``(out, in)`` with ``inputs`` ``(..., in)`` (any leading sample
    axes), or a conv weight ``(K, C, R, S)`` with ``inputs`` ``(N, C, H, W)``:
    then ``x_j`` is the norm of input channel ``c`` over samples and
    positions, shared by its ``R*S`` taps (an approximation of the im2col
    column norm that ignores border effects).

    The norms are computed scaled (no overflow of ``x**2`` or underflow of
    tiny inputs), and the product with ``|w|`` cannot overflow: if it would,
    every score is divided by one common power of two (same ranking).  So
    finite inputs always give finite scores and a valid mask.
    """
    w = check_weights(w, name)
    x = check_weights(inputs, name, what="calibration inputs")
    label = layer_label(name)
    x64 = x.astype(np.float64)
    if w.ndim == 2:
        if x.ndim < 1 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"{label}: calibration inputs shape {x.shape} does not match "
                             f"the {w.shape[1]} input features of weight {w.shape}")
        mant, e = _l2_norm(x64.reshape(-1, w.shape[1]), 0)
        return _scaled_scores(np.abs(w.astype(np.float64)), mant[None, :], e[None, :])
    if w.ndim == 4:
        if x.ndim != 4 or x.shape[1] != w.shape[1]:
            raise ValueError(f"{label}: calibration inputs shape {x.shape} must be (N, {w.shape[1]}, H, W) "
                             f"for conv weight {w.shape}")
        mant, e = _l2_norm(x64, (0, 2, 3))
        return _scaled_scores(np.abs(w.astype(np.float64)), mant[None, :, None, None],
                              e[None, :, None, None])
    raise ValueError(f"{label}: Wanda needs a 2-D linear or 4-D conv weight, not shape {w.shape}")


def _scaled_scores(aw: np.ndarray, mant: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``aw * mant * 2**e`` (Wanda), divided by a common power of two if it would overflow."""
    bound = _exponent(aw) + _exponent(mant) + (int(e.max()) if e.size else 0)
    shift = max(0, bound - _EXP_LIMIT)
    if shift == 0:
        # Same value as |w| * sqrt(sum(x**2)) when that does not overflow.
        return aw * np.ldexp(mant, e)
    return aw * (mant * np.ldexp(1.0, e - shift))


def score(w, criterion: str = "magnitude", *, name=None, seed=None, grad=None,
          hessian_diag=None, inputs=None) -> np.ndarray:
    """Dispatch on ``criterion`` (one of :data:`CRITERIA`) with its data."""
    label = layer_label(name)
    if criterion == "magnitude":
        return magnitude(w, name)
    if criterion == "random":
        return random_scores(w, seed, name)
    if criterion == "taylor":
        if grad is None:
            raise ValueError(f"{label}: the taylor criterion needs a gradient")
        return taylor(w, grad, name)
    if criterion == "obd":
        if hessian_diag is None:
            raise ValueError(f"{label}: the obd criterion needs a Hessian diagonal "
                             f"(supply one or estimate it with pruning.train.hessian_diag)")
        return obd(w, hessian_diag, name)
    if criterion == "wanda":
        if inputs is None:
            raise ValueError(f"{label}: the wanda criterion needs calibration inputs")
        return wanda(w, inputs, name)
    raise ValueError(f"{label}: unknown criterion {criterion!r}; choose from {', '.join(CRITERIA)}")
