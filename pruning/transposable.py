"""Transposable N:M masks: valid on ``W`` and ``W.T`` (every m x m block <= n per row and column).

Re-exported by :mod:`pruning.masks`, whose module docstring states the
shared rules (tail padding, finite scores).
"""
from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from ._checks import check_finite_scores, check_nm, layer_label

__all__ = ["transposable_nm_mask"]

_MAX_PATTERNS = 20000


@lru_cache(maxsize=None)
def _patterns(n: int, m: int) -> np.ndarray:
    """All m x m 0/1 matrices with exactly n ones per row and column, lexicographic."""
    rows = [c for c in itertools.combinations(range(m), n)]
    out = []

    def rec(i, colcount, chosen):
        if len(out) > _MAX_PATTERNS:
            raise ValueError(f"transposable {n}:{m} has more than {_MAX_PATTERNS} block patterns "
                             f"to enumerate (2:4 has 90); choose a smaller N:M")
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
    Scores must be finite and non-negative (magnitudes, saliencies); partial blocks at the
    edges are zero-padded as in :data:`NM_TAIL_RULE`, so they hold <= n per
    row and column after cropping.
    """
    n, m = check_nm(n, m, name)
    scores = check_finite_scores(scores, name)
    shape = scores.shape
    if scores.ndim < 2:
        raise ValueError(f"{layer_label(name)}: transposable N:M needs a 2-D (or conv) weight, "
                         f"not shape {shape}")
    s2 = scores.reshape(shape[0], -1).astype(np.float64)
    if s2.size and s2.min() < 0:
        raise ValueError(f"{layer_label(name)}: transposable N:M needs non-negative scores")
    try:
        pats, rowcombs = _patterns(n, m)
    except ValueError as exc:
        raise ValueError(f"{layer_label(name)}: {exc}") from None
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
