"""The export formats: one object per format, in one registry (:data:`REGISTRY`).

Each :class:`Format` holds everything about its format: the options it takes,
the parameters an export records, its arrays' dtypes, encode and decode (with
the golden models), the arithmetic size checks a loader runs before decoding,
its exact storage bits, and the hardware block that reads its streams (if any;
:mod:`pruning.targets` knows the block's parameters).  The writer
(:mod:`pruning.export`) and the checking loader (:mod:`pruning.loader`) both
go through :func:`get_format`, so adding a format is one class and one entry.

The layer is viewed as a matrix ``(rows, cols)`` (:func:`pruning.storage.as_matrix`;
conv weights as ``(K, C*R*S)``), except ``dense`` which keeps the shape and
``zfnaf`` which works on the tensor with its channel ``axis``.  NumPy only.
"""
from __future__ import annotations

import math
import re

import numpy as np

from golden import csr as gcsr
from golden import rlc, sparse24, zfnaf
from golden.bits import byte_width

from . import storage
from ._checks import layer_label
from .masks import NM_TAIL_RULE

__all__ = ["Format", "REGISTRY", "FORMATS", "get_format", "SCHEMA", "VERSION", "HEX_LAYOUT",
           "RLC_ORDER", "file_base", "matrix_shape", "encode"]

SCHEMA = "sparse-dnn-hwkit/pruning-export"
# 3: every manifest records the hardware its streams were packed for ("hardware"), and
# CSR records its packing (value_width, col_width, row_width, lanes); older exports must
# be exported again.  4: sparse24 carries the sparse_mac beats (w_stream) and the build's
# groups/width; zfnaf may be packed for cnv_unit.
VERSION = 4
HEX_LAYOUT = ("$readmemh: one word per line, ceil(width_bits/4) hex digits, signed values in "
              "two's complement of width_bits, arrays flattened in C order")
RLC_ORDER = "row-major over (rows, cols)"

_U64, _I64 = np.dtype(np.uint64), np.dtype(np.int64)


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


def _check_int(v, label: str, what: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"{label}: {what} must be an integer, not {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{label}: {what} must be an integer in [{lo}, {hi}], not {v}")
    return int(v)


def _size(arrays, key) -> int:
    return int(np.asarray(arrays[key]).size)


def to_words(values, width: int) -> np.ndarray:
    """Unsigned words of ``width`` bits as uint64: 1-D for ``width <= 64``, else one row
    of ``ceil(width / 64)`` little-endian 64-bit limbs per word (what
    :func:`pruning.fileio.to_hex_lines` writes as one wide hex line)."""
    limbs = -(-width // 64)
    if limbs == 1:
        return np.array([int(v) for v in values], dtype=np.uint64)
    mask = (1 << 64) - 1
    return np.array([[(int(v) >> (64 * k)) & mask for k in range(limbs)] for v in values],
                    dtype=np.uint64).reshape(-1, limbs)


class Format:
    """One export format.  Subclasses set the class attributes and the methods.

    ``name`` is the format name; ``block`` the registry name of the hardware block
    that reads its streams (:mod:`hw.blocks`), or ``None``; ``options`` the options
    :meth:`params` accepts (others are refused); ``arrays`` the array names.
    """
    name = ""
    block: str | None = None
    # True: an export made without a target records ``hardware: null`` (storage only);
    # with ``--target`` it is packed for that build (zfnaf: bricks wider than a block's).
    hardware_optional = False
    options: tuple = ()
    arrays: tuple = ()
    doc = ""

    def params(self, shape, bits: int, options: dict, label: str) -> dict:
        """The ``format_params`` an export of a tensor of ``shape`` records (plain JSON);
        ``ValueError`` naming the layer when the format cannot hold the shape."""
        return {}

    def dtypes(self, dtype) -> dict:
        """``{array name: numpy dtype}`` for value dtype ``dtype``."""
        raise NotImplementedError

    def check_sizes(self, shape, params: dict, arrays: dict) -> None:
        """``ValueError`` unless ``arrays`` can hold a tensor of ``shape``; arithmetic only,
        run before any decoder allocates the dense tensor (an inflated manifest shape
        is refused instead of raising ``MemoryError``)."""

    def encode(self, q: np.ndarray, bits: int, params: dict, label: str):
        """``(arrays, widths, signed)``: the arrays and each one's hex width and sign."""
        raise NotImplementedError

    def decode(self, arrays: dict, shape, params: dict, bits: int) -> np.ndarray:
        """The int64 tensor, rebuilt with the golden decoders (which validate)."""
        raise NotImplementedError

    def storage_bits(self, q: np.ndarray, bits: int, params: dict) -> int:
        """Exact storage of ``q`` in this format (:mod:`pruning.storage`)."""
        return int(storage.storage_bits(q, bits)[self.name])

    def packing(self, hw_params: dict) -> dict:
        """The options of :meth:`params` that the hardware's parameters fix."""
        return {}


class Dense(Format):
    name, arrays = "dense", ("q",)
    doc = "q, the quantised tensor in its own shape"

    def dtypes(self, dtype):
        return {"q": np.dtype(dtype)}

    def check_sizes(self, shape, params, arrays):
        if tuple(np.shape(arrays["q"])) != tuple(shape):
            raise ValueError(f"array 'q' has shape {list(np.shape(arrays['q']))}, not the layer "
                             f"shape {list(shape)}")

    def encode(self, q, bits, params, label):
        return {"q": q}, {"q": bits}, {"q": True}

    def decode(self, arrays, shape, params, bits):
        return np.asarray(arrays["q"]).astype(np.int64)


class RLC(Format):
    name, block, arrays = "rlc", "rlc_decoder", ("words",)
    doc = "words (uint64, golden.rlc) over the row-major flattening"

    def params(self, shape, bits, options, label):
        return {"n": math.prod(int(s) for s in shape), "order": RLC_ORDER}

    def dtypes(self, dtype):
        return {"words": _U64}

    def check_sizes(self, shape, params, arrays):
        # a word's pairs cover at most MAX_RUN + 1 values each; up to MAX_RUN trailing
        # zeros stay implicit: an upper bound
        n = math.prod(int(s) for s in shape)
        most = _size(arrays, "words") * rlc.PAIRS_PER_WORD * (rlc.MAX_RUN + 1) + rlc.MAX_RUN
        if n > most:
            raise ValueError(f"{_size(arrays, 'words')} RLC words hold at most {most} values, "
                             f"not the {n} of shape {list(shape)}")

    def encode(self, q, bits, params, label):
        words = rlc.encode(storage.as_matrix(q).reshape(-1).astype(np.int64))
        return {"words": words}, {"words": 64}, {"words": False}

    def decode(self, arrays, shape, params, bits):
        return rlc.decode(arrays["words"], int(params["n"]), signed=True).astype(
            np.int64).reshape(tuple(shape))


class CSR(Format):
    """CSR arrays plus the csr_spmv stream words of :func:`golden.csr.to_streams`, packed
    with ``value_width``, ``col_width``, ``row_width`` and ``lanes`` (the hardware's)."""
    name, block = "csr", "csr_spmv"
    options = ("value_width", "col_width", "row_width", "lanes")
    arrays = ("row_ptr", "col_idx", "values", "row_stream", "nz_stream")
    doc = ("row_ptr, col_idx, values (golden.csr) and the stream words row_stream and "
           "nz_stream (golden.csr.to_streams with the hardware's widths and lanes)")

    def params(self, shape, bits, options, label):
        rows, cols = matrix_shape(shape)
        # Without options, the narrowest packing that holds the layer.
        vw = _check_int(options.get("value_width", bits), label, "csr value_width", 1, 32)
        cw = options.get("col_width", byte_width(storage.bits_for(cols)))
        rw = options.get("row_width", byte_width(storage.bits_for(cols + 1)))
        for what, w in (("col_width", cw), ("row_width", rw)):
            if isinstance(w, bool) or w not in (8, 16, 24, 32) or not isinstance(w, (int, np.integer)):
                raise ValueError(f"{label}: csr {what} must be 8, 16, 24 or 32, not {w!r}")
        lanes = _check_int(options.get("lanes", 1), label, "csr lanes", 1, 16)
        if cols > 1 << cw:
            raise ValueError(f"{label}: {cols} columns do not fit a {cw}-bit column index "
                             f"(col_width {cw} holds at most {1 << cw})")
        if cols >= 1 << rw:
            raise ValueError(f"{label}: a row of {cols} non-zeros does not fit a {rw}-bit row "
                             f"length (row_width {rw})")
        return {"rows": rows, "cols": cols, "value_width": vw, "col_width": int(cw),
                "row_width": int(rw), "lanes": lanes}

    def packing(self, hw_params):
        return {k: hw_params[k] for k in self.options}

    def dtypes(self, dtype):
        return {"row_ptr": _I64, "col_idx": _I64, "values": np.dtype(dtype), "row_stream": _U64,
                "nz_stream": _U64}

    def check_sizes(self, shape, params, arrays):
        rows = matrix_shape(shape)[0]
        if _size(arrays, "row_ptr") != rows + 1:
            raise ValueError(f"row_ptr has {_size(arrays, 'row_ptr')} entries, not {rows + 1} "
                             f"for {rows} rows (shape {list(shape)})")

    def encode(self, q, bits, params, label):
        mat = storage.as_matrix(q)
        c = gcsr.from_dense(mat)
        p = {k: params[k] for k in self.options}
        try:
            st = gcsr.to_streams(c, **p)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{label}: cannot build the CSR streams ({exc})") from None
        vf, cf = gcsr.nz_field_widths(p["value_width"], p["col_width"])
        beat = p["lanes"] * (vf + cf)
        arrays = {"row_ptr": c.row_ptr.astype(np.int64), "col_idx": c.col_idx.astype(np.int64),
                  "values": c.values.astype(q.dtype),
                  "row_stream": np.array(st.rows, dtype=np.uint64),
                  "nz_stream": to_words(st.nz, beat)}
        widths = {"row_ptr": storage.bits_for(c.nnz + 1), "col_idx": storage.bits_for(mat.shape[1]),
                  "values": bits, "row_stream": p["row_width"], "nz_stream": beat}
        signed = {"row_ptr": False, "col_idx": False, "values": True,
                  "row_stream": False, "nz_stream": False}
        return arrays, widths, signed

    def decode(self, arrays, shape, params, bits):
        c = gcsr.CSR(arrays["row_ptr"], arrays["col_idx"], arrays["values"], matrix_shape(shape))
        gcsr.validate(c, sorted_cols=True)
        return gcsr.to_dense(c).astype(np.int64).reshape(tuple(shape))


class Sparse24(Format):
    """2:4 values and metadata (:mod:`golden.sparse24`) plus the ``sparse_mac`` weight
    beats of :func:`golden.nm_mac.pack_sparse`, one frame (dot product) per row, packed
    for the build's ``groups`` and ``width`` (the hardware's)."""
    name, block = "sparse24", "sparse_mac"
    options = ("groups", "width")
    arrays = ("values", "meta", "meta_words", "w_stream")
    doc = ("values, meta and packed 32-bit meta_words (golden.sparse24); columns zero-padded "
           "to a multiple of 4; w_stream, the sparse_mac w beats of every row "
           "(golden.nm_mac.pack_sparse with the build's groups and width)")

    def params(self, shape, bits, options, label):
        rows, cols = matrix_shape(shape)
        groups = _check_int(options.get("groups", 4), label, "sparse24 groups", 1, 32)
        width = options.get("width", max(8, bits))
        if isinstance(width, bool) or width not in (8, 16):
            raise ValueError(f"{label}: sparse24 width must be 8 or 16, not {width!r}")
        if groups & (groups - 1):
            raise ValueError(f"{label}: sparse24 groups must be a power of two, not {groups}")
        padded = -(-cols // 4) * 4
        return {"n": 2, "m": 4, "rows": rows, "cols": cols, "padded_cols": padded,
                "meta_word_bits": 32, "nm_tail": NM_TAIL_RULE, "groups": groups,
                "width": int(width), "beats_per_row": max(1, -(-(padded // 4) // groups))}

    def packing(self, hw_params):
        return {k: hw_params[k] for k in self.options}

    def dtypes(self, dtype):
        return {"values": np.dtype(dtype), "meta": np.dtype(np.uint8), "meta_words": _U64,
                "w_stream": _U64}

    def check_sizes(self, shape, params, arrays):
        want = matrix_shape(shape)[0] * (int(params["padded_cols"]) // 2)
        if _size(arrays, "values") != want or _size(arrays, "meta") != want:
            raise ValueError(f"sparse24 values/meta have {_size(arrays, 'values')}/"
                             f"{_size(arrays, 'meta')} entries, not {want} for shape {list(shape)}")

    def encode(self, q, bits, params, label):
        from golden.nm_mac import NMConfig, pack_sparse
        padded = storage.pad_cols(storage.as_matrix(q), 4)
        try:
            values, meta = sparse24.compress(padded)
        except ValueError as exc:
            raise ValueError(f"{label}: not 2:4 sparse, cannot export as sparse24 ({exc}); "
                             f"prune with nm='2:4' first") from None
        words = sparse24.pack_meta(meta, word_bits=32)
        cfg = NMConfig(groups=params["groups"], width=params["width"])
        try:
            beats = [b for r in range(values.shape[0])
                     for b in pack_sparse(values[r], words[r], cfg, word_bits=32)]
        except ValueError as exc:
            raise ValueError(f"{label}: cannot pack the sparse_mac beats ({exc})") from None
        return ({"values": values, "meta": meta, "meta_words": words,
                 "w_stream": to_words(beats, cfg.w_width)},
                {"values": bits, "meta": 2, "meta_words": 32, "w_stream": cfg.w_width},
                {"values": True, "meta": False, "meta_words": False, "w_stream": False})

    def decode(self, arrays, shape, params, bits):
        rows, cols = matrix_shape(shape)
        pshape = (rows, int(params["padded_cols"]))
        sparse24.validate(arrays["values"], arrays["meta"], pshape)
        unpacked = sparse24.unpack_meta(arrays["meta_words"], pshape, word_bits=32)
        if not np.array_equal(unpacked, arrays["meta"]):
            raise ValueError("meta_words do not pack meta")
        dense = sparse24.decompress(arrays["values"], arrays["meta"], pshape)
        if dense[:, cols:].any():
            raise ValueError("padding columns hold non-zeros")
        return dense[:, :cols].astype(np.int64).reshape(tuple(shape))


class ZFNAf(Format):
    """Cnvlutin bricks on the tensor itself, along its channel ``axis`` (recorded as
    given) in bricks of ``brick`` values (a power of two in [2, 256]).  Read by
    ``cnv_unit`` (one window per position, ``K`` = the channel axis; the ``entries`` are
    the low bits of its lane words, :func:`golden.cnv.streams_from_zfnaf`) when exported
    with a target; its ``brick`` is then the build's."""
    name, options, block, hardware_optional = "zfnaf", ("axis", "brick"), "cnv_unit", True
    arrays = ("values", "offsets", "counts", "entries")
    doc = ("Cnvlutin bricks (golden.zfnaf) values, offsets, counts (uint16) and packed "
           "entries {offset, value}; channel axis and brick recorded")

    def params(self, shape, bits, options, label):
        shape = tuple(int(s) for s in shape)
        axis = _check_int(options.get("axis", -1), label, "zfnaf channel axis")
        brick = _check_int(options.get("brick", 16), label, "zfnaf brick")
        if not shape:
            raise ValueError(f"{label}: zfnaf needs a tensor with at least one axis (the "
                             f"channel axis), not a scalar")
        if not -len(shape) <= axis < len(shape):
            raise ValueError(f"{label}: zfnaf channel axis {axis} is out of range for shape "
                             f"{list(shape)}")
        try:
            zfnaf.offset_bits(brick)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{label}: {exc}") from None
        return {"axis": axis, "brick": brick}

    def packing(self, hw_params):
        return {"brick": hw_params["brick"]}

    def dtypes(self, dtype):
        return {"values": np.dtype(dtype), "offsets": np.dtype(np.uint8),
                "counts": np.dtype(np.uint16), "entries": _U64}

    def check_sizes(self, shape, params, arrays):
        shape = tuple(int(s) for s in shape)
        brick, ax = int(params["brick"]), int(params["axis"]) % len(shape)
        bricks = (math.prod(shape) // shape[ax]) * -(-shape[ax] // brick)
        if _size(arrays, "counts") != bricks:
            raise ValueError(f"zfnaf counts has {_size(arrays, 'counts')} entries, not {bricks} "
                             f"bricks for shape {list(shape)}")

    def encode(self, q, bits, params, label):
        enc = zfnaf.encode(q, axis=params["axis"], brick=params["brick"])
        ob = zfnaf.offset_bits(params["brick"])
        entries = (enc["offsets"].astype(np.uint64) << np.uint64(bits)) | (
            enc["values"].astype(np.int64).view(np.uint64) & np.uint64((1 << bits) - 1))
        return ({**enc, "entries": entries},
                {"values": bits, "offsets": ob, "counts": zfnaf.count_bits(params["brick"]),
                 "entries": bits + ob},
                {"values": True, "offsets": False, "counts": False, "entries": False})

    def decode(self, arrays, shape, params, bits):
        enc = {k: arrays[k] for k in ("values", "offsets", "counts")}
        return zfnaf.decode(enc, tuple(shape), axis=params["axis"],
                            brick=params["brick"]).astype(np.int64)

    def storage_bits(self, q, bits, params):
        return int(zfnaf.storage_bits(q.shape, int(np.count_nonzero(q)), bits,
                                      axis=params["axis"], brick=params["brick"]))


REGISTRY = {f.name: f for f in (Dense(), RLC(), CSR(), Sparse24(), ZFNAf())}
FORMATS = tuple(REGISTRY)


def get_format(name, label: str = "weights") -> Format:
    """The :class:`Format` called ``name``; ``ValueError`` listing the formats otherwise."""
    fmt = REGISTRY.get(name) if isinstance(name, str) else None
    if fmt is None:
        raise ValueError(f"{label}: unknown export format {name!r}; choose from "
                         f"{', '.join(FORMATS)}")
    return fmt


def encode(q: np.ndarray, fmt: str, bits: int, *, name=None, **options):
    """Encode integer ``q`` as ``fmt`` with ``options``; returns ``(arrays, widths, signed,
    params)``.  Raises ``ValueError`` naming the layer when the format cannot hold ``q``."""
    label = layer_label(name)
    f = get_format(fmt, label)
    unknown = sorted(set(options) - set(f.options))
    if unknown:
        raise ValueError(f"{label}: format {fmt} takes no option(s) {unknown}; it takes "
                         f"{', '.join(f.options) or 'none'}")
    params = f.params(q.shape, bits, options, label)
    return (*f.encode(q, bits, params, label), params)
