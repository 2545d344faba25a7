"""``python -m pruning prune|export|check|report|digits``.

Weights travel as ``.npz`` files of named float arrays (loaded with
``allow_pickle=False``).  By default every floating-point array with at
least 2 axes is a prunable layer; biases and other 1-D arrays pass through
(one line says which).  ``prune`` writes the pruned arrays plus a
``__recipe__`` entry (a JSON string) that ``export`` and ``report`` read
back; it refuses to overwrite its input unless given ``--force``.
``export --target BLOCK --param NAME=VALUE`` packs the streams for one
hardware build (:mod:`pruning.targets`); ``check DIR`` loads an export
strictly and prints what it holds.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .api import prune
from .export import FORMATS, export_layers, load_export
from .fileio import load_npz, npz_bytes, write_files_atomically
from .masks import GRANULARITIES
from .criteria import CRITERIA
from .progress import Progress
from .reporting import RECIPE_KEY, fmt_table, load_sweep, plot_sweep, read_recipe, report_rows
from .targets import describe, parse_params

__all__ = ["main", "build_parser", "report_rows", "plot_sweep"]



def _note(msg: str) -> None:
    print(f"note: {msg}", file=sys.stderr)


def _load_npz(path, what="weights") -> dict:
    try:
        return load_npz(path)
    except ValueError as exc:
        raise ValueError(f"{what} file {path} {exc}") from None


def _layers(arrays: dict, names: str | None) -> list[str]:
    if names:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        missing = [n for n in wanted if n not in arrays or n == RECIPE_KEY]
        if missing:
            have = ", ".join(k for k in arrays if k != RECIPE_KEY)
            raise ValueError(f"layer {missing[0]!r}: not in the file (has {have})")
        return wanted
    names = [k for k, v in arrays.items()
             if k != RECIPE_KEY and v.ndim >= 2 and np.issubdtype(v.dtype, np.floating)]
    skipped = [k for k in arrays if k != RECIPE_KEY and k not in names]
    if names and skipped:
        _note(f"skipped {len(skipped)} array(s) that are not float layers with >= 2 axes "
              f"(biases and the like; --layers picks explicitly): {', '.join(skipped)}")
    return names


def _same_file(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or (
            Path(b).exists() and Path(a).samefile(b))
    except OSError:
        return False


def cmd_prune(a) -> int:
    if Path(a.output).is_dir():
        raise ValueError(f"output {a.output} is a directory; give the .npz file to write")
    if _same_file(a.input, a.output) and not a.force:
        raise ValueError(f"output {a.output} is the input file; write elsewhere, or pass "
                         f"--force to replace it")
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
    # "achieved" is the zeros of the weights written, which includes the zeros the
    # input already had (a mask that "prunes" a zero changes nothing).
    before = {n: _zeros(arrays[n]) for n in names}
    after = {n: _zeros(res.weights[n]) for n in names}
    recipe = dict(res.recipe, source=str(a.input), layers=names, input_sparsity=before,
                  achieved=after, previous=read_recipe(arrays))
    out[RECIPE_KEY] = np.array(json.dumps(recipe))
    _write(a.output, npz_bytes(out))
    for n in names:
        note = f" (the input was already {before[n]:.4f} sparse)" if before[n] else ""
        print(f"{n}: {tuple(res.weights[n].shape)} requested {float(res.requested[n]):.4f} "
              f"achieved {after[n]:.4f}{note}")
    return 0


def _zeros(w) -> float:
    w = np.asarray(w)
    return float(1.0 - np.count_nonzero(w) / w.size) if w.size else 0.0


def _write(path, data: bytes) -> None:
    """Write one file all-or-nothing, errors naming ``path`` (not the staging folder)."""
    dest = Path(path)
    try:
        write_files_atomically(dest.parent if str(dest.parent) else ".", {dest.name: data})
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(dest)) from None


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
    recipe = read_recipe(arrays)
    req = (recipe or {}).get("sparsity", {})
    # export_layers renders every layer's files in memory and writes them in
    # one staged all-or-nothing step: a bad layer writes nothing at all.
    with Progress(len(names), f"export {a.format}") as bar:
        mans = export_layers(a.output, {n: arrays[n] for n in names}, fmt=a.format, bits=a.bits,
                             per=a.per, recipe=recipe, source=str(a.input),
                             requested=req if isinstance(req, dict) else {}, axis=a.axis,
                             brick=a.brick, hex_ext=a.hex_ext, target=a.target,
                             target_params=parse_params(a.param), progress=bar)
    for n, man in mans.items():
        hw = f", for {describe(man['hardware'])}" if man["hardware"] else ""
        print(f"{n}: {a.format} {man['storage_bits']} bits, nnz {man['nnz']}, "
              f"sparsity {man['sparsity']:.4f}{hw} -> "
              f"{Path(a.output) / (man['npz'][:-4] + '.json')}")
    return 0


def cmd_check(a) -> int:
    """Load every layer of an export strictly and print what it holds."""
    folder = Path(a.dir)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a directory (give the export's output directory)")
    manifests = sorted(folder.glob("*.json"))
    if not manifests:
        raise ValueError(f"{folder} holds no layer manifest (*.json): not an export")
    build = (a.target, parse_params(a.param)) if a.target else None
    if a.param and not a.target:
        raise ValueError("--param needs --target BLOCK (the build to check the export against)")
    loaded = [load_export(m, build=build) for m in manifests]
    for m, ld in zip(manifests, loaded):
        man = ld["manifest"]
        widths = ", ".join(f"{k} {v['width_bits']}" for k, v in man["arrays"].items())
        print(f"{man['layer']} ({m.name}): {man['format']} {'x'.join(map(str, man['shape']))} "
              f"int{man['bits']}, nnz {man['nnz']}, sparsity {man['sparsity']:.4f}, "
              f"{man['storage_bits']} bits")
        print(f"  hex widths: {widths}")
        print(f"  hardware: {describe(man['hardware'])}")
    what = f", and pair with {a.target}" if build else ""
    print(f"ok: {len(loaded)} layer(s) load strictly{what}")
    return 0


def cmd_report(a) -> int:
    sweep = None
    if a.plot:  # check the plot's inputs before any work or output
        if not a.sweep:
            raise ValueError("--plot needs --sweep SWEEP.json (written by `python -m pruning digits --json`)")
        sweep = load_sweep(a.sweep)
    elif a.sweep:
        sweep = load_sweep(a.sweep)
    arrays = _load_npz(a.input)
    names = _layers(arrays, a.layers)
    if not names:
        raise ValueError(f"{a.input}: no layer to report (float arrays with >= 2 axes); an "
                         f"exported layer is checked with `python -m pruning check DIR`")
    rows = report_rows(arrays, names, a.bits, a.per)
    print(f"figures of the {a.bits}-bit per-{a.per} quantised weights (what the hardware gets); "
          f"q0 = non-zero weights that quantised to 0; MACx = dense MACs / non-zero MACs; "
          f"storage in bits")
    print(fmt_table(rows))
    if a.json:
        dest = Path(a.json)
        # strict JSON has no Infinity: an all-zero layer's MAC reduction is undefined -> null
        clean = [dict(r, mac_reduction=r["mac_reduction"] if math.isfinite(r["mac_reduction"]) else None)
                 for r in rows]
        write_files_atomically(dest.parent, {dest.name: json.dumps(clean, indent=1,
                                                                   allow_nan=False).encode()})
    if sweep is not None:
        print(f"sweep {a.sweep}: dense accuracy {100 * sweep['dense']:.2f}%, "
              f"{len(sweep['rows'])} (method, sparsity) points")
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
    pr.add_argument("--force", action="store_true", help="allow -o to be the input file")
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
    ex.add_argument("--target", metavar="BLOCK",
                    help="hardware block to pack the streams for (csr -> csr_spmv, rlc -> "
                         "rlc_decoder); default: the block's default build, widened where "
                         "the weights need it")
    ex.add_argument("--param", action="append", metavar="NAME=VALUE",
                    help="a parameter of the --target build, e.g. lanes=4 (repeatable)")
    ex.set_defaults(func=cmd_export)

    ck = sub.add_parser("check", help="load an export strictly; print layers, formats, widths, "
                                      "hardware and sizes")
    ck.add_argument("dir", help="the export's output directory")
    ck.add_argument("--target", metavar="BLOCK", help="also check it pairs with this build")
    ck.add_argument("--param", action="append", metavar="NAME=VALUE",
                    help="a parameter of the --target build (repeatable)")
    ck.set_defaults(func=cmd_check)

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
