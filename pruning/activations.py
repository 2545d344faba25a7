"""Activation pruning (Cnvlutin + pruning): zero activations below a threshold.

Cnvlutin skips zero activations; "CNV + pruning" also zeroes small ones with
a per-layer threshold to skip more (about 1.52x instead of 1.37x in the
paper).  :func:`threshold_for_sparsity` picks the threshold that reaches a
target fraction of zeros on calibration activations, and
:func:`pruning.digits.activation_sweep` reports the accuracy it costs.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_fraction, check_weights, layer_label
from .masks import prune_count

__all__ = ["prune_activations", "threshold_for_sparsity", "activation_sparsity"]


def prune_activations(a, threshold: float, name=None) -> np.ndarray:
    """Return ``a`` with every ``|a| < threshold`` set to zero."""
    a = check_weights(a, name, what="activations", allow_empty=True)
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"{layer_label(name)}: activation threshold must be finite and >= 0, "
                         f"not {threshold}")
    return np.where(np.abs(a) < threshold, np.zeros((), a.dtype), a)


def activation_sparsity(a) -> float:
    a = np.asarray(a)
    return float(1.0 - np.count_nonzero(a) / a.size) if a.size else 0.0


def threshold_for_sparsity(a, target, name=None) -> float:
    """Smallest threshold ``t`` with at least ``k`` of the ``n`` values ``|a| < t``,
    ``k = prune_count(target, n)`` (the package's rounding rule).

    Returns 0.0 when the activations are already that sparse (ReLU zeros
    count).  ``t`` is the k-th smallest magnitude nudged up by one ulp, so
    ``|a| < t`` includes it; found with ``np.partition``, no sort.
    """
    a = check_weights(a, name, what="activations")
    frac = as_fraction(target, name, what="target activation sparsity")
    mag = np.abs(a.astype(np.float64)).ravel()
    k = prune_count(frac, mag.size, name)
    if k == 0 or np.count_nonzero(mag == 0) >= k:
        return 0.0
    kth = np.partition(mag, k - 1)[k - 1]
    return float(np.nextafter(kth, np.inf))
