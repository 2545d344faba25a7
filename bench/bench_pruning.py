"""Pruning package speed: global magnitude selection, 2:4 masking, exporter encode.

Rows (fixed seed, float32 N(0,1) weights; best of ``reps`` runs):
  * "global magnitude": one threshold across 10 layers totalling 50 M
    weights (5 M when quick) at 90% sparsity, scores included;
  * "2:4 mask": ``nm_mask`` on a 4096x4096 matrix (1024x1024 when quick),
    and the transposable 2:4 mask on the same matrix;
  * "encode+hex <fmt>": each exporter's encoding plus its ``$readmemh`` text
    (quantised int8 1024x1024 layer, 2:4-pruned so every format applies),
    without disk writes.
Columns: case, number of weights, seconds, M weights/s.  Wall-clock figures
are machine-dependent.
"""
from __future__ import annotations

import numpy as np

from pruning import masks
from pruning.api import prune
from pruning.export import FORMATS, encode
from pruning.fileio import to_hex_lines
from pruning.quant import quantize
from bench.timing import best_time

SEED = 2017


def _row(case, n, t):
    return {"case": case, "weights": n, "seconds": round(t, 4), "Mweights_per_s": round(n / t / 1e6, 2)}


def _encode_hex(q, fmt):
    arrays, widths, _, _ = encode(q, fmt, 8)
    return [to_hex_lines(a, widths[k]) for k, a in arrays.items()]


def run(quick: bool = False) -> list[dict]:
    rng = np.random.default_rng(SEED)
    reps = 1 if quick else 3
    rows = []
    total = 5_000_000 if quick else 50_000_000
    layers = {f"l{i}": rng.standard_normal(total // 10, dtype=np.float32) for i in range(10)}
    t, res = best_time(lambda: prune(layers, 0.9, scope="global").masks, reps)
    kept = sum(int(np.count_nonzero(m)) for m in res.values())
    if kept != total - (9 * total) // 10:
        raise AssertionError(f"global magnitude kept {kept} weights, expected {total // 10}")
    rows.append(_row("global magnitude 90%", total, t))
    layers = res = None  # free ~2 GB before the next case

    side = 1024 if quick else 4096
    w = rng.standard_normal((side, side), dtype=np.float32)
    scores = np.abs(w)
    t, m = best_time(lambda: masks.nm_mask(scores, 2, 4), reps)
    if not masks.check_nm_mask(m, 2, 4):
        raise AssertionError("2:4 mask is invalid")
    rows.append(_row(f"2:4 mask {side}x{side}", side * side, t))
    t, m = best_time(lambda: masks.transposable_nm_mask(scores, 2, 4), reps)
    if not (masks.check_nm_mask(m, 2, 4, axis=1) and masks.check_nm_mask(m, 2, 4, axis=0)):
        raise AssertionError("transposable 2:4 mask is invalid")
    rows.append(_row(f"transposable 2:4 mask {side}x{side}", side * side, t))

    ws = rng.standard_normal((1024, 1024)).astype(np.float32)
    q = quantize(prune(ws, nm="2:4").weights[None], bits=8).q
    for fmt in FORMATS:
        t, _ = best_time(lambda: _encode_hex(q, fmt), reps)
        rows.append(_row(f"encode+hex {fmt} (int8 1024x1024, 2:4)", q.size, t))
    return rows
