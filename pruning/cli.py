"""``python -m pruning prune|export|report|digits``.

Weights travel as ``.npz`` files of named float arrays (loaded with
``allow_pickle=False``).  By default every floating-point array with at
least 2 axes is a prunable layer; biases and other 1-D arrays pass through.
``prune`` writes the pruned arrays plus a ``__recipe__`` entry (a JSON
string) that ``export`` and ``report`` read back.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .api import prune
from .export import FORMATS, export_layers
from .fileio import load_npz, npz_bytes, write_files_atomically
from .masks import GRANULARITIES
from .criteria import CRITERIA
from .progress import Progress
from .quant import quantize
from .storage import storage_bits

RECIPE_KEY = "__recipe__"


def _load_npz(path, what="weights") -> dict:
    try:
        return load_npz(path)
    except ValueError as exc:
        raise ValueError(f"{what} file {path} {exc}") from None


def _layers(arrays: dict, names: str | None) -> list[str]:
    if names:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        missing = [n for n in wanted if n not in arrays]
        if missing:
            raise ValueError(f"layer {missing[0]!r}: not in the file (has {', '.join(arrays)})")
        return wanted
    return [k for k, v in arrays.items()
            if k != RECIPE_KEY and v.ndim >= 2 and np.issubdtype(v.dtype, np.floating)]


def _recipe(arrays: dict) -> dict | None:
    if RECIPE_KEY not in arrays:
        return None
    try:
        recipe = json.loads(str(arrays[RECIPE_KEY]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{RECIPE_KEY} is not valid JSON ({exc})") from None
    if not isinstance(recipe, dict):
        raise ValueError(f"{RECIPE_KEY} must be a JSON object, not {type(recipe).__name__} "
                         f"{str(arrays[RECIPE_KEY])[:60]!r}")
    if "sparsity" in recipe:
        req = recipe["sparsity"]
        if isinstance(req, dict):
            for k, v in req.items():
                _check_recipe_sparsity(v, f"{RECIPE_KEY} sparsity of layer {k!r}")
        else:
            _check_recipe_sparsity(req, f"{RECIPE_KEY} sparsity")
    return recipe


def _check_recipe_sparsity(v, what) -> None:
    # bool is an int subclass and json.loads accepts NaN/Infinity: refuse all three
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{what} must be a number in [0, 1), not {v!r}")
    if not (math.isfinite(v) and 0 <= v < 1):
        raise ValueError(f"{what} must be a finite number in [0, 1), not {v!r}")


def cmd_prune(a) -> int:
    if Path(a.output).is_dir():
        raise ValueError(f"output {a.output} is a directory; give the .npz file to write")
    arrays = _load_npz(a.input)
    names = _layers(arrays, a.layers)
    if not names:
        raise ValueError(f"{a.input}: no prunable layer (float arrays with >= 2 axes)")
    extra = {}
    for flag, key in (("calib", "inputs"), ("grads", "grads"), ("hessians", "hessians")):
        path = getattr(a, flag)
        if path:
            extra[key] = _load_npz(path, flag)
    weights = {n: arrays[n] for n in names}
    with Progress(1, "prune") as bar:
        res = prune(weights, a.sparsity, criterion=a.criterion, granularity=a.granularity,
                    scope=a.scope, nm=a.nm, transposable=a.transposable, axis=a.axis,
                    block=a.block, p=a.p, seed=a.seed, **extra)
        bar.update()
    out = dict(arrays)
    out.update(res.weights)
    recipe = dict(res.recipe, source=str(a.input), layers=names)
    out[RECIPE_KEY] = np.array(json.dumps(recipe))
    dest = Path(a.output)
    write_files_atomically(dest.parent if str(dest.parent) else ".", {dest.name: npz_bytes(out)})
    for n in names:
        m = res.masks[n]
        print(f"{n}: {tuple(m.shape)} requested {float(res.requested[n]):.4f} "
              f"achieved {1 - np.count_nonzero(m) / m.size:.4f}")
    return 0


def _check_out_dir(path) -> None:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"output directory {p} exists and is not a directory")


def cmd_export(a) -> int:
    _check_out_dir(a.output)
    arrays = _load_npz(a.input)
    names = _layers(arrays, a.layers)
    if not names:
        raise ValueError(f"{a.input}: no layer to export")
    recipe = _recipe(arrays)
    req = (recipe or {}).get("sparsity", {})
    # export_layers renders every layer's files in memory and writes them in
    # one staged all-or-nothing step: a bad layer writes nothing at all.
    with Progress(len(names), f"export {a.format}") as bar:
        mans = export_layers(a.output, {n: arrays[n] for n in names}, fmt=a.format, bits=a.bits,
                             per=a.per, recipe=recipe, source=str(a.input),
                             requested=req if isinstance(req, dict) else {}, axis=a.axis,
                             brick=a.brick, hex_ext=a.hex_ext, progress=bar)
    for n, man in mans.items():
        print(f"{n}: {a.format} {man['storage_bits']} bits, nnz {man['nnz']}, "
              f"sparsity {man['sparsity']:.4f} -> {Path(a.output) / (man['npz'][:-4] + '.json')}")
    return 0


def report_rows(arrays: dict, names, bits: int = 8, per: str = "tensor") -> list[dict]:
    """One row per layer, every figure from the quantised weights the hardware gets.

    ``achieved``, ``nnz`` and ``mac_reduction`` count the non-zeros of the
    quantised ``q`` (so they agree with the storage bits and with an
    export); ``float_nnz`` counts the float weights' non-zeros and
    ``quant_zeros`` the survivors that quantised to 0 (``float_nnz - nnz``).
    """
    recipe = _recipe(arrays) or {}
    req = recipe.get("sparsity", {})
    req = req if isinstance(req, dict) else {}
    rows = []
    for n in names:
        w = arrays[n]
        qz = quantize(w, bits=bits, per=per, name=n)
        nnz = int(np.count_nonzero(qz.q))
        sb = storage_bits(qz.q, bits)
        rows.append({"layer": n, "shape": list(w.shape), "requested": req.get(n),
                     "achieved": 1.0 - nnz / w.size, "nnz": nnz, "size": int(w.size),
                     "float_nnz": int(np.count_nonzero(w)), "quant_zeros": int(qz.extra_zeros),
                     "mac_reduction": (w.size / nnz) if nnz else float("inf"),
                     **{f"bits_{k}": v for k, v in sb.items()}})
    return rows


def _fmt_table(rows: list[dict]) -> str:
    head = ["layer", "shape", "requested", "achieved", "nnz", "q0", "MACx", "dense b", "CSR b",
            "RLC b", "2:4 b"]
    body = [[r["layer"], "x".join(map(str, r["shape"])),
             "-" if r["requested"] is None else f"{r['requested']:.4f}", f"{r['achieved']:.4f}",
             str(r["nnz"]), str(r["quant_zeros"]), f"{r['mac_reduction']:.2f}",
             str(r["bits_dense"]), str(r["bits_csr"]),
             str(r["bits_rlc"]), "-" if r["bits_sparse24"] is None else str(r["bits_sparse24"])]
            for r in rows]
    if rows:
        tot = {k: sum(r[k] for r in rows)
               for k in ("nnz", "size", "quant_zeros", "bits_dense", "bits_csr", "bits_rlc")}
        s24 = None if any(r["bits_sparse24"] is None for r in rows) else sum(r["bits_sparse24"] for r in rows)
        body.append(["total", "", "", f"{1 - tot['nnz'] / tot['size']:.4f}", str(tot["nnz"]),
                     str(tot["quant_zeros"]), f"{tot['size'] / tot['nnz']:.2f}" if tot["nnz"] else "inf",
                     str(tot["bits_dense"]), str(tot["bits_csr"]), str(tot["bits_rlc"]),
                     "-" if s24 is None else str(s24)])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(lines)


def plot_sweep(sweep: dict, path) -> None:
    """PNG of accuracy against sparsity, one line per method (needs matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ValueError("plotting needs matplotlib: pip install 'sparse-dnn-hwkit[data]'") from exc
    fig, ax = plt.subplots(figsize=(6, 4))
    methods = list(dict.fromkeys(r["method"] for r in sweep["rows"]))
    for m in methods:
        pts = sorted((r["sparsity"], r["accuracy"]) for r in sweep["rows"] if r["method"] == m)
        ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o", label=m)
    ax.axhline(100 * sweep["dense"], color="k", ls="--", lw=1, label="dense")
    ax.set_xlabel("weight sparsity")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title("digits MLP: accuracy vs sparsity")
    ax.legend()
    fig.tight_layout()
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    dest = Path(path)
    write_files_atomically(dest.parent if str(dest.parent) else ".", {dest.name: buf.getvalue()})


def _load_sweep(path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"sweep file {p} does not exist (write one with `python -m pruning digits --json`)")
    try:
        sweep = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"sweep file {p} is not readable JSON ({exc})") from None
    if not (isinstance(sweep, dict) and isinstance(sweep.get("rows"), list) and "dense" in sweep
            and all(isinstance(r, dict) and {"method", "sparsity", "accuracy"} <= set(r)
                    for r in sweep["rows"])):
        raise ValueError(f"sweep file {p} is not a `python -m pruning digits --json` sweep")
    return sweep


def cmd_report(a) -> int:
    sweep = None
    if a.plot:  # check the plot's inputs before any work or output
        if not a.sweep:
            raise ValueError("--plot needs --sweep SWEEP.json (written by `python -m pruning digits --json`)")
        sweep = _load_sweep(a.sweep)
    arrays = _load_npz(a.input)
    names = _layers(arrays, a.layers)
    rows = report_rows(arrays, names, a.bits, a.per)
    print(f"figures of the {a.bits}-bit per-{a.per} quantised weights (what the hardware gets); "
          f"q0 = non-zero weights that quantised to 0; MACx = dense MACs / non-zero MACs; "
          f"storage in bits")
    print(_fmt_table(rows))
    if a.json:
        dest = Path(a.json)
        # strict JSON has no Infinity: an all-zero layer's MAC reduction is undefined -> null
        clean = [dict(r, mac_reduction=r["mac_reduction"] if math.isfinite(r["mac_reduction"]) else None)
                 for r in rows]
        write_files_atomically(dest.parent, {dest.name: json.dumps(clean, indent=1,
                                                                   allow_nan=False).encode()})
    if a.plot:
        plot_sweep(sweep, a.plot)
        print(f"plot written to {a.plot}")
    return 0


def cmd_digits(a) -> int:
    from . import digits
    sps = [float(s) for s in a.sparsities.split(",")]
    methods = [m.strip() for m in a.methods.split(",")]
    res = digits.sweep(sps, methods, seed=a.seed, scope=a.scope, progress=None)
    print(f"dense accuracy {100 * res['dense']:.2f}% (seed {a.seed}, scope {a.scope})")
    print("sparsity  " + "  ".join(f"{m:>11s}" for m in methods))
    for s in sps:
        acc = {r["method"]: r["accuracy"] for r in res["rows"] if r["sparsity"] == s}
        print(f"{s:8.2f}  " + "  ".join(f"{100 * acc[m]:10.2f}%" for m in methods))
    if a.activations:
        act = digits.activation_sweep(seed=a.seed)
        res["activations"] = act
        print("activation pruning (dense net): target  act-sparsity  accuracy  cost(points)")
        for r in act["rows"]:
            print(f"  {r['target']:.2f}  {r['activation_sparsity']:.3f}  {100 * r['accuracy']:.2f}%  "
                  f"{100 * r['cost']:+.2f}")
    if a.json:
        dest = Path(a.json)
        write_files_atomically(dest.parent, {dest.name: json.dumps(res, indent=1).encode()})
    if a.plot:
        plot_sweep(res, a.plot)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pruning",
                                description="Hardware-aware pruning: prune, export to the golden "
                                            "formats, report storage and accuracy.")
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("prune", help="prune the layers of an .npz of float weights")
    pr.add_argument("input", help=".npz of named float arrays")
    pr.add_argument("-o", "--output", required=True, help="pruned .npz to write")
    pr.add_argument("--sparsity", type=float, default=0.5, help="fraction pruned, in [0, 1) (count rounded half to even, never all)")
    pr.add_argument("--criterion", choices=CRITERIA, default="magnitude")
    pr.add_argument("--granularity", choices=GRANULARITIES, default="element")
    pr.add_argument("--scope", choices=("layer", "row", "global"),
                    help="selection scope (default: row for wanda, else layer)")
    pr.add_argument("--nm", help="N:M structured sparsity, e.g. 2:4 (overrides --sparsity)")
    pr.add_argument("--transposable", action="store_true", help="2:4 on both W and W.T")
    pr.add_argument("--axis", type=int, default=-1, help="axis of N:M groups / vectors / blocks")
    pr.add_argument("--block", type=int, help="aligned block size for --granularity block")
    pr.add_argument("--p", type=float, help="group norm order (default 2 for magnitude, else 1)")
    pr.add_argument("--seed", type=int, help="seed for --criterion random")
    pr.add_argument("--layers", help="comma-separated layer names (default: float arrays >= 2-D)")
    pr.add_argument("--calib", help=".npz of calibration inputs per layer (wanda)")
    pr.add_argument("--grads", help=".npz of gradients per layer (taylor)")
    pr.add_argument("--hessians", help=".npz of Hessian diagonals per layer (obd)")
    pr.set_defaults(func=cmd_prune)

    ex = sub.add_parser("export", help="quantise and export layers to a hardware format")
    ex.add_argument("input", help=".npz (usually from `prune`)")
    ex.add_argument("-o", "--output", required=True, help="output directory")
    ex.add_argument("--format", choices=FORMATS, required=True)
    ex.add_argument("--bits", type=int, choices=(8, 16), default=8)
    ex.add_argument("--per", choices=("tensor", "row"), default="tensor", help="quantisation scale granularity")
    ex.add_argument("--layers", help="comma-separated layer names")
    ex.add_argument("--axis", type=int, default=-1, help="channel axis for zfnaf")
    ex.add_argument("--brick", type=int, default=16, help="brick size for zfnaf")
    ex.add_argument("--hex-ext", choices=(".hex", ".mem"), default=".hex")
    ex.set_defaults(func=cmd_export)

    rp = sub.add_parser("report", help="per-layer sparsity, MAC reduction and exact storage bits")
    rp.add_argument("input", help=".npz (usually from `prune`)")
    rp.add_argument("--bits", type=int, choices=(8, 16), default=8)
    rp.add_argument("--per", choices=("tensor", "row"), default="tensor")
    rp.add_argument("--layers", help="comma-separated layer names")
    rp.add_argument("--json", help="also write the table as JSON")
    rp.add_argument("--plot", help="PNG of accuracy vs sparsity (needs --sweep and matplotlib)")
    rp.add_argument("--sweep", help="sweep JSON from `python -m pruning digits --json`")
    rp.set_defaults(func=cmd_report)

    dg = sub.add_parser("digits", help="accuracy vs sparsity on scikit-learn's load_digits")
    dg.add_argument("--sparsities", default="0.5,0.7,0.8,0.9,0.95")
    dg.add_argument("--methods", default="one-shot,one-shot+ft,iterative,lottery,gradual")
    dg.add_argument("--scope", choices=("layer", "global"), default="global")
    dg.add_argument("--seed", type=int, default=0)
    dg.add_argument("--activations", action="store_true", help="also sweep activation pruning")
    dg.add_argument("--json", help="write the results as JSON")
    dg.add_argument("--plot", help="write a PNG plot (needs matplotlib)")
    dg.set_defaults(func=cmd_digits)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # permissions, full disk, ...: a message, not a traceback
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}".replace("error: : ", "error: "),
              file=sys.stderr)
        return 2
