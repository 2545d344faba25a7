"""The export formats in one place: names, parameters, array dtypes, encode and decode.

Shared by the writer (:mod:`pruning.export`) and the checking loader
(:mod:`pruning.loader`), so both derive every format parameter, array dtype
and hex width from the same code.  The layer is viewed as a matrix
``(rows, cols)`` (:func:`pruning.storage.as_matrix`; conv weights as
``(K, C*R*S)``), except ``dense`` which keeps the shape and ``zfnaf`` which
works on the tensor with its channel ``axis``.
"""
from __future__ import annotations

import math
import re

import numpy as np

from golden import csr as gcsr
from golden import rlc, sparse24, zfnaf

from . import storage
from ._checks import layer_label
from .masks import NM_TAIL_RULE

__all__ = ["FORMATS", "SCHEMA", "VERSION", "HEX_LAYOUT", "RLC_ORDER", "file_base",
           "format_params", "array_dtypes", "encode", "decode", "matrix_shape",
           "check_sizes"]

FORMATS = ("dense", "rlc", "csr", "sparse24", "zfnaf")
SCHEMA = "sparse-dnn-hwkit/pruning-export"
# 2: zfnaf counts are uint16 (brick 256), strict manifests (the loader
# re-derives every parameter); version-1 exports must be exported again.
VERSION = 2
HEX_LAYOUT = ("$readmemh: one word per line, ceil(width_bits/4) hex digits, signed values in "
              "two's complement of width_bits, arrays flattened in C order")
RLC_ORDER = "row-major over (rows, cols)"


def file_base(name) -> str:
    """File-name stem of a layer: every character outside ``[A-Za-z0-9._-]`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name)) or "layer"


def matrix_shape(shape) -> tuple:
    """``(rows, cols)`` of :func:`pruning.storage.as_matrix` for ``shape``, computed
    arithmetically: a tampered manifest shape must never allocate memory."""
    shape = tuple(int(s) for s in shape)
    if not shape:
        return (1, 1)
    if len(shape) == 1:
        return (1, shape[0])
    return (shape[0], math.prod(shape[1:]))


def check_sizes(fmt: str, shape, params: dict, arrays: dict) -> None:
    """``ValueError`` unless the stored ``arrays`` can hold a tensor of ``shape``.

    Checked arithmetically before any decoder allocates the dense tensor, so a
    manifest whose shape was inflated (e.g. ``[1099511627776]``) is refused
    instead of raising ``MemoryError``.  Exact where the arrays fix the size
    (dense, sparse24, zfnaf, CSR rows); for RLC an upper bound (a pair covers
    at most ``MAX_RUN + 1`` values and at most ``MAX_RUN`` trailing zeros are
    left implicit).
    """
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    rows, cols = matrix_shape(shape)

    def size(key):
        return int(np.asarray(arrays[key]).size)

    if fmt == "dense":
        if tuple(np.shape(arrays["q"])) != shape:
            raise ValueError(f"array 'q' has shape {list(np.shape(arrays['q']))}, not the layer "
                             f"shape {list(shape)}")
    elif fmt == "rlc":
        most = size("words") * rlc.PAIRS_PER_WORD * (rlc.MAX_RUN + 1) + rlc.MAX_RUN
        if n > most:
            raise ValueError(f"{size('words')} RLC words hold at most {most} values, not the "
                             f"{n} of shape {list(shape)}")
    elif fmt == "csr":
        if size("row_ptr") != rows + 1:
            raise ValueError(f"row_ptr has {size('row_ptr')} entries, not {rows + 1} for "
                             f"{rows} rows (shape {list(shape)})")
    elif fmt == "sparse24":
        want = rows * (int(params["padded_cols"]) // 2)
        if size("values") != want or size("meta") != want:
            raise ValueError(f"sparse24 values/meta have {size('values')}/{size('meta')} "
                             f"entries, not {want} for shape {list(shape)}")
    elif fmt == "zfnaf":
        brick = int(params["brick"])
        ax = int(params["axis"]) % len(shape)
        bricks = (n // shape[ax]) * -(-shape[ax] // brick)
        if size("counts") != bricks:
            raise ValueError(f"zfnaf counts has {size('counts')} entries, not {bricks} bricks "
                             f"for shape {list(shape)}")


def _byte_width(bits: int, label: str) -> int:
    w = -(-bits // 8) * 8
    if w > 32:
        raise ValueError(f"{label}: index field of {bits} bits is wider than the 32-bit stream fields")
    return w


def _check_int(v, label: str, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"{label}: {what} must be an integer, not {v!r}")
    return int(v)


def format_params(fmt: str, shape, bits: int, *, axis=-1, brick=16, name=None) -> dict:
    """The ``format_params`` an export of a tensor of ``shape`` records (plain JSON).

    ``axis``/``brick`` matter only for ``zfnaf`` (the channel axis, recorded
    as given, and the brick length: a power of two in [2, 256]).  Raises
    ``ValueError`` naming the layer when the format cannot hold the shape.
    """
    label = layer_label(name)
    shape = tuple(int(s) for s in shape)
    if fmt not in FORMATS:
        raise ValueError(f"{label}: unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    rows, cols = matrix_shape(shape)
    if fmt == "dense":
        return {}
    if fmt == "rlc":
        return {"n": int(np.prod(shape, dtype=np.int64)), "order": RLC_ORDER}
    if fmt == "csr":
        return {"rows": rows, "cols": cols,
                "col_width": _byte_width(storage.bits_for(cols), label),
                "row_width": _byte_width(storage.bits_for(cols + 1), label), "lanes": 1}
    if fmt == "sparse24":
        return {"n": 2, "m": 4, "rows": rows, "cols": cols, "padded_cols": -(-cols // 4) * 4,
                "meta_word_bits": 32, "nm_tail": NM_TAIL_RULE}
    axis = _check_int(axis, label, "zfnaf channel axis")
    brick = _check_int(brick, label, "zfnaf brick")
    if not shape:
        raise ValueError(f"{label}: zfnaf needs a tensor with at least one axis (the channel "
                         f"axis), not a scalar")
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"{label}: zfnaf channel axis {axis} is out of range for shape {list(shape)}")
    try:
        zfnaf.offset_bits(brick)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label}: {exc}") from None
    return {"axis": axis, "brick": brick}


def array_dtypes(fmt: str, dtype) -> dict:
    """``{array name: numpy dtype}`` of a format's arrays for value dtype ``dtype``."""
    dtype = np.dtype(dtype)
    u64, i64 = np.dtype(np.uint64), np.dtype(np.int64)
    return {"dense": {"q": dtype},
            "rlc": {"words": u64},
            "csr": {"row_ptr": i64, "col_idx": i64, "values": dtype, "row_stream": u64,
                    "nz_stream": u64},
            "sparse24": {"values": dtype, "meta": np.dtype(np.uint8), "meta_words": u64},
            "zfnaf": {"values": dtype, "offsets": np.dtype(np.uint8), "counts": np.dtype(np.uint16),
                      "entries": u64}}[fmt]


def encode(q: np.ndarray, fmt: str, bits: int, *, axis: int = -1, brick: int = 16, name=None):
    """Encode integer ``q`` as ``fmt``; returns ``(arrays, widths, signed, params)``.

    ``widths``/``signed`` give each array's hex word width and signedness.
    Raises ``ValueError`` naming the layer when the format cannot hold ``q``.
    """
    label = layer_label(name)
    params = format_params(fmt, q.shape, bits, axis=axis, brick=brick, name=name)
    mat = storage.as_matrix(q)
    if fmt == "dense":
        return {"q": q}, {"q": bits}, {"q": True}, params
    if fmt == "rlc":
        words = rlc.encode(mat.reshape(-1).astype(np.int64))
        return {"words": words}, {"words": 64}, {"words": False}, params
    if fmt == "csr":
        c = gcsr.from_dense(mat)
        colw, roww = params["col_width"], params["row_width"]
        try:
            st = gcsr.to_streams(c, value_width=bits, col_width=colw, row_width=roww, lanes=1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{label}: cannot build the CSR streams ({exc})") from None
        vf, cf = gcsr.nz_field_widths(bits, colw)
        arrays = {"row_ptr": c.row_ptr.astype(np.int64), "col_idx": c.col_idx.astype(np.int64),
                  "values": c.values.astype(q.dtype),
                  "row_stream": np.array(st.rows, dtype=np.uint64),
                  "nz_stream": np.array(st.nz, dtype=np.uint64)}
        widths = {"row_ptr": storage.bits_for(c.nnz + 1), "col_idx": storage.bits_for(mat.shape[1]),
                  "values": bits, "row_stream": roww, "nz_stream": vf + cf}
        signed = {"row_ptr": False, "col_idx": False, "values": True,
                  "row_stream": False, "nz_stream": False}
        return arrays, widths, signed, params
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
                {"values": True, "meta": False, "meta_words": False}, params)
    enc = zfnaf.encode(q, axis=params["axis"], brick=params["brick"])
    ob = zfnaf.offset_bits(params["brick"])
    entries = (enc["offsets"].astype(np.uint64) << np.uint64(bits)) | (
        enc["values"].astype(np.int64).view(np.uint64) & np.uint64((1 << bits) - 1))
    return ({**enc, "entries": entries},
            {"values": bits, "offsets": ob, "counts": zfnaf.count_bits(params["brick"]),
             "entries": bits + ob},
            {"values": True, "offsets": False, "counts": False, "entries": False}, params)


def decode(arrays: dict, fmt: str, shape, params: dict, bits: int) -> np.ndarray:
    """Rebuild the integer tensor with the golden decoders (which validate the arrays).

    ``params`` must be :func:`format_params` of ``shape`` (the loader checks
    that first).  Returns int64: the caller checks the range against ``bits``
    before narrowing, so an out-of-range value is refused, never wrapped.
    """
    shape = tuple(shape)
    check_sizes(fmt, shape, params, arrays)
    mshape = matrix_shape(shape)
    if fmt == "dense":
        return np.asarray(arrays["q"]).astype(np.int64)
    if fmt == "rlc":
        return rlc.decode(arrays["words"], int(params["n"]), signed=True).astype(np.int64).reshape(shape)
    if fmt == "csr":
        c = gcsr.CSR(arrays["row_ptr"], arrays["col_idx"], arrays["values"], mshape)
        gcsr.validate(c, sorted_cols=True)
        return gcsr.to_dense(c).astype(np.int64).reshape(shape)
    if fmt == "sparse24":
        pshape = (mshape[0], int(params["padded_cols"]))
        sparse24.validate(arrays["values"], arrays["meta"], pshape)
        unpacked = sparse24.unpack_meta(arrays["meta_words"], pshape, word_bits=32)
        if not np.array_equal(unpacked, arrays["meta"]):
            raise ValueError("meta_words do not pack meta")
        dense = sparse24.decompress(arrays["values"], arrays["meta"], pshape)
        if dense[:, mshape[1]:].any():
            raise ValueError("padding columns hold non-zeros")
        return dense[:, :mshape[1]].astype(np.int64).reshape(shape)
    enc = {k: arrays[k] for k in ("values", "offsets", "counts")}
    return zfnaf.decode(enc, shape, axis=params["axis"], brick=params["brick"]).astype(np.int64)
