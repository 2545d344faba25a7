"""Load one export back, checking every field, file and array (see :func:`load_export`).

Trust nothing: a manifest and its files may be hand-edited, truncated by an
interrupted copy, or written by another tool.  Every check raises
``ValueError`` naming the layer and the manifest file; nothing is
unpickled, and no value is ever narrowed to a smaller dtype without first
checking it fits.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from . import storage
from .fileio import MAX_WIDTH, load_npz, parse_hex, sha256
from .formats import FORMATS, HEX_LAYOUT, SCHEMA, VERSION, file_base, get_format
from .quant import dequantize, qmax_of

__all__ = ["load_export"]

_SHA = re.compile(r"[0-9a-f]{64}")


class _Bad(Exception):
    """A check failed; carries the message, turned into ValueError with the layer."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _field(d: dict, key: str, check, what: str, where: str = "manifest"):
    if key not in d:
        raise _Bad(f"{where} lacks {key!r}")
    v = d[key]
    if not check(v):
        raise _Bad(f"{where} field {key!r} must be {what}, not {v!r}"[:300])
    return v


def _int_list(v) -> bool:
    return isinstance(v, list) and all(_is_int(x) and x >= 0 for x in v)


def _check_schema(man: dict) -> None:
    """Types of every field the exporter writes; values are checked later."""
    _field(man, "schema", lambda v: v == SCHEMA, f"{SCHEMA!r}")
    _field(man, "version", lambda v: _is_int(v) and v == VERSION, f"version {VERSION}")
    _field(man, "layer", lambda v: isinstance(v, str), "a string")
    _field(man, "format", lambda v: isinstance(v, str), "a string")
    if man["format"] not in FORMATS:
        raise _Bad(f"unknown format {man['format']!r}; choose from {', '.join(FORMATS)}")
    _field(man, "format_params", lambda v: isinstance(v, dict), "an object")
    _field(man, "hardware", lambda v: v is None or isinstance(v, dict), "an object or null")
    _field(man, "source", lambda v: v is None or isinstance(v, str), "a string or null")
    _field(man, "recipe", lambda v: v is None or isinstance(v, dict), "an object or null")
    _field(man, "shape", lambda v: _int_list(v) and math.prod(v) > 0,
           "a list of positive integers")
    for key in ("dtype", "bits"):
        if key not in man:
            raise _Bad(f"manifest lacks {key!r}")
    pair = (man["bits"], man["dtype"])
    if not (_is_int(pair[0]) and pair in ((8, "int8"), (16, "int16"))):
        raise _Bad(f"bits/dtype must be 8/int8 or 16/int16, not {pair[0]!r}/{pair[1]!r}")
    q = _field(man, "quant", lambda v: isinstance(v, dict), "an object")
    _field(q, "per", lambda v: v in ("tensor", "row"), "'tensor' or 'row'", "quant")
    _field(q, "scale", lambda v: isinstance(v, list) and all(_is_num(x) for x in v),
           "a list of numbers", "quant")
    _field(q, "scale_shape", _int_list, "a list of integers", "quant")
    _field(q, "symmetric", lambda v: v is True, "true", "quant")
    _field(q, "rounding", lambda v: v == "half-even", "'half-even'", "quant")
    _field(q, "extra_zeros", lambda v: _is_int(v) and v >= 0, "a non-negative integer", "quant")
    _field(man, "requested_sparsity",
           lambda v: v is None or (_is_num(v) and math.isfinite(v) and 0 <= v <= 1),
           "null or a number in [0, 1]")
    _field(man, "sparsity", lambda v: _is_num(v) and math.isfinite(v), "a number")
    _field(man, "nnz", lambda v: _is_int(v) and v >= 0, "a non-negative integer")
    _field(man, "storage_bits", lambda v: _is_int(v) and v >= 0, "a non-negative integer")
    _field(man, "storage_bits_all", lambda v: isinstance(v, dict), "an object")
    _field(man, "hex_layout", lambda v: v == HEX_LAYOUT, "the documented hex layout text")
    arrays = _field(man, "arrays", lambda v: isinstance(v, dict), "an object")
    for key, meta in arrays.items():
        where = f"arrays[{key!r}]"
        if not isinstance(meta, dict):
            raise _Bad(f"manifest {where} must be an object, not {meta!r}"[:300])
        _field(meta, "dtype", lambda v: isinstance(v, str), "a string", where)
        _field(meta, "shape", _int_list, "a list of non-negative integers", where)
        _field(meta, "width_bits", lambda v: _is_int(v) and 1 <= v <= MAX_WIDTH,
               f"an integer in [1, {MAX_WIDTH}]", where)
        _field(meta, "signed", lambda v: isinstance(v, bool), "true or false", where)
        _field(meta, "hex", lambda v: isinstance(v, str), "a string", where)
    _field(man, "npz", lambda v: isinstance(v, str), "a string")
    files = _field(man, "files", lambda v: isinstance(v, dict), "an object")
    for fname, digest in files.items():
        if fname in ("", ".", "..") or Path(fname).name != fname or "\\" in fname:
            raise _Bad(f"file name {fname!r} leaves the export directory")
        if not (isinstance(digest, str) and _SHA.fullmatch(digest)):
            raise _Bad(f"manifest checksum of {fname} must be a SHA-256 hex digest, not {digest!r}"[:300])


def _check_quant(man: dict) -> np.ndarray:
    q, shape = man["quant"], man["shape"]
    if q["per"] == "row":
        if len(shape) < 2:
            raise _Bad(f"per-row quantisation needs at least 2 axes, shape is {shape}")
        want = [shape[0]]
    else:
        want = []
    if q["scale_shape"] != want or len(q["scale"]) != math.prod(want):
        raise _Bad(f"per-{q['per']} scale must have shape {want}, manifest has scale_shape "
                   f"{q['scale_shape']} with {len(q['scale'])} value(s)")
    scale = np.array(q["scale"], dtype=np.float64).reshape(want)
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise _Bad("every quantisation scale must be finite and > 0")
    return scale


def _check_files(man: dict, base: str, folder: Path) -> str:
    """The exact file set the exporter writes for this layer, and their checksums."""
    arrays = man["arrays"]
    exts = {Path(m["hex"]).suffix for m in arrays.values()}
    ext = exts.pop() if len(exts) == 1 else None
    if ext not in (".hex", ".mem"):
        raise _Bad("hex files must all end in .hex or all in .mem")
    want = {f"{base}.npz"} | {f"{base}.{k}{ext}" for k in arrays}
    if man["npz"] != f"{base}.npz":
        raise _Bad(f"npz file must be {base}.npz, not {man['npz']!r}")
    for key, meta in arrays.items():
        if meta["hex"] != f"{base}.{key}{ext}":
            raise _Bad(f"hex file of array {key!r} must be {base}.{key}{ext}, not {meta['hex']!r}")
    if set(man["files"]) != want:
        extra, missing = sorted(set(man["files"]) - want), sorted(want - set(man["files"]))
        raise _Bad(f"file list does not match the arrays (unexpected {extra}, missing {missing})")
    for fname, digest in man["files"].items():
        fpath = folder / fname
        if not fpath.is_file():
            raise _Bad(f"missing file {fname}")
        try:
            data = fpath.read_bytes()
        except OSError as exc:
            raise _Bad(f"cannot read {fname} ({exc.strerror or exc})") from None
        if sha256(data) != digest:
            raise _Bad(f"{fname} does not match its manifest checksum (interrupted or edited export)")
    return ext


def _fits(flat: np.ndarray, width: int, signed: bool) -> bool:
    if not flat.size:
        return True
    if width > 64:   # (words, limbs) uint64, least significant limb first
        limbs, top = -(-width // 64), width - 64 * (-(-width // 64) - 1)
        return (not signed and flat.dtype == np.uint64 and flat.ndim == 2
                and flat.shape[1] == limbs and (top >= 64 or int(flat[:, -1].max()) < 1 << top))
    if signed:
        lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
        return bool(int(flat.min()) >= lo and int(flat.max()) <= hi)
    if flat.dtype.kind == "i" and int(flat.min()) < 0:
        return False
    return width >= 64 or bool(int(flat.max()) < (1 << width))


def _check_arrays(man: dict, arrays: dict, folder: Path) -> None:
    fmt, bits = man["format"], man["bits"]
    want = get_format(fmt).dtypes(man["dtype"])
    if set(arrays) != set(want) or set(man["arrays"]) != set(want):
        raise _Bad(f"{fmt} needs arrays {sorted(want)}; the npz has {sorted(arrays)} and the "
                   f"manifest lists {sorted(man['arrays'])}")
    qmax = qmax_of(bits)
    for key, meta in man["arrays"].items():
        arr = arrays[key]
        if arr.dtype != want[key]:
            raise _Bad(f"array {key!r} must be {want[key]} for a {man['dtype']} {fmt} export, "
                       f"not {arr.dtype}")
        if meta["dtype"] != str(arr.dtype) or meta["shape"] != list(arr.shape):
            raise _Bad(f"array {key!r} is {arr.dtype}{list(arr.shape)}, manifest says "
                       f"{meta['dtype']}{meta['shape']}")
        width, signed = meta["width_bits"], meta["signed"]
        flat = arr.reshape(-1) if width <= 64 else arr
        if key in ("q", "values") and flat.size and (int(flat.min()) < -qmax or int(flat.max()) > qmax):
            raise _Bad(f"array {key!r} holds values outside the symmetric {bits}-bit range "
                       f"[-{qmax}, {qmax}]")
        if not _fits(flat, width, signed):
            raise _Bad(f"array {key!r} holds values wider than its declared "
                       f"{'signed' if signed else 'unsigned'} {width} bits")
        try:
            hv = parse_hex((folder / meta["hex"]).read_bytes(), width, signed)
        except ValueError as exc:
            raise _Bad(f"{meta['hex']}: {exc}") from None
        ref = flat.astype(np.int64) if signed else flat.astype(np.uint64)
        if hv.shape != ref.shape or not np.array_equal(hv, ref):
            raise _Bad(f"{meta['hex']} does not hold the values of array {key!r}")


def _decode_and_recheck(man: dict, arrays: dict) -> np.ndarray:
    fmt, shape, bits = man["format"], tuple(man["shape"]), man["bits"]
    f, fp = get_format(fmt), man["format_params"]
    try:
        want_params = f.params(shape, bits, {k: fp[k] for k in f.options if k in fp}, "")
    except ValueError as exc:
        raise _Bad(f"format_params: {str(exc).split(': ', 1)[-1]}") from None
    if fp != want_params or any(type(fp[k]) is not type(v) for k, v in want_params.items()):
        raise _Bad(f"{fmt} format_params {json.dumps(fp)[:200]} does not match shape "
                   f"{list(shape)} (expected {json.dumps(want_params)[:200]})")
    try:
        f.check_sizes(shape, want_params, arrays)
        wide = f.decode(arrays, shape, want_params, bits)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise _Bad(f"{fmt} data is invalid: {exc}") from None
    except MemoryError:  # a last resort: check_sizes refuses inflated shapes first
        raise _Bad(f"shape {list(shape)} is too large to decode in memory") from None
    if wide.shape != shape:
        raise _Bad(f"decoded shape {list(wide.shape)} does not match {list(shape)}")
    qmax = qmax_of(bits)
    if wide.size and (int(wide.min()) < -qmax or int(wide.max()) > qmax):
        raise _Bad(f"decoded values exceed the symmetric {bits}-bit range [-{qmax}, {qmax}]")
    q = wide.astype(man["dtype"])
    # The stored arrays must be exactly what the exporter makes of q: this
    # covers what the decoders do not read (CSR stream words, zfnaf entries)
    # and non-canonical encodings.
    try:
        again, widths, signed = f.encode(q, bits, want_params, "")
    except ValueError as exc:
        raise _Bad(f"cannot re-encode the decoded tensor ({str(exc).lstrip(': ')})") from None
    for key, arr in again.items():
        meta = man["arrays"][key]
        if meta["width_bits"] != widths[key] or meta["signed"] != signed[key]:
            raise _Bad(f"array {key!r} must be {'signed' if signed[key] else 'unsigned'} "
                       f"{widths[key]} bits in {fmt}, manifest says "
                       f"{'signed' if meta['signed'] else 'unsigned'} {meta['width_bits']}")
        if arrays[key].shape != arr.shape or not np.array_equal(arrays[key], arr):
            raise _Bad(f"array {key!r} is not the canonical {fmt} encoding of the decoded tensor")
    return q


def _targets(man: dict, build):
    """:mod:`pruning.targets` (which imports hw) when the export or the caller names
    hardware, else ``None``."""
    if get_format(man["format"]).block is None and man["hardware"] is None and build is None:
        return None
    from . import targets
    return targets


def _check_hardware(man: dict, build) -> None:
    """The ``hardware`` record against the format and its recorded packing."""
    t = _targets(man, build)
    if t is not None:
        try:
            t.check_hardware(man["hardware"], man["format"], man["format_params"])
        except ValueError as exc:
            raise _Bad(str(exc)) from None


def _check_pairing(man: dict, q: np.ndarray, build) -> None:
    """The decoded weights fit the recorded build, and (``build``) pair with that build."""
    t = _targets(man, build)
    if t is not None:
        try:
            axis = man["format_params"].get("axis", -1)
            t.check_fit(man["hardware"], q, axis)
            if build is not None:
                t.check_build(man["hardware"], build[0], build[1], q, man["format"], axis)
        except ValueError as exc:
            raise _Bad(str(exc)) from None


def _check_figures(man: dict, q: np.ndarray) -> None:
    nnz = int(np.count_nonzero(q))
    if man["nnz"] != nnz:
        raise _Bad(f"decoded nnz {nnz} does not match {man['nnz']}")
    sparsity = float(1.0 - nnz / q.size)
    if man["sparsity"] != sparsity:
        raise _Bad(f"sparsity {man['sparsity']} does not match the decoded {sparsity}")
    if man["quant"]["extra_zeros"] > q.size - nnz:
        raise _Bad(f"extra_zeros {man['quant']['extra_zeros']} exceeds the {q.size - nnz} zeros")
    bits_all = storage.storage_bits(q, man["bits"])
    got = man["storage_bits_all"]
    if got != bits_all or not all(_is_int(v) or v is None for v in got.values()):
        raise _Bad(f"storage_bits_all {man['storage_bits_all']} does not match the recomputed "
                   f"{bits_all}")
    fmt_bits = get_format(man["format"]).storage_bits(q, man["bits"], man["format_params"])
    if man["storage_bits"] != fmt_bits:
        raise _Bad(f"storage_bits {man['storage_bits']} does not match the recomputed {fmt_bits}")


def load_export(manifest_path, *, build=None) -> dict:
    """Load and fully check one export; returns ``{"manifest", "arrays", "q", "weight"}``.

    ``manifest_path`` is a layer's ``.json`` manifest.  ``q`` is the decoded
    integer tensor (the manifest's dtype), ``weight`` its dequantised
    float64 value.  Raises ``ValueError`` naming the layer (or the file when
    the manifest cannot be read) and the problem; see :mod:`pruning.export`
    for the list of checks.  ``build``, a ``(block, params)`` pair, also refuses an
    export whose streams were packed for another build of the block
    (:func:`pruning.targets.check_build`), before anything is simulated.
    """
    path = Path(manifest_path)
    where = f"export {path.name or path}"
    if path.is_dir():
        raise ValueError(f"{where}: is a directory; pass a layer's .json manifest")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{where}: manifest not found (an interrupted export leaves none)") from None
    except OSError as exc:
        raise ValueError(f"{where}: cannot read the manifest ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: manifest is not valid JSON ({exc})") from None
    try:
        man = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: manifest is not valid JSON ({exc})") from None
    if not isinstance(man, dict):
        raise ValueError(f"{where}: manifest must be a JSON object")
    if isinstance(man.get("layer"), str):
        where = f"layer {man['layer']!r} ({path.name})"
    try:
        _check_schema(man)
        _check_hardware(man, build)
        scale = _check_quant(man)
        base = file_base(man["layer"])
        _check_files(man, base, path.parent)
        try:
            arrays = load_npz(path.parent / man["npz"])
        except ValueError as exc:
            raise _Bad(f"{man['npz']} {exc}") from None
        _check_arrays(man, arrays, path.parent)
        q = _decode_and_recheck(man, arrays)
        _check_figures(man, q)
        _check_pairing(man, q, build)
    except _Bad as exc:
        raise ValueError(f"{where}: {exc}") from None
    return {"manifest": man, "arrays": arrays, "q": q,
            "weight": dequantize(q, scale, man["quant"]["per"])}
