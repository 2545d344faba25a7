"""Energy-aware layer ordering (Yang, Chen & Sze, CVPR 2017).

Per-layer energy is estimated from a cost table of 32-bit operations
(default: Horowitz's 45 nm figures, as used by Han et al.).  The model,
stated so it can be argued with:

* every non-zero weight is fetched once from DRAM into the on-chip SRAM
  buffer and read once from SRAM (``nnz * (dram + sram)``);
* every input and output activation crosses DRAM and SRAM once
  (``(n_in + n_out) * (dram + sram)``);
* every non-zero MAC reads its weight and activation from the register file
  and does one multiply and one add (``macs * (2 * rf + mult + add)``), with
  ``macs = nnz * positions * act_density``: ``positions`` is 1 for a linear
  layer and ``H_out * W_out`` for a conv; ``act_density`` < 1 models skipped
  zero activations (Cnvlutin).

Memory energy scales with ``bits / 32`` (narrower words move less charge);
arithmetic uses the int or float entries of the table.  Pass ``table`` to
override any entry.  :func:`energy_aware_prune` then prunes the most
energy-hungry layers first, each as far as an accuracy floor allows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HOROWITZ_45NM", "LayerCost", "layer_energy", "energy_order", "energy_aware_prune"]

HOROWITZ_45NM = {"dram": 640.0, "sram": 5.0, "rf": 1.0, "int_mult": 3.1, "int_add": 0.1,
                 "float_mult": 3.7, "float_add": 0.9}


@dataclass(frozen=True)
class LayerCost:
    """Shape facts of one layer: ``n_weights`` (dense), ``n_in``/``n_out``
    activations per inference, ``positions`` (MACs per weight per inference)."""
    n_weights: int
    n_in: int
    n_out: int
    positions: int = 1

    @classmethod
    def linear(cls, weight_shape) -> "LayerCost":
        out_f, in_f = weight_shape
        return cls(out_f * in_f, in_f, out_f, 1)

    @classmethod
    def conv(cls, weight_shape, in_hw, out_hw) -> "LayerCost":
        k, c, r, s = weight_shape
        return cls(k * c * r * s, c * in_hw[0] * in_hw[1], k * out_hw[0] * out_hw[1],
                   out_hw[0] * out_hw[1])


def _table(table):
    t = dict(HOROWITZ_45NM)
    if table:
        unknown = set(table) - set(t)
        if unknown:
            raise ValueError(f"unknown energy table entries {sorted(unknown)}; known: {sorted(t)}")
        t.update(table)
    bad = [k for k, v in t.items() if not (np.isfinite(v) and v >= 0)]
    if bad:
        raise ValueError(f"energy table entries must be finite and >= 0: {bad}")
    return t


def layer_energy(cost: LayerCost, nnz: int | None = None, *, bits: int = 32, arith: str = "int",
                 act_density: float = 1.0, table=None) -> dict:
    """Energy in pJ of one inference of a layer: ``{"weights", "activations", "compute", "total"}``."""
    t = _table(table)
    if arith not in ("int", "float"):
        raise ValueError(f"arith must be 'int' or 'float', not {arith!r}")
    if not 0 <= act_density <= 1:
        raise ValueError(f"act_density must be in [0, 1], not {act_density}")
    nnz = cost.n_weights if nnz is None else int(nnz)
    mem = (t["dram"] + t["sram"]) * bits / 32.0
    macs = nnz * cost.positions * act_density
    e_w = nnz * mem
    e_a = (cost.n_in + cost.n_out) * mem
    e_c = macs * (2 * t["rf"] * bits / 32.0 + t[f"{arith}_mult"] + t[f"{arith}_add"])
    return {"weights": e_w, "activations": e_a, "compute": e_c, "total": e_w + e_a + e_c,
            "macs": macs}


def energy_order(costs: dict, nnz: dict | None = None, **kw) -> list:
    """Layer names, most energy first (equal energies keep their given order)."""
    names = list(costs)
    e = [layer_energy(costs[n], (nnz or {}).get(n), **kw)["total"] for n in names]
    return [names[i] for i in sorted(range(len(names)), key=lambda i: -e[i])]


def energy_aware_prune(weights: dict, costs: dict, evaluate, finetune, *, floor: float,
                       steps=(0.5, 0.7, 0.8, 0.9, 0.95), prune_fn=None, energy_kw=None) -> dict:
    """Greedy energy-first pruning with an accuracy floor.

    Layers are visited in :func:`energy_order`.  For each, the sparsity is
    raised through ``steps``; after each raise ``finetune(masks)`` runs (local
    fine-tuning with all current masks) and ``evaluate()`` returns accuracy.
    A step that drops below ``floor`` is undone (the weights are restored to
    their values before it) and the next layer is tried.  ``weights`` maps name
    to the live weight arrays (read, not written, here); ``prune_fn(w, s)``
    returns a keep-mask (default: per-layer magnitude).  Returns
    ``{"order", "sparsity", "masks", "energy_before", "energy_after"}``.
    """
    from .api import prune as _prune

    if prune_fn is None:
        def prune_fn(w, s, name):
            return _prune({name: w}, s).masks[name]
    kw = energy_kw or {}
    order = energy_order(costs, **kw)
    masks = {n: np.ones(np.shape(weights[n]), dtype=bool) for n in weights}
    chosen = {n: 0.0 for n in weights}
    before = sum(layer_energy(costs[n], **kw)["total"] for n in costs)
    for name in order:
        for s in steps:
            if s <= chosen[name]:
                continue
            trial = dict(masks)
            trial[name] = prune_fn(np.where(masks[name], weights[name], 0.0), s, name)
            saved = {n: np.array(weights[n], copy=True) for n in weights}
            finetune(trial)
            if evaluate() >= floor:
                masks, chosen[name] = trial, s
            else:
                for n in weights:  # undo the step and its fine-tuning
                    weights[n][...] = saved[n]
                break
    after = sum(layer_energy(costs[n], int(np.count_nonzero(masks[n])), **kw)["total"]
                for n in costs)
    return {"order": order, "sparsity": chosen, "masks": masks,
            "energy_before": before, "energy_after": after}
