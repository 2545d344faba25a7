"""One call from weights to masks: criterion + granularity + scope, with a recipe.

:func:`prune` validates every layer before computing anything, so a bad layer
raises ``ValueError`` naming it and nothing is half done.  The returned
recipe is plain JSON and travels into export manifests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import criteria, masks
from ._checks import as_fraction, check_int, check_nm, check_weights, layer_label

__all__ = ["prune", "PruneResult", "parse_nm", "apply_masks", "sparsity_of"]

ROUNDING_RULE = ("exactly k = min(round_half_even(s * n), n - 1) of n units are pruned, s read "
                 "as the decimal it prints as; equal scores keep the lower flat index "
                 "(global: the earlier layer)")


@dataclass
class PruneResult:
    """Masks (``True`` = keep), pruned weights and the JSON recipe."""
    masks: dict
    weights: dict
    recipe: dict
    requested: dict = field(default_factory=dict)

    def achieved(self) -> dict:
        return {k: sparsity_of(m) for k, m in self.masks.items()}


def parse_nm(nm, name=None) -> tuple[int, int] | None:
    """Accept ``None``, ``(n, m)`` or ``"n:m"``; ``ValueError`` names ``name``."""
    if nm is None:
        return None
    if isinstance(nm, str):
        try:
            n, m = (int(t) for t in nm.split(":"))
        except ValueError:
            raise ValueError(f"{layer_label(name)}: N:M must look like '2:4', not {nm!r}") from None
        return check_nm(n, m, name)
    try:
        n, m = nm
    except (TypeError, ValueError):
        raise ValueError(f"{layer_label(name)}: N:M must be (n, m) or 'n:m', not {nm!r}") from None
    return check_nm(n, m, name)


def _is_minus_one(axis) -> bool:
    return not isinstance(axis, bool) and isinstance(axis, (int, np.integer)) and axis == -1


def _json_int(v):
    """NumPy integers (already validated by the masks) as plain ints for the JSON recipe."""
    return int(v) if isinstance(v, np.integer) else v


def sparsity_of(mask) -> float:
    mask = np.asarray(mask)
    return float(1.0 - np.count_nonzero(mask) / mask.size) if mask.size else 0.0


def apply_masks(weights: dict, mask_dict: dict) -> dict:
    """Zero the pruned weights (returns new arrays, same dtypes)."""
    return {k: np.where(mask_dict[k], w, np.zeros((), dtype=np.asarray(w).dtype)) if k in mask_dict
            else np.asarray(w) for k, w in weights.items()}


def prune(weights, sparsity=0.5, *, criterion: str = "magnitude", granularity: str = "element",
          scope: str | None = None, nm=None, transposable: bool = False, axis: int = -1, block=None,
          p=None, seed=None, grads=None, hessians=None, inputs=None) -> PruneResult:
    """Prune a layer (array) or several (``{name: array}``).

    Parameters: ``sparsity`` a number in [0, 1) or ``{name: number}``
    (ignored for N:M, whose sparsity is ``1 - N/M``); ``criterion`` one of
    :data:`pruning.criteria.CRITERIA`; ``granularity`` one of
    :data:`pruning.masks.GRANULARITIES`; ``scope`` ``"layer"``, ``"row"``
    (needs weights with >= 2 axes) or ``"global"`` (one ranking across
    layers; every layer keeps at least one unit, the total count stays exact
    by pruning other layers' next-lowest units, and ``ValueError`` is raised
    when the count cannot be met that way, see :func:`pruning.masks.global_select`);
    ``nm`` ``"2:4"``-style N:M along ``axis``; ``transposable=True`` for N:M
    on W and W.T (2:4 when ``nm`` is not given); ``axis`` the N:M / vector /
    block axis; ``block`` the aligned block size; ``p`` the group-norm order
    (default 2 for magnitude, 1 for the other criteria); ``seed`` a
    non-negative integer for ``random``; ``grads``/``hessians``/``inputs``
    dicts (or arrays for a single layer) for taylor/obd/wanda.

    **N:M axis of conv weights.**  For a weight with more than 2 axes,
    ``axis=-1`` (the default, exactly ``-1``) means the flattened reduction
    axis ``C*R*S`` of the matrix view ``(K, C*R*S)`` that the exporters and
    the MAC use.  Any other ``axis`` is the real tensor axis: ``axis=3`` on
    ``(K, C, R, S)`` groups along ``S`` only, ``axis=1`` along ``C``.  For
    vector and block granularity ``axis`` is always the tensor axis.
    """
    single = not isinstance(weights, dict)
    ws = {None: weights} if single else dict(weights)
    if not ws:
        raise ValueError("nothing to prune: no layers given")

    def per(data, name):
        if data is None:
            return None
        if single:
            return data
        if not isinstance(data, dict):
            raise ValueError(f"{layer_label(name)}: per-layer data must be a dict keyed by layer name")
        return data.get(name)

    nmv = parse_nm(nm, next(iter(ws)))
    if transposable and nmv is None:
        nmv = (2, 4)  # before the sparsity records below: they read nmv
    if seed is not None:
        check_int(seed, next(iter(ws)), what="random seed", minimum=0)
    if scope is None:
        scope = "row" if criterion == "wanda" and nmv is None else "layer"
    if scope == "global" and (nmv is not None or transposable):
        raise ValueError("global scope does not apply to N:M masks (every group is local)")
    if scope not in ("layer", "row", "global"):
        raise ValueError(f"unknown scope {scope!r}; choose 'layer', 'row' or 'global'")
    req = {}
    for name, w in ws.items():
        arr = check_weights(w, name)
        ws[name] = arr
        if nmv is not None:
            req[name] = Fraction(nmv[1] - nmv[0], nmv[1])
        elif isinstance(sparsity, dict):
            if name not in sparsity:
                raise ValueError(f"{layer_label(name)}: no sparsity given for this layer")
            req[name] = as_fraction(sparsity[name], name)
        else:
            req[name] = as_fraction(sparsity, name)
    if p is None:
        p = 2 if criterion == "magnitude" else 1
    p = masks._check_p(p, next(iter(ws)))
    scores = {name: criteria.score(w, criterion, name=name,
                                   seed=None if seed is None else (seed, i),
                                   grad=per(grads, name), hessian_diag=per(hessians, name),
                                   inputs=per(inputs, name))
              for i, (name, w) in enumerate(ws.items())}
    if scope == "global":
        if isinstance(sparsity, dict):
            raise ValueError("global scope takes one sparsity for all layers, not a dict")
        out = masks.global_select(scores, sparsity, granularity=granularity, axis=axis,
                                  block=block, p=p)
    elif nmv is not None:
        out = {}
        for name, s in scores.items():
            if transposable:
                out[name] = masks.transposable_nm_mask(s, *nmv, name=name)
            elif s.ndim > 2 and _is_minus_one(axis):
                # Conv weights: groups run along the flattened reduction axis
                # C*R*S, the matrix view every exporter and MAC uses.
                out[name] = masks.nm_mask(s.reshape(s.shape[0], -1), *nmv, name=name).reshape(s.shape)
            else:
                out[name] = masks.nm_mask(s, *nmv, axis=axis, name=name)
    else:
        out = {name: masks.select(s, req[name], granularity=granularity, scope=scope, axis=axis,
                                  block=block, p=p, name=name)
               for name, s in scores.items()}
    recipe = {"criterion": criterion, "granularity": "nm" if nmv else granularity,
              "scope": scope, "axis": _json_int(axis), "block": _json_int(block),
              "p": float(p) if np.isfinite(p) else "inf",  # strict JSON has no Infinity
              "seed": _json_int(seed),
              "nm": f"{nmv[0]}:{nmv[1]}" if nmv else None, "transposable": bool(transposable),
              "rounding": ROUNDING_RULE, "nm_tail": masks.NM_TAIL_RULE if nmv else None,
              "sparsity": {str(k): float(v) for k, v in req.items()}}
    pruned = apply_masks(ws, out)
    if single:
        return PruneResult({None: out[None]}, {None: pruned[None]}, recipe, req)
    return PruneResult(out, pruned, recipe, req)
