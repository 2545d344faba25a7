"""The end-to-end flow: train, prune, quantise, export, golden, hardware, compare.

:func:`prepare` trains the network of :mod:`e2e.net` on the digits training split and
prunes it through the pruning API as a user would: ``pruning.prune`` with magnitude
(90 %, fc1, for csr_spmv) and ``nm="2:4"`` (fc2, for sparse_mac), then fine-tunes with
the masks held.  conv1, conv2 and fc3 stay dense (fc3 runs on sparse_mac's dense
fallback).  The result is cached in ``build/e2e`` (plain npz) so a second run trains
nothing.

:func:`run` quantises (:class:`e2e.intnet.IntNet`), exports every weight with
:func:`pruning.export_layer` (csr and sparse24 packed for the flow's builds, the rest
dense), computes the golden integer model on the chosen test images, then runs every
layer on its block in Verilator, each layer's input activations exported to files first
(ZFNAf for cnv_unit, dense otherwise) and each layer fed the *hardware's* previous output
(requantised in software).  Every layer's accumulators are compared with golden, and its
cycles with the block's cycle model.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pruning import digits, export_layer, load_export, prune
from pruning.quant import Quantized

from .hardware import run_layer
from .intnet import BLOCK_PARAMS, GoldenNet, IntNet, quantize_input
from .net import ConvNet, im2col, train

__all__ = ["prepare", "run", "RECIPES", "TRAINING"]

TRAINING = {"epochs": 12, "finetune_epochs": 6, "seed": 0}
# Per-layer pruning: what pruning.prune is called with.
RECIPES = {"fc1": {"sparsity": 0.9, "criterion": "magnitude"}, "fc2": {"nm": "2:4"}}
CACHE_VERSION = "e2e-convnet-1"


def _cache_key(seed: int) -> str:
    """Names the cached network after everything that makes it: the network's code, the
    training settings, the recipes and the seed (a change trains again)."""
    import hashlib
    src = (Path(__file__).with_name("net.py").read_text() + json.dumps(
        [CACHE_VERSION, TRAINING, RECIPES, seed], sort_keys=True))
    return hashlib.sha256(src.encode()).hexdigest()[:12]


def prepare(cache_dir: Path, seed: int = 0, log=print):
    """``(model, data, info)``: the trained, pruned, fine-tuned network (cached)."""
    data = digits.load(seed)
    xtr, ytr, xte, yte = data
    path = Path(cache_dir) / f"model-{_cache_key(seed)}.npz"
    model = ConvNet(seed)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            model.params = {k: z[k].copy() for k in model.params}
            info = json.loads(str(z["__info__"]))
        return model, data, info
    log(f"training the convolutional digits network ({TRAINING['epochs']} epochs, "
        f"first time only)...")
    train(model, xtr, ytr, epochs=TRAINING["epochs"], seed=seed)
    dense_acc = model.accuracy(xte, yte)
    masks, recipes = {}, {}
    for layer, recipe in RECIPES.items():
        res = prune({f"{layer}.weight": model.params[f"{layer}.weight"]}, **recipe)
        masks.update(res.masks)
        recipes[layer] = res.recipe
    log(f"fine-tuning with the masks held ({TRAINING['finetune_epochs']} epochs)...")
    train(model, xtr, ytr, epochs=TRAINING["finetune_epochs"], lr=0.01, seed=seed + 1,
          masks=masks)
    info = {"dense_float_accuracy": dense_acc, "recipes": recipes}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **model.params, __info__=json.dumps(info))
    return model, data, info


def _acts(out_dir, name, q, scale, fmt="dense", **kw):
    """Export int8 activations ``q`` (already quantised) and return the manifest path."""
    qz = Quantized(np.asarray(q, dtype=np.int8), np.float64(scale), 8, "tensor", 0)
    export_layer(out_dir, name, qz, fmt=fmt, source="e2e activations", **kw)
    return Path(out_dir) / f"{name}.json"


def export_weights(net: IntNet, out_dir: Path, recipes: dict) -> dict:
    """Every weight exported as a user would; returns ``{layer: manifest path}``."""
    plan = {"conv1": ("dense", None), "conv2": ("dense", None), "fc1": ("csr", "csr_spmv"),
            "fc2": ("sparse24", "sparse_mac"), "fc3": ("dense", None)}
    paths = {}
    for name, (fmt, block) in plan.items():
        layer = net.layers[name]
        qz = Quantized(layer.q.astype(np.int8), np.float64(layer.w_scale), 8, "tensor", 0)
        export_layer(out_dir, f"{name}.weight", qz, fmt=fmt, recipe=recipes.get(name),
                     source="e2e ConvNet", target=block,
                     target_params=BLOCK_PARAMS[block] if block else None)
        paths[name] = Path(out_dir) / f"{name}.weight.json"
        back = load_export(paths[name])["q"]
        assert np.array_equal(back, layer.q), f"{name}: the export does not load back"
    return paths


def golden_pass(net: IntNet, g: GoldenNet, x) -> dict:
    """Every layer's golden accumulators and cycle figures on images ``x``."""
    n, L = len(x), net.layers
    out = {}
    acc, steps, dense, lat = g.cnv(net.conv1_windows(quantize_input(x)), L["conv1"].matrix)
    out["conv1"] = {"acc": acc.reshape(n, -1), "steps": steps, "dense_steps": dense, "lat": lat}
    a1 = net.conv2_input(acc, n)
    acc, steps, dense, lat = g.cnv(im2col(a1).reshape(n * 16, -1), L["conv2"].matrix)
    out["conv2"] = {"acc": acc.reshape(n, -1), "steps": steps, "dense_steps": dense, "lat": lat,
                    "in_acts": a1}
    a2 = L["conv2"].requant(acc.reshape(n, -1))
    back, words = g.rlc(a2)
    out["rlc"] = {"acc": back, "words": words, "in_acts": a2}
    acc, per, dense = g.csr(back, L["fc1"].matrix)
    out["fc1"] = {"acc": acc, "per_image": per, "dense": dense, "in_acts": back}
    a3 = L["fc1"].requant(acc)
    acc, beats, dense = g.nm_sparse(a3, L["fc2"].matrix)
    out["fc2"] = {"acc": acc, "beats": beats, "dense_beats": dense, "in_acts": a3}
    a4 = L["fc2"].requant(acc)
    acc, beats, dense = g.nm_dense(a4, L["fc3"].matrix)
    out["fc3"] = {"acc": acc, "beats": beats, "dense_beats": dense, "in_acts": a4}
    out["logits"] = acc + L["fc3"].bias_q
    return out


def hardware_pass(net: IntNet, weights: dict, x, work: Path, bar=None) -> dict:
    """Every layer on its block, each fed the hardware's previous output."""
    n, L = len(x), net.layers
    hw = {}
    acts = work / "acts"

    def layer(name, test, block, in_path, wname=None):
        hw[name] = run_layer(name, test, block, work, acts=in_path, images=n, bar=bar,
                             weights=weights[wname] if wname else None)
        return np.array(hw[name]["outputs"], dtype=np.int64)

    cnv_target = {"target": "cnv_unit", "target_params": BLOCK_PARAMS["cnv_unit"]}
    win = net.conv1_windows(quantize_input(x))
    acc = layer("conv1", "e2e_cnv", "cnv_unit",
                _acts(acts, "conv1.in", win, L["conv1"].in_scale, "zfnaf", **cnv_target),
                "conv1")
    a1 = net.conv2_input(acc.reshape(n * 36, -1), n)
    win = im2col(a1).reshape(n * 16, -1)
    acc = layer("conv2", "e2e_cnv", "cnv_unit",
                _acts(acts, "conv2.in", win, L["conv2"].in_scale, "zfnaf", **cnv_target),
                "conv2")
    a2 = L["conv2"].requant(acc)
    back = layer("rlc", "e2e_rlc", "rlc_loopback", _acts(acts, "rlc.in", a2, L["fc1"].in_scale))
    acc = layer("fc1", "e2e_csr", "csr_spmv", _acts(acts, "fc1.in", back, L["fc1"].in_scale),
                "fc1")
    a3 = L["fc1"].requant(acc)
    acc = layer("fc2", "e2e_nm", "sparse_mac", _acts(acts, "fc2.in", a3, L["fc2"].in_scale),
                "fc2")
    a4 = L["fc2"].requant(acc)
    acc = layer("fc3", "e2e_nm", "sparse_mac", _acts(acts, "fc3.in", a4, L["fc3"].in_scale),
                "fc3")
    hw["logits"] = acc + L["fc3"].bias_q
    return hw


def run(images=None, *, seed: int = 0, threshold: int = 0, out_dir=Path("build/e2e"),
        cache_dir=None, hardware: bool = True, bar_factory=None, log=print) -> dict:
    """The whole flow on the first ``images`` test images (all 449 by default); files go
    to ``out_dir``, the trained network is cached in ``cache_dir`` (default ``out_dir``).

    Returns a dict with the network, the golden and hardware results and the per-layer
    comparisons (:mod:`e2e.report` turns it into the table and the picture).
    """
    out_dir = Path(out_dir).resolve()      # the simulations run in their own folders
    model, (xtr, ytr, xte, yte), info = prepare(Path(cache_dir or out_dir), seed, log)
    n = len(yte) if images is None else int(images)
    if not 1 <= n <= len(yte):
        raise ValueError(f"images must be in [1, {len(yte)}], not {images}")
    x, y = xte[:n], yte[:n]
    net = IntNet(model, xtr, threshold)
    weights = export_weights(net, out_dir / "weights", info["recipes"])
    g = GoldenNet(net, BLOCK_PARAMS)
    log(f"golden integer model on {n} test image(s)...")
    gold = golden_pass(net, g, x)
    exact = net.forward_exact(x)
    assert np.array_equal(exact, gold["logits"]), "golden block models disagree with int64 maths"
    res = {"n": n, "threshold": threshold, "info": info, "net": net, "golden": gold,
           "weights": {k: json.loads(Path(p).read_text()) for k, p in weights.items()},
           "float_accuracy": float((model.predict(x) == y).mean()),
           "golden_accuracy": float((gold["logits"].argmax(1) == y).mean()),
           "labels": y, "x": x, "xtr": xtr, "model": model,
           "zfnaf_bits": g.zfnaf_bits(gold["conv2"]["in_acts"])}
    if hardware:
        bar = bar_factory(6 * n) if bar_factory else None
        try:
            hw = hardware_pass(net, weights, x, out_dir / "work", bar)
        finally:
            if bar is not None:
                bar.close()
        res["hardware"] = hw
        res["hardware_accuracy"] = float((hw["logits"].argmax(1) == y).mean())
        res["disagree"] = int((hw["logits"].argmax(1) != gold["logits"].argmax(1)).sum())
        res["layer_mismatch"] = {k: int((np.asarray(hw[k]["outputs"]).reshape(n, -1)
                                         != gold[k]["acc"].reshape(n, -1)).sum())
                                 for k in ("conv1", "conv2", "rlc", "fc1", "fc2", "fc3")}
        from .report import cycle_problems
        res["problems"] = cycle_problems(res)
    return res
