"""Hardware targets: the block that reads an export, its parameters, and whether the weights fit.

Every format with a hardware block (:attr:`pruning.formats.Format.block`) is exported
*for* one build of that block, and its manifest records it as::

    "hardware": {"block": "<hw.blocks registry name>",
                 "params": {<every keyword parameter of the block's constructor>}}

(``null`` for a format without a block, and for a zfnaf export made without a target:
:attr:`pruning.formats.Format.hardware_optional`).  The stream words are packed with that
build's widths and lanes (:meth:`pruning.formats.Format.packing`), so the exporter
cannot choose a packing the hardware then reads differently.

* :func:`resolve` picks the build: with a target, the block's defaults
  (:attr:`hw.blocks.Block.defaults`) updated with the given parameters, refused with
  one line if the weights do not fit it; without one, the defaults widened only
  where the weights need it (so small layers target the default build).
* :func:`check_hardware` is the loader's check of a manifest's ``hardware``.
* :func:`check_build` refuses to pair an export with a build whose stream
  parameters differ or that the weights do not fit.

This is the only module of the package that imports :mod:`hw` (lazily, inside the
functions), so ``import pruning`` stays NumPy-only.
"""
from __future__ import annotations

import numpy as np

from golden.bits import byte_width

from .formats import Format, get_format, matrix_shape

__all__ = ["resolve", "check_hardware", "check_fit", "check_build", "block_params", "describe",
           "parse_params"]


def _block(name):
    from hw.blocks import get_block
    return get_block(name)


def describe(hardware) -> str:
    """``csr_spmv(lanes=4, value_width=16, ...)`` for messages and ``pruning check``."""
    if hardware is None:
        return "none"
    args = ", ".join(f"{k}={v}" for k, v in sorted(hardware["params"].items()))
    return f"{hardware['block']}({args})"


def parse_params(items) -> dict:
    """``["lanes=4", "overflow=saturate"]`` -> ``{"lanes": 4, "overflow": "saturate"}``."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {item!r}: write NAME=VALUE, e.g. lanes=4")
        value = value.strip()
        try:
            out[key.strip()] = int(value, 0)
        except ValueError:
            out[key.strip()] = value
    return out


def block_params(block: str, overrides: dict | None = None) -> dict:
    """All parameters of ``block`` (defaults updated with ``overrides``), checked by the
    block's own constructor; ``ValueError`` with its message otherwise."""
    b = _block(block)
    params = b.params(overrides)
    try:
        check = getattr(b.make, "check_params", None)
        if check is not None:
            check(**params)
        built = b.make(**params)
        built._MustUse__silence = True     # made only to check the parameters
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{block}: {exc}") from None
    return params


# -- per-block fit checks and the build that matches a layer -------------------------------

def _extent(q: np.ndarray, axis: int = -1) -> dict:
    """What the fit checks look at: the matrix view, the size, the value range, the
    dtype's bits and ``k``, the length of ``axis`` (zfnaf's channel axis, a window)."""
    rows, cols = matrix_shape(q.shape)
    try:
        k = int(q.shape[axis]) if q.ndim else 1
    except (IndexError, TypeError):
        k = 0            # a bad axis: the format's own check names it
    return {"rows": rows, "cols": cols, "n": int(q.size), "k": k,
            "bits": int(np.dtype(q.dtype).itemsize * 8),
            "lo": int(q.min()) if q.size else 0, "hi": int(q.max()) if q.size else 0}


def _signed_bits(lo: int, hi: int) -> int:
    """Bits of the narrowest two's-complement field holding ``lo`` and ``hi``."""
    return max(1, (-int(lo) - 1).bit_length() + 1 if lo < 0 else 1,
               int(hi).bit_length() + 1 if hi > 0 else 1)


def _fit_csr_spmv(e: dict, p: dict) -> list:
    problems = []
    need = _signed_bits(e["lo"], e["hi"])
    if need > p["value_width"]:
        problems.append(f"values in [{e['lo']}, {e['hi']}] need value_width >= {need}, "
                        f"not {p['value_width']}")
    if e["cols"] > p["max_cols"]:
        problems.append(f"{e['cols']} columns exceed max_cols={p['max_cols']} (the x memory)")
    if e["rows"] > p["max_rows"]:
        problems.append(f"{e['rows']} rows exceed max_rows={p['max_rows']}")
    return problems


def _match_csr_spmv(e: dict, bits: int, d: dict) -> dict:
    p = dict(d, value_width=max(d["value_width"], bits), max_rows=max(d["max_rows"], e["rows"]),
             max_cols=max(d["max_cols"], e["cols"]))
    p["col_width"] = max(p["col_width"], byte_width((p["max_cols"] - 1).bit_length()))
    p["row_width"] = max(p["row_width"], byte_width(p["max_cols"].bit_length()))
    p["acc_width"] = max(p["acc_width"], p["value_width"] + p["x_width"])
    return p


def _fit_rlc_decoder(e: dict, p: dict) -> list:
    from golden.rlc import LEVEL_BITS
    from hw.rlc import LENGTH_BITS
    problems = []
    if e["n"] >= 1 << LENGTH_BITS:
        problems.append(f"{e['n']} values exceed the {LENGTH_BITS}-bit tensor length")
    if _signed_bits(e["lo"], e["hi"]) > LEVEL_BITS:
        problems.append(f"values in [{e['lo']}, {e['hi']}] exceed the {LEVEL_BITS}-bit level")
    return problems


def _fit_sparse_mac(e: dict, p: dict) -> list:
    problems = []
    if (p["n"], p["m"]) != (2, 4):
        problems.append(f"sparse24 is 2:4, the build is {p['n']}:{p['m']}")
    need = _signed_bits(e["lo"], e["hi"])
    if need > p["width"]:
        problems.append(f"values in [{e['lo']}, {e['hi']}] need width >= {need}, "
                        f"not {p['width']}")
    return problems


def _match_sparse_mac(e: dict, bits: int, d: dict) -> dict:
    width = max(d["width"], bits)
    return dict(d, width=width, acc_width=max(d["acc_width"], 2 * width))


def _fit_cnv_unit(e: dict, p: dict) -> list:
    problems = []
    need = _signed_bits(e["lo"], e["hi"])
    if need > p["value_width"]:
        problems.append(f"activations in [{e['lo']}, {e['hi']}] need value_width >= {need}, "
                        f"not {p['value_width']}")
    if byte_width(p["value_width"]) != e["bits"]:
        problems.append(f"{e['bits']}-bit entries are not the lane words' "
                        f"{byte_width(p['value_width'])}-bit value field (export with "
                        f"--bits {byte_width(p['value_width'])})")
    if e["k"] > p["max_k"]:
        problems.append(f"a window of {e['k']} activations (the channel axis) exceeds "
                        f"max_k={p['max_k']}")
    return problems


# block name -> (fit: problems of a layer on a build, matching: the build for a layer;
# None for a format whose hardware is optional: no target, no build)
_TARGETS = {
    "csr_spmv": (_fit_csr_spmv, _match_csr_spmv),
    "rlc_decoder": (_fit_rlc_decoder, lambda e, bits, d: dict(d)),
    "sparse_mac": (_fit_sparse_mac, _match_sparse_mac),
    "cnv_unit": (_fit_cnv_unit, None),
}


def _fit(block: str, q: np.ndarray, params: dict, label: str, axis: int = -1) -> None:
    problems = _TARGETS[block][0](_extent(q, axis), params)
    if problems:
        raise ValueError(f"{label}: does not fit {describe({'block': block, 'params': params})}: "
                         f"{'; '.join(problems)}")


def resolve(fmt: Format, q: np.ndarray, bits: int, target: str | None, overrides: dict | None,
            label: str, axis: int = -1) -> dict | None:
    """The ``hardware`` record of an export of ``q`` in ``fmt`` (``None`` without a block).

    ``target`` (a block name) must be the block of ``fmt``; ``overrides`` its parameters.
    Without a target, the block's defaults widened where ``q`` needs it.
    """
    if overrides and target is None:
        raise ValueError(f"{label}: hardware parameters need a target block (--target)")
    if fmt.block is None:
        if target is not None:
            raise ValueError(f"{label}: format {fmt.name} has no hardware block yet, so it "
                             f"cannot be exported for {target!r}")
        return None
    if target is not None and target != fmt.block:
        raise ValueError(f"{label}: format {fmt.name} is read by block {fmt.block!r}, not "
                         f"{target!r}")
    if target is None and fmt.hardware_optional:
        return None
    try:
        if target is None:
            params = _TARGETS[fmt.block][1](_extent(q), bits, _block(fmt.block).defaults)
            params = block_params(fmt.block, params)
        else:
            params = block_params(fmt.block, overrides)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None
    _fit(fmt.block, q, params, label, axis)
    return {"block": fmt.block, "params": params}


def check_hardware(hardware, fmt_name: str, fmt_params: dict) -> None:
    """The loader's check of a manifest's ``hardware``: the block of the format, exactly
    its parameters (all of them, each valid), and the packing recorded in ``fmt_params``
    equal to the one they fix (:func:`check_fit` checks the weights).  ``ValueError``."""
    fmt = get_format(fmt_name)
    if hardware is None and fmt.hardware_optional:
        return
    if fmt.block is None:
        if hardware is not None:
            raise ValueError(f"hardware must be null for format {fmt_name} (it has no block)")
        return
    if not (isinstance(hardware, dict) and set(hardware) == {"block", "params"}
            and isinstance(hardware["params"], dict)):
        raise ValueError(f"hardware must be an object {{\"block\", \"params\"}}, not "
                         f"{str(hardware)[:120]}")
    if hardware["block"] != fmt.block:
        raise ValueError(f"hardware block {hardware['block']!r} does not read format "
                         f"{fmt_name}; {fmt.block!r} does")
    got = hardware["params"]
    params = block_params(fmt.block, got)
    missing = sorted(set(params) - set(got))
    if missing:
        raise ValueError(f"hardware params lack {missing} (every parameter of "
                         f"{fmt.block} is recorded)")
    bad = {k: v for k, v in got.items() if type(v) is not type(params[k])}
    if bad:
        raise ValueError(f"hardware params {bad} have the wrong type")
    packed = {k: fmt_params.get(k) for k in fmt.packing(params)}
    if packed != fmt.packing(params):
        raise ValueError(f"format_params {packed} are not the packing of "
                         f"{describe(hardware)}")


def check_fit(hardware, q: np.ndarray, axis: int = -1) -> None:
    """``ValueError`` unless ``q`` fits the build ``hardware`` records (if any)."""
    if hardware is not None:
        _fit(hardware["block"], q, hardware["params"], "weights", axis)


def check_build(hardware, block: str, params: dict | None, q: np.ndarray, fmt_name: str,
                axis: int = -1) -> None:
    """Refuse to feed an export packed for ``hardware`` to a build of ``block`` with
    ``params``: the stream parameters must be equal, and the weights must fit the build
    (parameters that do not touch the streams, such as ``x_width``, may differ)."""
    fmt = get_format(fmt_name)
    if hardware is None and fmt.hardware_optional:
        raise ValueError(f"this {fmt_name} export was made without --target, so it is not "
                         f"packed for {block}: export again with --target {fmt.block}")
    if hardware is None:
        raise ValueError(f"format {fmt_name} has no hardware block, so it cannot be fed "
                         f"to {block}")
    if block != hardware["block"]:
        raise ValueError(f"the export is packed for {hardware['block']}, not {block}")
    build = block_params(block, params)
    differ = {k: (hardware["params"][k], build[k]) for k in fmt.packing(build)
              if hardware["params"][k] != build[k]}
    if differ:
        what = ", ".join(f"{k}={a} in the export but {k}={b} in the build"
                         for k, (a, b) in differ.items())
        raise ValueError(f"the export's streams do not match this {block} build: {what}; "
                         f"export again with --target {block} and these --param values, "
                         f"or build the hardware from the manifest")
    _fit(block, q, build, f"the {block} build", axis)
