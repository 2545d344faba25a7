"""The figures ``python -m pruning report`` prints, and the ``__recipe__`` that travels with
pruned weights (written by ``prune``, read by ``export`` and ``report``)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .fileio import write_files_atomically
from .quant import quantize
from .storage import storage_bits

__all__ = ["RECIPE_KEY", "read_recipe", "report_rows", "fmt_table", "plot_sweep", "load_sweep"]

RECIPE_KEY = "__recipe__"


def read_recipe(arrays: dict) -> dict | None:
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


def report_rows(arrays: dict, names, bits: int = 8, per: str = "tensor") -> list[dict]:
    """One row per layer, every figure from the quantised weights the hardware gets.

    ``achieved``, ``nnz`` and ``mac_reduction`` count the non-zeros of the
    quantised ``q`` (so they agree with the storage bits and with an
    export); ``float_nnz`` counts the float weights' non-zeros and
    ``quant_zeros`` the survivors that quantised to 0 (``float_nnz - nnz``).
    """
    recipe = read_recipe(arrays) or {}
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


def fmt_table(rows: list[dict]) -> str:
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


def load_sweep(path) -> dict:
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
