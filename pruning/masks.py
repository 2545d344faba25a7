"""Exact, deterministic mask selection at every granularity.

A mask is a ``bool`` array shaped like the weights: ``True`` keeps a weight.

**Rounding rule.**  A request for sparsity ``s`` over ``n`` prunable units
(elements or groups) prunes exactly ``k = min(round_half_even(s * n), n - 1)``
of them (``k = 0`` when ``n == 0``), with ``s`` read as the decimal it prints
as and ``s * n`` computed exactly (see :func:`prune_count`).  Nearest count,
so ``1/3`` of 9 weights is 3 although ``float(1/3) * 9`` is a hair under 3;
halves go to the even count, as Python's ``round`` and
``torch.nn.utils.prune`` do; the cap means a request below 1 never removes
every unit of a selection, so no layer (or row, for ``scope="row"``)
silently disappears.  (The anchors differ: torch rounds half to even
without the cap, TF-MOT keeps every tie at the threshold so its count
drifts, ASP truncates.)

**Global scope.**  :func:`global_select` ranks every unit of every layer
together and prunes exactly ``k = prune_count(s, N)`` of the ``N`` units,
but never a whole layer: each layer keeps at least one unit (its
highest-ranked one), i.e. at most ``n_l - 1`` of its ``n_l`` units are
pruned.  When that cap binds, the count is still met exactly by pruning the
next-lowest units of the other layers in rank order; when it cannot be met
(``k > sum(n_l - 1)``, e.g. many one-unit layers) ``ValueError`` is raised
rather than silently pruning less.

**Scores** must be finite real numbers (NaN ranks nowhere and would break
the exact counts); :func:`select`, :func:`nm_mask`, :func:`global_select`
and :func:`transposable_nm_mask` raise ``ValueError`` naming the layer
otherwise.

**Tie-breaking.**  Units are ranked by score, and equal scores by position:
the unit with the **lower flat index is kept** (the higher one is pruned
first).  Global selection ranks by (score, layer order, flat index).
Selection uses ``np.partition`` plus exact comparisons, never float
arithmetic on the ranking, so the same scores give the same mask on every
platform.

**N:M tail rule.**  When ``M`` does not divide the axis length ``L = q*M + r``,
the axis is treated as zero-padded to ``(q+1)*M``: the padded tensor
satisfies N:M and the padding is cropped.  The tail group of ``r`` real
elements therefore keeps its ``min(N, r)`` best elements (it stays dense when
``r <= N``).  Aligned blocks (``granularity="block"``) use the same padding:
a tail block is scored by the norm of its ``r`` real elements.
:data:`NM_TAIL_RULE` is the text recorded in export manifests.
"""
from __future__ import annotations

import functools

import numpy as np

from ._checks import as_fraction, check_axis, check_finite_scores, check_nm, layer_label
from .transposable import transposable_nm_mask

__all__ = ["prune_count", "lowest_k_keep", "select", "nm_mask", "transposable_nm_mask",
           "global_select", "check_nm_mask", "GRANULARITIES", "NM_TAIL_RULE"]

GRANULARITIES = ("element", "vector", "kernel", "filter", "channel", "row", "column", "block")

NM_TAIL_RULE = ("zero-pad: an axis length L = q*M + r with r > 0 is treated as zero-padded "
                "to (q+1)*M; the tail group of r real elements keeps its min(N, r) "
                "highest-scoring elements (dense when r <= N)")


def prune_count(sparsity, n: int, name=None) -> int:
    """Units pruned for ``sparsity`` over ``n``: ``min(round_half_even(s * n), n - 1)``.

    ``s`` is taken exactly as the decimal it prints as (``Fraction(str(s))``)
    and multiplied exactly, so the count does not depend on binary rounding
    or the platform: ``prune_count(0.45, 10) == 4`` (4.5 rounds to even),
    ``prune_count(1/3, 9) == 3``, ``prune_count(0.9, 1) == 0`` (the cap).
    Raises ``ValueError`` unless ``0 <= s < 1``.
    """
    frac = as_fraction(sparsity, name)
    n = int(n)
    if n <= 0:
        return 0
    return min(round(frac * n), n - 1)


def lowest_k_keep(scores: np.ndarray, k) -> np.ndarray:
    """Keep-mask for a 2-D ``scores``: prune the ``k`` lowest of every row.

    ``k`` is an int (same for every row) or an int array, one per row.  Ties
    at the threshold prune the highest column index first.  Runs in
    O(rows * cols) with one ``np.partition``; no full sort.  ``scores`` must
    be NaN-free (the public selectors check that before calling this).
    """
    scores = np.asarray(scores)
    rows, cols = scores.shape
    kk = np.broadcast_to(np.asarray(k, dtype=np.int64), (rows,))
    if rows == 0 or cols == 0:
        return np.ones(scores.shape, dtype=bool)
    if (kk < 0).any() or (kk > cols).any():
        raise ValueError(f"cannot prune {kk.min()}..{kk.max()} of {cols} units per row")
    keep = np.ones(scores.shape, dtype=bool)
    kmax = int(kk.max())
    if kmax == 0:
        return keep
    if (kk == kk[0]).all():
        kth = int(kk[0]) - 1
        thr = np.partition(scores, kth, axis=1)[:, kth]
    else:
        # Rows with different k: partition each distinct k once (few in practice).
        thr = np.empty(rows, dtype=scores.dtype)
        for kv in np.unique(kk[kk > 0]):
            sel = kk == kv
            thr[sel] = np.partition(scores[sel], int(kv) - 1, axis=1)[:, int(kv) - 1]
    active = kk > 0
    thr_b = thr[:, None]
    below = (scores < thr_b) & active[:, None]
    need = kk - below.sum(axis=1)
    keep &= ~below
    r, c = np.nonzero((scores == thr_b) & active[:, None])
    if r.size:
        # Equal-to-threshold units: prune the last `need[row]` of each row.
        per_row = np.bincount(r, minlength=rows)
        start = np.concatenate(([0], np.cumsum(per_row)[:-1]))
        from_end = per_row[r] - 1 - (np.arange(r.size) - start[r])
        hit = from_end < need[r]
        keep[r[hit], c[hit]] = False
    return keep


class _Grouping:
    """Maps element scores to group scores and group decisions back to elements."""

    def __init__(self, shape, granularity: str, axis: int, block, name):
        self.shape = tuple(shape)
        self.gran = granularity
        self.name = name
        nd = len(self.shape)
        label = layer_label(name)
        if granularity not in GRANULARITIES:
            raise ValueError(f"{label}: unknown granularity {granularity!r}; "
                             f"choose from {', '.join(GRANULARITIES)}")
        if granularity == "kernel" and nd != 4:
            raise ValueError(f"{label}: kernel granularity needs a 4-D conv weight "
                             f"(K, C, R, S), not shape {self.shape}")
        if granularity in ("vector", "filter", "channel", "row", "column", "block") and nd < 2 \
                and granularity != "block":
            raise ValueError(f"{label}: {granularity} granularity needs a weight with at least "
                             f"2 axes, not shape {self.shape}")
        self.axis = check_axis(axis, nd, name)
        if granularity == "block":
            if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
                raise ValueError(f"{label}: block granularity needs a positive integer block "
                                 f"size, not {block!r}")
            self.block = int(block)
        # The group-score array keeps axis 0 (output rows) for these, so a
        # per-row scope is meaningful.
        self.has_rows = granularity in ("element", "kernel") or (
            granularity in ("vector", "block") and self.axis != 0 and nd >= 2)

    def reduce(self, e: np.ndarray, p: float, shift: int = 0) -> np.ndarray:
        """Group Lp norms of ``e * 2**-shift`` (``shift`` from :func:`_norm_shift`)."""
        g = self.gran
        if g == "element":
            return e
        _lp = functools.partial(_lp_scaled, shift=shift)
        if g in ("vector",):
            return _lp(e, (self.axis,), p)
        if g == "kernel":
            return _lp(e, (2, 3), p)
        if g in ("filter", "row"):
            return _lp(e, tuple(range(1, e.ndim)), p)
        if g in ("channel", "column"):
            return _lp(e, (0,) + tuple(range(2, e.ndim)), p)
        # block: pad the block axis with zeros (score 0 adds nothing to a norm)
        moved = np.moveaxis(e, self.axis, -1)
        L = moved.shape[-1]
        nb = -(-L // self.block)
        pad = np.zeros(moved.shape[:-1] + (nb * self.block,), dtype=e.dtype)
        pad[..., :L] = moved
        return _lp(pad.reshape(moved.shape[:-1] + (nb, self.block)), (-1,), p)

    def expand(self, gkeep: np.ndarray) -> np.ndarray:
        g = self.gran
        if g == "element":
            return gkeep
        if g == "vector":
            return np.broadcast_to(np.expand_dims(gkeep, self.axis), self.shape).copy()
        if g == "kernel":
            return np.broadcast_to(gkeep[:, :, None, None], self.shape).copy()
        if g in ("filter", "row"):
            return np.broadcast_to(gkeep.reshape((-1,) + (1,) * (len(self.shape) - 1)), self.shape).copy()
        if g in ("channel", "column"):
            return np.broadcast_to(gkeep.reshape((1, -1) + (1,) * (len(self.shape) - 2)), self.shape).copy()
        moved_shape = tuple(np.delete(np.array(self.shape), self.axis)) + (self.shape[self.axis],)
        full = np.repeat(gkeep, self.block, axis=-1)[..., :moved_shape[-1]]
        return np.moveaxis(full.reshape(moved_shape), -1, self.axis).copy()


def _norm_shift(arrays) -> int:
    """Binary exponent of the largest ``|score|`` over ``arrays`` (0 if all zero).

    Group norms are taken of the scores scaled by ``2**-shift`` so every
    element is below 1: a sum of ``n`` such terms is at most ``n`` and cannot
    overflow to inf (which would tie distinct groups).  A power of two is
    exact, and using one shift for every layer in a selection keeps the
    scaled norms comparable across layers.
    """
    m = 0.0
    for a in arrays:
        if a.size:
            m = max(m, float(np.abs(a).max()))
    return int(np.frexp(m)[1]) if m > 0 else 0


def _lp_scaled(e: np.ndarray, axes: tuple, p: float, shift: int = 0) -> np.ndarray:
    a = np.abs(e).astype(np.float64, copy=False)
    if shift:
        a = np.ldexp(a, -shift)
    if p == np.inf:
        return a.max(axis=axes) if a.size else a.sum(axis=axes)
    if p == 1:
        return a.sum(axis=axes)
    if p == 2:
        return np.sqrt((a * a).sum(axis=axes))
    return (a ** p).sum(axis=axes) ** (1.0 / p)


def _check_p(p, name) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not p >= 1:
        raise ValueError(f"{layer_label(name)}: Lp group norm needs p >= 1 (or inf), not {p!r}")
    return float(p)


def select(scores, sparsity, *, granularity: str = "element", scope: str = "layer",
           axis: int = -1, block=None, p: float = 2, name=None) -> np.ndarray:
    """Keep-mask pruning exactly ``prune_count(s, units)`` of the lowest-scoring units.

    Parameters: ``scores`` element scores (higher = more important, same shape
    as the weight); ``granularity`` one of :data:`GRANULARITIES` (groups are
    scored by the Lp norm of their element scores); ``scope`` ``"layer"``
    (one count for the tensor) or ``"row"`` (the same fraction in every output
    row, axis 0, as Wanda compares); ``axis`` the vector/block axis; ``block``
    the aligned block size ``b``; ``p`` the group norm order.  ``scope="row"``
    needs a weight with at least 2 axes (a 1-D weight has no output rows).
    Scores must be finite (``ValueError`` naming ``name`` otherwise).
    """
    scores = check_finite_scores(scores, name)
    if scope == "row" and scores.ndim < 2:
        raise ValueError(f"{layer_label(name)}: scope 'row' needs a weight with at least 2 axes "
                         f"(output rows on axis 0), not shape {scores.shape}")
    grouping = _Grouping(scores.shape, granularity, axis, block, name)
    p = _check_p(p, name)
    gs = grouping.reduce(scores, p, _norm_shift([scores]))
    if scope == "layer":
        k = prune_count(sparsity, gs.size, name)
        gkeep = lowest_k_keep(gs.reshape(1, -1), k).reshape(gs.shape)
    elif scope == "row":
        if not grouping.has_rows or gs.ndim < 1:
            raise ValueError(f"{layer_label(name)}: scope 'row' needs groups inside output rows; "
                             f"granularity {granularity!r} (axis {axis}) spans rows")
        rows = gs.reshape(gs.shape[0], -1)
        k = prune_count(sparsity, rows.shape[1], name)
        gkeep = lowest_k_keep(rows, k).reshape(gs.shape)
    else:
        raise ValueError(f"{layer_label(name)}: unknown scope {scope!r}; choose 'layer', 'row' "
                         f"(or use global_select for one threshold across layers)")
    return grouping.expand(gkeep)


def global_select(scores: dict, sparsity, *, granularity: str = "element", axis: int = -1,
                  block=None, p: float = 2) -> dict:
    """One ranking across layers: prune exactly ``prune_count(s, total units)``.

    ``scores`` maps layer name to element scores, in the order used to break
    ties (earlier layer kept).  Returns ``{name: keep-mask}``.  Each layer
    keeps at least one unit (see "Global scope" in the module docstring):
    its highest-ranked unit is set aside and the ``k`` lowest of the others
    are pruned, which is the same as pruning in rank order and skipping a
    layer once only one of its units is left.  Raises ``ValueError`` when
    ``k`` exceeds ``sum(n_l - 1)``.
    """
    if not scores:
        raise ValueError("global selection needs at least one layer")
    p = _check_p(p, None)
    groupings, flat, shapes = {}, [], {}
    checked = {name: check_finite_scores(s, name) for name, s in scores.items()}
    shift = _norm_shift(checked.values())
    for name, s in checked.items():
        g = _Grouping(s.shape, granularity, axis, block, name)
        gs = g.reduce(s, p, shift)
        groupings[name], shapes[name] = g, gs.shape
        flat.append(gs.ravel())
    dtype = np.result_type(*[f.dtype for f in flat])
    allg = np.concatenate([f.astype(dtype, copy=False) for f in flat])  # always a fresh copy
    k = prune_count(sparsity, allg.size)
    # The unit each layer keeps: its highest score, the lower index on ties
    # (np.argmax returns the first maximum), i.e. the last one the ranking
    # would reach in that layer.
    protected, off = [], 0
    for f in flat:
        if f.size:
            protected.append(off + int(np.argmax(f)))
        off += f.size
    protected = np.array(protected, dtype=np.int64)
    prunable = allg.size - protected.size
    if k > prunable:
        raise ValueError(f"global scope: sparsity {sparsity} asks for {k} of {allg.size} units, but "
                         f"keeping at least one unit in each of the {len(flat)} layers allows at "
                         f"most {prunable}; lower the sparsity or use per-layer scope")
    # Take the protected units out (np.delete keeps the others' order and
    # tie-breaking) and put them back kept.  No +inf sentinel: a score that
    # is itself +inf (e.g. an overflowed norm) would tie with it.
    rest = lowest_k_keep(np.delete(allg, protected).reshape(1, -1), k).ravel()
    keep = np.insert(rest, protected - np.arange(protected.size), True)
    out, off = {}, 0
    for (name, g), f in zip(groupings.items(), flat):
        out[name] = g.expand(keep[off:off + f.size].reshape(shapes[name]))
        off += f.size
    return out


def nm_mask(scores, n: int = 2, m: int = 4, axis: int = -1, name=None) -> np.ndarray:
    """Keep the ``n`` best of every ``m`` consecutive elements along ``axis``.

    See the module docstring for the tail rule (:data:`NM_TAIL_RULE`) and the
    tie-breaking (lower index kept).  ``axis`` is the real tensor axis (the
    conv "flattened C*R*S" convention lives in :func:`pruning.api.prune`).
    Scores must be finite.
    """
    n, m = check_nm(n, m, name)
    scores = check_finite_scores(scores, name)
    if scores.ndim < 1:
        raise ValueError(f"{layer_label(name)}: N:M needs at least one axis, not a scalar")
    ax = check_axis(axis, scores.ndim, name)
    moved = np.moveaxis(scores, ax, -1)
    L = moved.shape[-1]
    groups = -(-L // m)
    # Pads score -inf and sit at the end of their group, so they are pruned first.
    pad = np.full(moved.shape[:-1] + (groups * m,), -np.inf,
                  dtype=np.result_type(scores.dtype, np.float32))
    pad[..., :L] = moved
    flat = pad.reshape(-1, m)
    keep = _nm_keep_small(flat, n) if m <= 16 else lowest_k_keep(flat, m - n)
    keep = keep.reshape(moved.shape[:-1] + (groups * m,))[..., :L]
    return np.moveaxis(keep, -1, ax).copy()


def _nm_keep_small(groups: np.ndarray, n: int) -> np.ndarray:
    """Rank-by-comparison for small m: element i is kept when fewer than n
    elements beat it (higher score, or equal score at a lower index)."""
    m = groups.shape[1]
    cols = [np.ascontiguousarray(groups[:, j]) for j in range(m)]
    keep = np.empty(groups.shape, dtype=bool)
    for i in range(m):
        rank = np.zeros(groups.shape[0], dtype=np.uint8)
        for j in range(m):
            if j < i:
                rank += cols[j] >= cols[i]
            elif j > i:
                rank += cols[j] > cols[i]
        keep[:, i] = rank < n
    return keep


def check_nm_mask(mask, n: int = 2, m: int = 4, axis: int = -1) -> bool:
    """True when every group of ``m`` along ``axis`` (zero-padded tail) keeps <= ``n``."""
    mask = np.asarray(mask, dtype=bool)
    moved = np.moveaxis(mask, axis, -1)
    L = moved.shape[-1]
    g = -(-L // m)
    pad = np.zeros(moved.shape[:-1] + (g * m,), dtype=bool)
    pad[..., :L] = moved
    return bool((pad.reshape(-1, m).sum(axis=1) <= n).all())
