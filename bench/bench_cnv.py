"""Cnvlutin unit: zero-skip vs dense cycles, speedup, the 1/density bound, the paper's figures.

Two kinds of rows, for L = 1 and L = 16 lanes (B = 16, F = 16):

* ``hw``: measured in Verilator on ``cnv_unit`` builds (L = 1: the ``l1_saturate`` bench
  build; L = 16: an ``acc_width = 20`` build), from the no-stall cocotb tests
  ``unit_density`` (6 random windows of K = 100 per density) and ``unit_relu`` (12 digits
  images), which assert hardware cycles == :func:`golden.cnv.run_cycles` exactly;
* ``model``: :func:`golden.cnv.run_cycles` (the exact cycle model the hardware matches)
  on larger samples: 64 random windows of K = 256 per density, and the 449 test images
  of the digits MLP (first hidden ReLU layer, 128 units = the channel axis, int8).

Columns: activation density, zero-skip and dense cycles (fixed latency included),
speedup, the ideal 1/density bound, the paper's average (1.37x; 1.52x for CNV + pruning,
i.e. with a threshold), and for thresholded rows the threshold T (int8 levels, chosen for
a target activation sparsity on the training images) and the test accuracy change it
costs the float MLP (threshold applied to the first hidden layer only, as the unit does).
"""

import os

import numpy as np

from golden import cnv
from tb import cnv_data

DENSITIES = (0.0, 0.1, 0.5, 0.56, 0.9, 1.0)
THRESHOLD_TARGETS = (0.6, 0.7, 0.8)
PAPER, PAPER_PRUNED = 1.37, 1.52
BRICK = 16
HW_BUILDS = {1: {"lanes": 1, "overflow": "saturate", "acc_width": 20},
             16: {"lanes": 16, "acc_width": 20}}


def _row(lanes, data, source, density, zs, dense, *, threshold=None, acc_change=None):
    return {"L": lanes, "data": data, "source": source, "density": round(density, 4),
            "zero-skip cycles": zs, "dense cycles": dense,
            "speedup": round(dense / zs, 3) if zs else None,
            "1/density": round(1 / density, 3) if density else None,
            "paper": PAPER_PRUNED if threshold is not None else PAPER,
            "T": threshold, "accuracy change (points)": acc_change}


def _model(windows_acts, lanes, threshold=0):
    zs = [cnv.window_streams(a, lanes=lanes, brick=BRICK, threshold=threshold)
          for a in windows_acts]
    dn = [cnv.window_streams(a, lanes=lanes, brick=BRICK, dense=True) for a in windows_acts]
    return cnv.run_cycles(zs, lanes), cnv.run_cycles(dn, lanes)


def model_rows(lanes, quick):
    rng = np.random.default_rng(20160618)
    n = 16 if quick else 64
    rows = []
    for d in DENSITIES:
        a = rng.integers(1, 128, (n, 256)) * rng.choice([-1, 1], (n, 256))
        a[rng.random(a.shape) >= d] = 0
        rows.append(_row(lanes, f"uniform {d:.0%}", "model", float(np.count_nonzero(a) / a.size),
                         *_model(a, lanes)))
    model, (xtr, _, xte, yte) = cnv_data.digits_model()
    images = xte[:64] if quick else xte
    q, scale, _, acts = cnv_data.relu_data(images=len(images))
    density = float(np.count_nonzero(q) / q.size)
    rows.append(_row(lanes, f"digits ReLU ({len(q)} images)", "model", density, *_model(q, lanes)))
    base = model.accuracy(xte, yte)
    train_acts = model.hidden_activations(xtr)[0]
    for target in THRESHOLD_TARGETS:
        T = cnv_data.threshold_levels(train_acts, scale, target)
        acc = model.accuracy(xte, yte, act_thresholds=[T * scale, None])
        dens = float(np.count_nonzero(cnv.apply_threshold(q, T)) / q.size)
        rows.append(_row(lanes, f"digits ReLU, T for {target:.0%} zeros", "model", dens,
                         *_model(q, lanes, T), threshold=T,
                         acc_change=round(100 * (acc - base), 2)))
    return rows


def hw_rows(lanes, seed):
    from tb.runner import run_bench
    result = run_bench("cnv_unit", "tb.bench_cnv", params=HW_BUILDS[lanes],
                       test_filter=r"\.unit_(density|relu).*stall=False", seed=seed,
                       tag=f"bench-l{lanes}")
    rows = []
    for test in result.tests:
        if not test.passed:
            raise AssertionError(f"cnv_unit L={lanes} {test.name} failed: {test.message}")
        groups = {m["group"]: m for m in test.metrics}
        dense = groups["dense"]["cycles"]
        for g in ("zero-skip", "threshold"):
            if g not in groups:
                continue
            m = groups[g]
            assert m["cycles"] == m["model_cycles"], m
            data = (f"uniform {m['requested']:.0%}, K=100" if "density=" in test.name
                    else "digits ReLU (12 images)" + (f", T={m['threshold']}" if g == "threshold"
                                                      else ""))
            rows.append(_row(lanes, data, "hw", m["density"], m["cycles"], dense,
                             threshold=m.get("threshold")))
    return rows


def run(quick=False):
    seed = int(os.environ.get("SEED") or 1)
    rows = []
    for lanes in (1, 16):
        rows += hw_rows(lanes, seed)
        rows += model_rows(lanes, quick)
    return rows
