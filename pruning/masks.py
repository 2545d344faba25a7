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

import itertools
from functools import lru_cache

import numpy as np

from ._checks import as_fraction, check_axis, check_nm, layer_label

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
    O(rows * cols) with one ``np.partition``; no full sort.
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

    def reduce(self, e: np.ndarray, p: float) -> np.ndarray:
        g = self.gran
        if g == "element":
            return e
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


def _lp(e: np.ndarray, axes: tuple, p: float) -> np.ndarray:
    a = np.abs(e).astype(np.float64, copy=False)
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
    the aligned block size ``b``; ``p`` the group norm order.
    """
    scores = np.asarray(scores)
    grouping = _Grouping(scores.shape, granularity, axis, block, name)
    p = _check_p(p, name)
    gs = grouping.reduce(scores, p)
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
    """One threshold across layers: prune exactly ``prune_count(s, total units)``.

    ``scores`` maps layer name to element scores, in the order used to break
    ties (earlier layer kept).  Returns ``{name: keep-mask}``.
    """
    if not scores:
        raise ValueError("global selection needs at least one layer")
    p = _check_p(p, None)
    groupings, flat, shapes = {}, [], {}
    for name, s in scores.items():
        s = np.asarray(s)
        g = _Grouping(s.shape, granularity, axis, block, name)
        gs = g.reduce(s, p)
        groupings[name], shapes[name] = g, gs.shape
        flat.append(gs.ravel())
    dtype = np.result_type(*[f.dtype for f in flat])
    allg = np.concatenate([f.astype(dtype, copy=False) for f in flat])
    k = prune_count(sparsity, allg.size)
    keep = lowest_k_keep(allg.reshape(1, -1), k).ravel()
    out, off = {}, 0
    for (name, g), f in zip(groupings.items(), flat):
        out[name] = g.expand(keep[off:off + f.size].reshape(shapes[name]))
        off += f.size
    return out


def nm_mask(scores, n: int = 2, m: int = 4, axis: int = -1, name=None) -> np.ndarray:
    """Keep the ``n`` best of every ``m`` consecutive elements along ``axis``.

    See the module docstring for the tail rule (:data:`NM_TAIL_RULE`) and the
    tie-breaking (lower index kept).
    """
    n, m = check_nm(n, m, name)
    scores = np.asarray(scores)
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


@lru_cache(maxsize=None)
def _patterns(n: int, m: int) -> np.ndarray:
    """All m x m 0/1 matrices with exactly n ones per row and column, lexicographic."""
    rows = [c for c in itertools.combinations(range(m), n)]
    out = []

    def rec(i, colcount, chosen):
        if len(out) > 20000:
            raise ValueError(f"transposable {n}:{m} has too many patterns to enumerate")
        if i == m:
            out.append(tuple(chosen))
            return
        for j, comb in enumerate(rows):
            if all(colcount[c] < n for c in comb):
                for c in comb:
                    colcount[c] += 1
                rec(i + 1, colcount, chosen + [j])
                for c in comb:
                    colcount[c] -= 1

    rec(0, [0] * m, [])
    return np.array(out, dtype=np.int64), np.array(rows, dtype=np.int64)


def transposable_nm_mask(scores, n: int = 2, m: int = 4, name=None) -> np.ndarray:
    """N:M mask valid on both ``W`` and ``W.T`` (every m x m block: <= n per row and column).

    ``scores`` is 2-D, or a conv weight that is viewed as ``(K, C*R*S)``.  For
    each aligned m x m block the pattern (exactly n per row and column) with
    the largest summed score is chosen exactly, by enumeration (90 patterns
    for 2:4); equal sums pick the first pattern in lexicographic order.
    Scores must be non-negative (magnitudes, saliencies); partial blocks at the
    edges are zero-padded as in :data:`NM_TAIL_RULE`, so they hold <= n per
    row and column after cropping.
    """
    n, m = check_nm(n, m, name)
    scores = np.asarray(scores)
    shape = scores.shape
    if scores.ndim < 2:
        raise ValueError(f"{layer_label(name)}: transposable N:M needs a 2-D (or conv) weight, "
                         f"not shape {shape}")
    s2 = scores.reshape(shape[0], -1).astype(np.float64)
    if s2.size and s2.min() < 0:
        raise ValueError(f"{layer_label(name)}: transposable N:M needs non-negative scores")
    pats, rowcombs = _patterns(n, m)
    R, C = s2.shape
    br, bc = -(-R // m), -(-C // m)
    pad = np.zeros((br * m, bc * m))
    pad[:R, :C] = s2
    blocks = pad.reshape(br, m, bc, m).transpose(0, 2, 1, 3).reshape(-1, m, m)
    # Row-combination sums in a fixed order (exact same IEEE ops everywhere).
    rs = np.zeros((blocks.shape[0], m, len(rowcombs)))
    for j, comb in enumerate(rowcombs):
        acc = blocks[:, :, comb[0]].copy()
        for c in comb[1:]:
            acc += blocks[:, :, c]
        rs[:, :, j] = acc
    arg = np.empty(blocks.shape[0], dtype=np.int64)
    step = 1 << 15
    for lo in range(0, blocks.shape[0], step):
        chunk = rs[lo:lo + step]
        tot = chunk[:, 0, pats[:, 0]]
        for i in range(1, m):
            tot += chunk[:, i, pats[:, i]]
        arg[lo:lo + step] = np.argmax(tot, axis=1)  # first maximum: lexicographic tie-break
    rowsel = rowcombs[pats[arg]]  # (blocks, m rows, n cols)
    kb = np.zeros((blocks.shape[0], m, m), dtype=bool)
    bi = np.arange(blocks.shape[0])[:, None, None]
    ri = np.arange(m)[None, :, None]
    kb[bi, ri, rowsel] = True
    keep = kb.reshape(br, bc, m, m).transpose(0, 2, 1, 3).reshape(br * m, bc * m)[:R, :C]
    return keep.reshape(shape).copy()


def check_nm_mask(mask, n: int = 2, m: int = 4, axis: int = -1) -> bool:
    """True when every group of ``m`` along ``axis`` (zero-padded tail) keeps <= ``n``."""
    mask = np.asarray(mask, dtype=bool)
    moved = np.moveaxis(mask, axis, -1)
    L = moved.shape[-1]
    g = -(-L // m)
    pad = np.zeros(moved.shape[:-1] + (g * m,), dtype=bool)
    pad[..., :L] = moved
    return bool((pad.reshape(-1, m).sum(axis=1) <= n).all())
