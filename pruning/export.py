"""Export pruned, quantised layers into the ``golden/`` formats, and load them back.

One export of layer ``L`` in format ``F`` writes, into one directory:

* ``<L>.npz`` -- every array of the format (plain dtypes, no pickles);
* ``<L>.<array>.hex`` -- each array for ``$readmemh``: one word per line,
  ``ceil(width/4)`` hex digits, signed values in two's complement of
  ``width`` bits, multi-dimensional arrays flattened in C order;
* ``<L>.json`` -- the manifest: layer, format, format parameters, source,
  recipe, shape, dtype, bits, quantisation scale, requested and achieved
  sparsity, nnz, exact storage bits, every array's dtype/shape/width and the
  SHA-256 of every file.  Written last.

Formats (the layer is viewed as a matrix ``(rows, cols)``, conv weights as
``(K, C*R*S)``, except ``dense`` which keeps the shape):

* ``dense``: ``q``.
* ``rlc``: ``words`` (uint64, :mod:`golden.rlc`) over the row-major flattening.
* ``csr``: ``row_ptr``, ``col_idx``, ``values`` (:mod:`golden.csr`) plus the
  hardware stream words ``row_stream`` and ``nz_stream`` from
  :func:`golden.csr.to_streams` (one lane, byte-multiple field widths).
* ``sparse24``: ``values``, ``meta`` and packed ``meta_words`` (32-bit,
  :mod:`golden.sparse24`); columns are zero-padded to a multiple of 4 and
  the manifest records ``cols``, ``padded_cols`` and the N:M tail rule.
* ``zfnaf``: Cnvlutin bricks (:mod:`golden.zfnaf`) ``values``, ``offsets``,
  ``counts`` and packed ``entries`` ``{offset, value}``; meant for
  activations (channel ``axis`` recorded), works for any tensor.

Every export is decoded again with the golden decoder before anything is
written; writes are atomic per file (:func:`pruning.fileio.write_files_atomically`).
:func:`load_export` refuses pickles, validates the manifest, the checksums,
the arrays against the manifest, the hex files against the arrays, and the
decoded tensor against the recorded shape and nnz.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from golden import csr as gcsr
from golden import rlc, sparse24, zfnaf

from . import storage
from ._checks import check_weights, layer_label
from .fileio import npz_bytes, parse_hex, sha256, to_hex_lines, write_files_atomically
from .masks import NM_TAIL_RULE
from .quant import Quantized, quantize

__all__ = ["FORMATS", "export_layer", "load_export", "encode", "SCHEMA"]

FORMATS = ("dense", "rlc", "csr", "sparse24", "zfnaf")
SCHEMA = "sparse-dnn-hwkit/pruning-export"
VERSION = 1
HEX_LAYOUT = ("$readmemh: one word per line, ceil(width_bits/4) hex digits, signed values in "
              "two's complement of width_bits, arrays flattened in C order")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name)) or "layer"


def _byte_width(bits: int) -> int:
    w = -(-bits // 8) * 8
    if w > 32:
        raise ValueError(f"index field of {bits} bits is wider than the 32-bit stream fields")
    return w


def encode(q: np.ndarray, fmt: str, bits: int, *, axis: int = -1, brick: int = 16, name=None):
    """Encode integer ``q`` as ``fmt``; returns ``(arrays, widths, signed, params)``.

    ``widths``/``signed`` give each array's hex word width and signedness.
    Raises ``ValueError`` naming the layer when the format cannot hold ``q``.
    """
    label = layer_label(name)
    mat = storage.as_matrix(q)
    if fmt == "dense":
        return {"q": q}, {"q": bits}, {"q": True}, {}
    if fmt == "rlc":
        words = rlc.encode(mat.reshape(-1).astype(np.int64))
        return ({"words": words}, {"words": 64}, {"words": False},
                {"n": int(mat.size), "order": "row-major over (rows, cols)"})
    if fmt == "csr":
        c = gcsr.from_dense(mat)
        colw = _byte_width(storage.bits_for(mat.shape[1]))
        roww = _byte_width(storage.bits_for(mat.shape[1] + 1))
        st = gcsr.to_streams(c, value_width=bits, col_width=colw, row_width=roww, lanes=1)
        vf, cf = gcsr.nz_field_widths(bits, colw)
        ptrw = storage.bits_for(c.nnz + 1)
        arrays = {"row_ptr": c.row_ptr.astype(np.int64), "col_idx": c.col_idx.astype(np.int64),
                  "values": c.values.astype(q.dtype),
                  "row_stream": np.array(st.rows, dtype=np.uint64),
                  "nz_stream": np.array(st.nz, dtype=np.uint64)}
        widths = {"row_ptr": ptrw, "col_idx": storage.bits_for(mat.shape[1]), "values": bits,
                  "row_stream": roww, "nz_stream": vf + cf}
        signed = {"row_ptr": False, "col_idx": False, "values": True,
                  "row_stream": False, "nz_stream": False}
        return arrays, widths, signed, {"rows": mat.shape[0], "cols": mat.shape[1],
                                        "col_width": colw, "row_width": roww, "lanes": 1}
    if fmt == "sparse24":
        padded = storage.pad_cols(mat, 4)
        try:
            values, meta = sparse24.compress(padded)
        except ValueError as exc:
            raise ValueError(f"{label}: not 2:4 sparse, cannot export as sparse24 ({exc}); "
                             f"prune with nm='2:4' first") from None
        words = sparse24.pack_meta(meta, word_bits=32)
        return ({"values": values, "meta": meta, "meta_words": words},
                {"values": bits, "meta": 2, "meta_words": 32},
                {"values": True, "meta": False, "meta_words": False},
                {"n": 2, "m": 4, "rows": mat.shape[0], "cols": mat.shape[1],
                 "padded_cols": padded.shape[1], "meta_word_bits": 32, "nm_tail": NM_TAIL_RULE})
    if fmt == "zfnaf":
        try:
            enc = zfnaf.encode(q, axis=axis, brick=brick)
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None
        ob = zfnaf.offset_bits(brick)
        entries = (enc["offsets"].astype(np.uint64) << np.uint64(bits)) | (
            enc["values"].astype(np.int64).view(np.uint64) & np.uint64((1 << bits) - 1))
        return ({**enc, "entries": entries},
                {"values": bits, "offsets": ob, "counts": zfnaf.count_bits(brick),
                 "entries": bits + ob},
                {"values": True, "offsets": False, "counts": False, "entries": False},
                {"axis": axis, "brick": brick})
    raise ValueError(f"{label}: unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")


def _decode(arrays: dict, fmt: str, shape, params: dict, dtype) -> np.ndarray:
    """Rebuild the integer tensor with the golden decoders (validating them)."""
    shape = tuple(shape)
    mshape = storage.as_matrix(np.zeros(shape, dtype=np.int8)).shape
    size = int(np.prod(shape, dtype=np.int64))
    if fmt == "rlc" and int(params["n"]) != size:
        raise ValueError(f"format n={params['n']} does not match shape {list(shape)}")
    if fmt in ("csr", "sparse24") and (int(params["rows"]), int(params["cols"])) != mshape:
        raise ValueError(f"format rows x cols {params['rows']}x{params['cols']} does not match "
                         f"shape {list(shape)}")
    if fmt == "dense":
        return np.asarray(arrays["q"])
    if fmt == "rlc":
        flat = rlc.decode(arrays["words"], int(params["n"]), signed=True)
        return flat.astype(dtype).reshape(shape)
    if fmt == "csr":
        c = gcsr.CSR(arrays["row_ptr"], arrays["col_idx"], arrays["values"], mshape)
        gcsr.validate(c, sorted_cols=True)
        return gcsr.to_dense(c).astype(dtype).reshape(shape)
    if fmt == "sparse24":
        pshape = (mshape[0], int(params["padded_cols"]))
        sparse24.validate(arrays["values"], arrays["meta"], pshape)
        unpacked = sparse24.unpack_meta(arrays["meta_words"], pshape, word_bits=32)
        if not np.array_equal(unpacked, arrays["meta"]):
            raise ValueError("meta_words do not pack meta")
        dense = sparse24.decompress(arrays["values"], arrays["meta"], pshape)
        if dense[:, mshape[1]:].any():
            raise ValueError("padding columns hold non-zeros")
        return dense[:, :mshape[1]].astype(dtype).reshape(shape)
    enc = {k: arrays[k] for k in ("values", "offsets", "counts")}
    return zfnaf.decode(enc, shape, axis=int(params["axis"]), brick=int(params["brick"])).astype(dtype)


def export_layer(out_dir, name, weight, *, fmt: str, bits: int = 8, per: str = "tensor",
                 recipe: dict | None = None, source: str | None = None, requested_sparsity=None,
                 axis: int = -1, brick: int = 16, hex_ext: str = ".hex") -> dict:
    """Quantise (unless ``weight`` is a :class:`Quantized`), encode, verify, write.

    Parameters: ``out_dir`` the target directory; ``name`` the layer name
    (file names use it with unsafe characters replaced); ``fmt`` one of
    :data:`FORMATS`; ``bits``/``per`` the quantisation; ``recipe`` the
    pruning recipe (JSON); ``source`` where the weights came from;
    ``requested_sparsity`` for the record; ``axis``/``brick`` for zfnaf;
    ``hex_ext`` ``.hex`` or ``.mem``.  Returns the manifest.  Nothing is
    written unless every step succeeds.
    """
    label = layer_label(name)
    if fmt not in FORMATS:
        raise ValueError(f"{label}: unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if hex_ext not in (".hex", ".mem"):
        raise ValueError(f"{label}: hex extension must be '.hex' or '.mem', not {hex_ext!r}")
    if isinstance(weight, Quantized):
        qz = weight
    else:
        qz = quantize(check_weights(weight, name), bits=bits, per=per, name=name)
    q = qz.q
    arrays, widths, signed, params = encode(q, fmt, qz.bits, axis=axis, brick=brick, name=name)
    back = _decode(arrays, fmt, q.shape, params, q.dtype)
    if not np.array_equal(back, q):
        raise ValueError(f"{label}: {fmt} encoding does not decode back to the layer")
    nnz = int(np.count_nonzero(q))
    bits_all = storage.storage_bits(q, qz.bits)
    fmt_bits = (bits_all.get(fmt) if fmt != "zfnaf" else
                zfnaf.storage_bits(q.shape, nnz, qz.bits, axis=axis, brick=brick))
    base = _safe(name)
    files = {}
    arr_meta = {}
    for key, arr in arrays.items():
        hname = f"{base}.{key}{hex_ext}"
        files[hname] = to_hex_lines(arr, widths[key])
        arr_meta[key] = {"dtype": str(arr.dtype), "shape": list(arr.shape),
                         "width_bits": int(widths[key]), "signed": bool(signed[key]), "hex": hname}
    files[f"{base}.npz"] = npz_bytes(arrays)
    manifest = {
        "schema": SCHEMA, "version": VERSION, "layer": str(name), "format": fmt,
        "format_params": params, "source": source, "recipe": recipe,
        "shape": list(q.shape), "dtype": str(q.dtype), "bits": int(qz.bits),
        "quant": {"per": qz.per, "scale": np.asarray(qz.scale).reshape(-1).tolist(),
                  "scale_shape": list(np.shape(qz.scale)), "symmetric": True,
                  "rounding": "half-even", "extra_zeros": int(qz.extra_zeros)},
        "requested_sparsity": None if requested_sparsity is None else float(requested_sparsity),
        "sparsity": float(1.0 - nnz / q.size) if q.size else 0.0, "nnz": nnz,
        "storage_bits": fmt_bits, "storage_bits_all": bits_all,
        "hex_layout": HEX_LAYOUT, "arrays": arr_meta, "npz": f"{base}.npz",
        "files": {k: sha256(v) for k, v in files.items()},
    }
    files[f"{base}.json"] = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    write_files_atomically(out_dir, files)
    return manifest


_REQUIRED = {"schema": str, "version": int, "layer": str, "format": str, "format_params": dict,
             "shape": list, "dtype": str, "bits": int, "quant": dict, "sparsity": float,
             "nnz": int, "arrays": dict, "npz": str, "files": dict}


def _fail(where, msg):
    raise ValueError(f"{where}: {msg}")


def load_export(manifest_path) -> dict:
    """Load and fully check one export; returns ``{"manifest", "arrays", "q", "weight"}``.

    ``q`` is the decoded integer tensor, ``weight`` its dequantised float64
    value.  Raises ``ValueError`` naming the layer (or the file) and the problem.
    """
    path = Path(manifest_path)
    where = f"export {path.name}"
    try:
        man = json.loads(path.read_text())
    except FileNotFoundError:
        _fail(where, "manifest not found (an interrupted export leaves none)")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        _fail(where, f"manifest is not valid JSON ({exc})")
    if not isinstance(man, dict):
        _fail(where, "manifest must be a JSON object")
    for key, typ in _REQUIRED.items():
        if key not in man:
            _fail(where, f"manifest lacks {key!r}")
        ok = isinstance(man[key], typ) or (typ is float and isinstance(man[key], int))
        if not ok or (typ is int and isinstance(man[key], bool)):
            _fail(where, f"manifest field {key!r} must be {typ.__name__}")
    where = f"layer {man['layer']!r} ({path.name})"
    if man["schema"] != SCHEMA or man["version"] != VERSION:
        _fail(where, f"unsupported manifest schema {man['schema']!r} version {man['version']}")
    if man["format"] not in FORMATS:
        _fail(where, f"unknown format {man['format']!r}")
    if man["bits"] not in (8, 16) or man["dtype"] not in ("int8", "int16"):
        _fail(where, f"bits/dtype must be 8/int8 or 16/int16, not {man['bits']}/{man['dtype']}")
    for fname, digest in man["files"].items():
        fpath = path.parent / fname
        if Path(fname).name != fname:
            _fail(where, f"file name {fname!r} leaves the export directory")
        if not fpath.is_file():
            _fail(where, f"missing file {fname}")
        if sha256(fpath.read_bytes()) != digest:
            _fail(where, f"{fname} does not match its manifest checksum (interrupted or edited export)")
    if man["npz"] not in man["files"]:
        _fail(where, "the npz file is not covered by a checksum")
    try:
        with np.load(path.parent / man["npz"], allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        _fail(where, f"cannot load {man['npz']} without pickles ({exc})")
    if set(arrays) != set(man["arrays"]):
        _fail(where, f"arrays {sorted(arrays)} do not match the manifest's {sorted(man['arrays'])}")
    for key, meta in man["arrays"].items():
        arr = arrays[key]
        if str(arr.dtype) != meta.get("dtype") or list(arr.shape) != meta.get("shape"):
            _fail(where, f"array {key!r} is {arr.dtype}{list(arr.shape)}, manifest says "
                         f"{meta.get('dtype')}{meta.get('shape')}")
        hname = meta.get("hex")
        if hname not in man["files"]:
            _fail(where, f"hex file of array {key!r} is not covered by a checksum")
        try:
            hv = parse_hex((path.parent / hname).read_bytes(), int(meta["width_bits"]), bool(meta["signed"]))
        except ValueError as exc:
            _fail(where, f"{hname}: {exc}")
        width = int(meta["width_bits"])
        flat = arr.reshape(-1)
        want = (flat.astype(np.int64) if meta["signed"] else
                (flat.astype(np.uint64) & np.uint64((1 << width) - 1) if width < 64 else flat.astype(np.uint64)))
        if hv.shape != want.shape or not np.array_equal(hv, want):
            _fail(where, f"{hname} does not hold the values of array {key!r}")
    dtype = np.dtype(man["dtype"])
    try:
        q = _decode(arrays, man["format"], man["shape"], man["format_params"], dtype)
    except (ValueError, TypeError, KeyError) as exc:
        _fail(where, f"{man['format']} data is invalid: {exc}")
    if list(q.shape) != man["shape"]:
        _fail(where, f"decoded shape {list(q.shape)} does not match {man['shape']}")
    if int(np.count_nonzero(q)) != man["nnz"]:
        _fail(where, f"decoded nnz {int(np.count_nonzero(q))} does not match {man['nnz']}")
    qm = man["quant"]
    scale = np.asarray(qm.get("scale"), dtype=np.float64).reshape(qm.get("scale_shape", []))
    if qm.get("per") == "row" and scale.shape != (man["shape"][0],):
        _fail(where, f"per-row scale has shape {scale.shape}, expected ({man['shape'][0]},)")
    from .quant import dequantize
    return {"manifest": man, "arrays": arrays, "q": q,
            "weight": dequantize(q, scale, qm.get("per", "tensor"))}
