"""The end-to-end table, the cycle checks and the picture.

Per layer (per image; hardware cycles measured in Verilator, divided by the images):

* **sparsity**: what the block skips: the zero fraction of the input windows (cnv_unit),
  of the weights (csr_spmv, sparse_mac) or of the activations (RLC);
* **bits**: weights in their exported format plus the layer's input activations in their
  transfer format (ZFNAf into conv2, RLC words into fc1, int8 otherwise), against int8
  dense weights and activations;
* **cycles**: measured, checked against the block's cycle model (exact for cnv_unit,
  csr_spmv and sparse_mac; a bound for the RLC loopback, whose latency depends on the
  data); the **dense baseline** is the cycle model of the same build on dense work (every
  activation a beat on cnv_unit, every weight a non-zero on csr_spmv, sparse_mac's dense
  fallback for the 2:4 layer);
* **energy**: memory traffic only, every 32 bits one 45 nm SRAM access (5 pJ, Horowitz;
  DRAM would be 640 pJ, 128× each figure): weights + input activations + int8 outputs.
"""
from __future__ import annotations

import numpy as np

from pruning.energy import HOROWITZ_45NM

__all__ = ["layer_rows", "cycle_problems", "format_table", "plot"]

LAYERS = ("conv1", "conv2", "rlc", "fc1", "fc2", "fc3")
BLOCK = {"conv1": "cnv_unit", "conv2": "cnv_unit", "rlc": "rlc_loopback",
         "fc1": "csr_spmv", "fc2": "sparse_mac", "fc3": "sparse_mac"}
FORMAT = {"conv1": "in ZFNAf", "conv2": "in ZFNAf", "rlc": "RLC acts", "fc1": "W CSR",
          "fc2": "W 2:4", "fc3": "W dense"}
OUTPUTS = {"conv1": 576, "conv2": 256, "rlc": 256, "fc1": 64, "fc2": 32, "fc3": 10}


def _pj(bits):
    return bits / 32 * HOROWITZ_45NM["sram"]


def _model(res, name):
    """``(model cycles of the whole run, exact?, dense-baseline cycles of the run)``."""
    from hw.nm_mac import LATENCY
    from hw.rlc import RLCLoopback
    g, n = res["golden"][name], res["n"]
    if name in ("conv1", "conv2"):
        windows = len(g["steps"])
        return int(g["steps"].sum()) + g["lat"], True, windows * g["dense_steps"] + g["lat"]
    if name == "rlc":
        size = g["in_acts"].size
        # the baseline moves the int8 values uncompressed, one per clock
        return size + RLCLoopback.latency, False, size
    if name == "fc1":
        return n * g["per_image"], True, n * g["dense"]
    return n * g["beats"] + LATENCY, True, n * g["dense_beats"] + LATENCY


def cycle_problems(res) -> list:
    """Every measured cycle figure that differs from its model (must be empty)."""
    problems = []
    for name in LAYERS:
        hw = res["hardware"][name]
        model, exact, _ = _model(res, name)
        if exact and hw["cycles"] != model or not exact and hw["cycles"] > model:
            problems.append(f"{name}: {hw['cycles']} cycles, model {'=' if exact else '<='} "
                            f"{model}")
        if hw["errors"]:
            problems.append(f"{name}: {hw['errors']} output(s) with error high")
    fc1 = res["hardware"]["fc1"]
    if set(fc1["compute"]) != {res["golden"]["fc1"]["per_image"] - 256} or \
            set(fc1["x_cycles"]) != {256}:
        problems.append("fc1: per-image cycles differ from the model")
    return problems


def layer_rows(res) -> list:
    n, gold, wts, L = res["n"], res["golden"], res["weights"], res["net"].layers
    rows = []
    for name in LAYERS:
        g = gold[name]
        hw_cycles = res["hardware"][name]["cycles"] if "hardware" in res else None
        model, exact, dense = _model(res, name)
        man = wts.get(name)
        w_bits = man["storage_bits"] if man else 0
        w_dense = man["storage_bits_all"]["dense"] if man else 0
        if name == "conv1":
            win = res["net"].conv1_windows(_q0(res))
            sparsity, in_bits, in_dense = 1 - np.count_nonzero(win) / win.size, 512, 512
        elif name == "conv2":
            a = g["in_acts"]
            sparsity = 1 - np.count_nonzero(a) / a.size
            in_bits, in_dense = float(res["zfnaf_bits"].mean()), a[0].size * 8
        elif name == "rlc":
            a = g["in_acts"]
            sparsity = 1 - np.count_nonzero(a) / a.size
            in_bits, in_dense = float(g["words"].mean()) * 64, a.shape[1] * 8
        else:
            sparsity = man["sparsity"]
            in_bits = in_dense = L[name].matrix.shape[1] * 8
        out_bits = OUTPUTS[name] * (32 if name == "fc3" else 8)
        cyc = (hw_cycles if hw_cycles is not None else model) / n
        rows.append({"layer": name, "block": BLOCK[name], "format": FORMAT[name],
                     "sparsity": float(sparsity), "bits": w_bits + in_bits,
                     "dense_bits": w_dense + in_dense, "cycles": cyc,
                     "measured": hw_cycles is not None, "model_cycles": model / n,
                     "model_exact": exact, "dense_cycles": dense / n, "speedup": dense / (cyc * n),
                     "pj": _pj(w_bits + in_bits + out_bits),
                     "dense_pj": _pj(w_dense + in_dense + out_bits)})
    return rows


def _q0(res):
    from .intnet import quantize_input
    return quantize_input(res["x"])


def format_table(res) -> str:
    rows = layer_rows(res)
    head = (f"{'layer':5} {'block':12} {'format':8} {'sparse':>6} {'bits':>6} {'dense':>6} "
            f"{'cycles':>7} {'dense':>7} {'speedup':>7} {'pJ':>6} {'dense':>6}")
    lines = [f"{'':43}{'(bits per image)':>14} {'(cycles per image)':>22} "
             f"{'(memory pJ)':>14}", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['layer']:5} {r['block']:12} {r['format']:8} {r['sparsity']:6.1%} "
                     f"{r['bits']:6.0f} {r['dense_bits']:6.0f} {r['cycles']:7.1f} "
                     f"{r['dense_cycles']:7.1f} {r['speedup']:6.2f}x {r['pj']:6.0f} "
                     f"{r['dense_pj']:6.0f}")
    tot = {k: sum(r[k] for r in rows) for k in ("bits", "dense_bits", "cycles", "dense_cycles",
                                                "pj", "dense_pj")}
    lines.append("-" * len(head))
    lines.append(f"{'total':5} {'':12} {'':8} {'':6} {tot['bits']:6.0f} "
                 f"{tot['dense_bits']:6.0f} {tot['cycles']:7.1f} {tot['dense_cycles']:7.1f} "
                 f"{tot['dense_cycles'] / tot['cycles']:6.2f}x {tot['pj']:6.0f} "
                 f"{tot['dense_pj']:6.0f}")
    n = res["n"]
    src = "measured in Verilator" if "hardware" in res else "cycle models (no hardware run)"
    lines += ["", f"{n} held-out test image(s); cycles {src}; threshold T={res['threshold']}",
              f"float accuracy (pruned)   {res['float_accuracy']:.4f}   "
              f"(dense float net: {res['info']['dense_float_accuracy']:.4f} on all 449)",
              f"int8 golden accuracy      {res['golden_accuracy']:.4f}"]
    if "hardware" in res:
        lines += [f"hardware accuracy         {res['hardware_accuracy']:.4f}",
                  f"hardware != golden        {res['disagree']} prediction(s); accumulator "
                  f"mismatches per layer: {res['layer_mismatch']}",
                  "cycle models              " + ("all measured figures match"
                                                  if not res["problems"] else
                                                  "; ".join(res["problems"]))]
    return "\n".join(lines)


def plot(res, sweep, path) -> None:
    """Left: each layer's cycles (hardware and dense baseline) against its sparsity;
    right: the Cnvlutin threshold sweep (golden model): conv2 cycles and int8 accuracy
    against conv2's input activation sparsity."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = layer_rows(res)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in rows:
        a.scatter(r["sparsity"], r["cycles"], color="C0")
        a.scatter(r["sparsity"], r["dense_cycles"], color="C1", marker="x")
        a.annotate(r["layer"], (r["sparsity"], r["cycles"]), textcoords="offset points",
                   xytext=(4, -10), fontsize=8)
    a.scatter([], [], color="C0", label="hardware (Verilator)")
    a.scatter([], [], color="C1", marker="x", label="dense baseline (same build)")
    a.set_yscale("log")
    a.set_xlabel("sparsity the block skips")
    a.set_ylabel("cycles per image")
    a.set_title(f"per layer, {res['n']} test images")
    a.legend(fontsize=8)
    xs = [s["sparsity"] for s in sweep]
    b.plot(xs, [s["cycles"] for s in sweep], "o-", color="C0", label="conv2 cycles/img")
    b.set_xlabel("conv2 input activation sparsity (threshold T)")
    b.set_ylabel("conv2 cycles per image")
    for s in sweep:
        b.annotate(f"T={s['threshold']}", (s["sparsity"], s["cycles"]),
                   textcoords="offset points", xytext=(3, 4), fontsize=7)
    c = b.twinx()
    c.plot(xs, [s["accuracy"] for s in sweep], "s--", color="C2", label="int8 accuracy")
    c.set_ylabel("int8 golden accuracy")
    b.set_title("Cnvlutin threshold sweep (golden models)")
    h1, l1 = b.get_legend_handles_labels()
    h2, l2 = c.get_legend_handles_labels()
    b.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def threshold_sweep(res, model, thresholds=(0, 2, 4, 8, 12, 16, 24), images=64) -> list:
    """Golden accuracy (all run images) and conv2 cycles per image (cnv_unit cycle model
    on the first ``images``) for each Cnvlutin threshold."""
    from golden import cnv
    from .intnet import BLOCK_PARAMS, IntNet, quantize_input
    from .net import im2col
    from hw.blocks import get_block
    p = get_block("cnv_unit").params(BLOCK_PARAMS["cnv_unit"])
    x, y = res["x"], res["labels"]
    out = []
    for t in thresholds:
        net = IntNet(model, res["xtr"], t)
        acc = float((net.forward_exact(x).argmax(1) == y).mean())
        q0 = quantize_input(x[:images])
        a1 = net.conv2_input(net.conv1_windows(q0) @ net.layers["conv1"].matrix.T, len(q0))
        win = im2col(a1).reshape(-1, a1.shape[-1] * 9)
        steps = sum(cnv.window_steps(cnv.window_streams(w, lanes=p["lanes"], brick=p["brick"],
                                                        value_width=p["value_width"]))
                    for w in win)
        out.append({"threshold": t, "sparsity": 1 - np.count_nonzero(a1) / a1.size,
                    "cycles": steps / len(q0), "accuracy": acc})
    return out
