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
    return np.random.default_rng(seed).random(w.shape)


def taylor(w, grad, name=None) -> np.ndarray:
    """First-order Taylor saliency ``|w * grad|`` (``grad`` same shape as ``w``)."""
    w = check_weights(w, name)
    g = check_same_shape(grad, w.shape, name, "gradient")
    with np.errstate(over="ignore"):
        return np.abs(w.astype(np.float64) * g)


def obd(w, hessian_diag, name=None) -> np.ndarray:
    """Optimal Brain Damage saliency ``0.5 * h_ii * w**2``.

    ``hessian_diag`` has the weight's shape.  A negative ``h_ii`` (a non-convex
    point) gives a negative saliency, which ranks below every zero-cost weight.
    """
    w = check_weights(w, name)
    h = check_same_shape(hessian_diag, w.shape, name, "Hessian diagonal")
    w64 = w.astype(np.float64)
    with np.errstate(over="ignore"):
        return 0.5 * h * w64 * w64


def wanda(w, inputs, name=None) -> np.ndarray:
    """Activation-aware score ``|w_ij| * ||x_j||_2``.

    ``w`` is ``(out, in)`` with ``inputs`` ``(..., in)`` (any leading sample
    axes), or a conv weight ``(K, C, R, S)`` with ``inputs`` ``(N, C, H, W)``:
    then ``x_j`` is the norm of input channel ``c`` over samples and
    positions, shared by its ``R*S`` taps (an approximation of the im2col
    column norm that ignores border effects).
    """
    w = check_weights(w, name)
    x = check_weights(inputs, name, what="calibration inputs")
    label = layer_label(name)
    x64 = x.astype(np.float64)
    if w.ndim == 2:
        if x.ndim < 1 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"{label}: calibration inputs shape {x.shape} does not match "
                             f"the {w.shape[1]} input features of weight {w.shape}")
        norm = np.sqrt((x64.reshape(-1, w.shape[1]) ** 2).sum(axis=0))
        return np.abs(w) * norm[None, :]
    if w.ndim == 4:
        if x.ndim != 4 or x.shape[1] != w.shape[1]:
            raise ValueError(f"{label}: calibration inputs shape {x.shape} must be (N, {w.shape[1]}, H, W) "
                             f"for conv weight {w.shape}")
        norm = np.sqrt((x64 ** 2).sum(axis=(0, 2, 3)))
        return np.abs(w) * norm[None, :, None, None]
    raise ValueError(f"{label}: Wanda needs a 2-D linear or 4-D conv weight, not shape {w.shape}")


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
