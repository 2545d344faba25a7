"""Input validation shared by the package: every error names the layer."""
from __future__ import annotations

from fractions import Fraction

import numpy as np


def layer_label(name) -> str:
    return f"layer {name!r}" if name is not None else "weights"


def check_weights(w, name=None, *, need_float: bool = True, allow_empty: bool = False,
                  what: str = "weights") -> np.ndarray:
    """Return ``w`` as an array after checking dtype, emptiness and finiteness.

    Raises ``ValueError`` naming the layer for integer/bool/complex/object
    dtypes (when ``need_float``), empty tensors and NaN/inf values.
    """
    label = layer_label(name)
    try:
        arr = np.asarray(w)
    except (ValueError, TypeError) as exc:  # ragged nested lists, unconvertible objects
        raise ValueError(f"{label}: {what} are not a rectangular numeric array ({exc})") from None
    if need_float and not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{label}: {what} must be a floating-point array, not {arr.dtype} "
                         f"(convert with .astype(np.float32) before pruning)")
    if not need_float and not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{label}: {what} must be a numeric array, not {arr.dtype}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{label}: {what} tensor is empty (shape {arr.shape})")
    if np.issubdtype(arr.dtype, np.floating) and arr.size:
        finite = np.isfinite(arr)
        if not finite.all():
            idx = np.unravel_index(int(np.argmin(finite)), arr.shape)
            bad = arr[idx]
            kind = "NaN" if np.isnan(bad) else "inf"
            n_bad = int(arr.size - np.count_nonzero(finite))
            raise ValueError(f"{label}: {what} has {n_bad} non-finite value(s), first {kind} at index "
                             f"{tuple(int(i) for i in idx)}")
    return arr


def as_fraction(s, name=None, what: str = "sparsity") -> Fraction:
    """Read ``s`` exactly as the decimal it prints as, and check ``0 <= s < 1``.

    ``0.29`` means exactly 29/100 (not the binary double just below it), so
    ``0.29 * 100`` is exactly 29 on every platform.  ``np.float32(0.29)`` is
    read from its own shortest repr ``'0.29'`` too.
    """
    label = layer_label(name)
    if isinstance(s, bool) or s is None:
        raise ValueError(f"{label}: {what} must be a number in [0, 1), not {s!r}")
    if isinstance(s, Fraction):
        frac = s
    elif isinstance(s, (int, np.integer)):
        frac = Fraction(int(s))
    elif isinstance(s, (float, np.floating)):
        if not np.isfinite(s):
            raise ValueError(f"{label}: {what} must be a number in [0, 1), not {s}")
        frac = Fraction(str(s))
    elif isinstance(s, str):
        try:
            frac = Fraction(s)
        except ValueError:
            raise ValueError(f"{label}: {what} must be a number in [0, 1), not {s!r}") from None
    else:
        raise ValueError(f"{label}: {what} must be a number in [0, 1), not {type(s).__name__}")
    if not 0 <= frac < 1:
        raise ValueError(f"{label}: {what} must be in [0, 1), not {float(frac):g}")
    return frac


def check_nm(n, m, name=None) -> tuple[int, int]:
    label = layer_label(name)
    for lab, v in (("N", n), ("M", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{label}: N:M needs integers, got {lab}={v!r}")
    if m < 2 or n < 1 or n >= m:
        raise ValueError(f"{label}: N:M needs 1 <= N < M, not {n}:{m}")
    return int(n), int(m)


def check_axis(axis, ndim: int, name=None) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"{layer_label(name)}: axis {axis!r} is out of range for a {ndim}-D tensor")
    return int(axis) % ndim


def check_same_shape(a, shape, name, what: str) -> np.ndarray:
    arr = check_weights(a, name, what=what)
    if arr.shape != tuple(shape):
        raise ValueError(f"{layer_label(name)}: {what} shape {arr.shape} does not match "
                         f"the weight shape {tuple(shape)}")
    return arr


def check_int(v, name=None, what: str = "value", minimum: int | None = None) -> int:
    """Return ``v`` as a Python int; ``ValueError`` naming the layer unless it is an
    integer (``bool`` and ``8.0`` are refused) of at least ``minimum``."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"{layer_label(name)}: {what} must be an integer, not {v!r}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{layer_label(name)}: {what} must be an integer >= {minimum}, not {v!r}")
    return int(v)


def check_finite_scores(scores, name=None) -> np.ndarray:
    """Return ``scores`` as a real numeric array after checking it holds no NaN/inf.

    A NaN compares false with everything, so it would silently sit outside the
    ranking and break the exact counts; inf is refused too, so every score is
    an ordinary number.  Uses two reductions (min/max propagate NaN), no
    temporary array the size of the scores.
    """
    label = layer_label(name)
    try:
        arr = np.asarray(scores)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{label}: scores are not a rectangular numeric array ({exc})") from None
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{label}: scores must be a real numeric array, not {arr.dtype}")
    if arr.size and np.issubdtype(arr.dtype, np.floating):
        if not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
            finite = np.isfinite(arr)
            idx = np.unravel_index(int(np.argmin(finite)), arr.shape)
            kind = "NaN" if np.isnan(arr[idx]) else "inf"
            raise ValueError(f"{label}: scores must be finite; {int(arr.size - finite.sum())} "
                             f"non-finite score(s), first {kind} at index {tuple(int(i) for i in idx)}")
    return arr
