"""Export pruned, quantised layers into the ``golden/`` formats, and load them back.

One export of layer ``L`` in format ``F`` writes, into one directory:

* ``<L>.npz`` -- every array of the format (plain dtypes, no pickles);
* ``<L>.<array>.hex`` -- each array for ``$readmemh``: one word per line,
  ``ceil(width/4)`` hex digits, signed values in two's complement of
  ``width`` bits, multi-dimensional arrays flattened in C order;
* ``<L>.json`` -- the manifest: layer, format, format parameters, the
  hardware the streams were packed for (``"hardware": {"block": <hw.blocks
  name>, "params": {every constructor parameter}}``, ``null`` for a format
  without a block; :mod:`pruning.targets`), source, recipe, shape, dtype,
  bits, quantisation scale, requested and achieved sparsity, nnz, exact
  storage bits, every array's dtype/shape/width and the SHA-256 of every
  file.  Written last.

Formats (one :class:`pruning.formats.Format` each, in
:data:`pruning.formats.REGISTRY`; the layer is viewed as a matrix ``(rows,
cols)``, conv weights as ``(K, C*R*S)``, except ``dense`` which keeps the
shape and ``zfnaf`` which keeps the tensor):

* ``dense``: ``q``.
* ``rlc``: ``words`` (uint64, :mod:`golden.rlc`) over the row-major
  flattening; read by ``rlc_decoder``.
* ``csr``: ``row_ptr``, ``col_idx``, ``values`` (:mod:`golden.csr`) plus the
  stream words ``row_stream`` and ``nz_stream`` of
  :func:`golden.csr.to_streams`, packed with the target ``csr_spmv`` build's
  ``value_width``, ``col_width``, ``row_width`` and ``lanes`` (beats wider
  than 64 bits are stored as uint64 limbs, one hex line per beat).
* ``sparse24``: ``values``, ``meta`` and packed ``meta_words`` (32-bit,
  :mod:`golden.sparse24`); columns are zero-padded to a multiple of 4 and
  the manifest records ``cols``, ``padded_cols`` and the N:M tail rule; plus
  ``w_stream``, the ``sparse_mac`` weight beats of every row
  (:func:`golden.nm_mac.pack_sparse` with the target build's ``groups`` and
  ``width``, ``beats_per_row`` recorded).
* ``zfnaf``: Cnvlutin bricks (:mod:`golden.zfnaf`) ``values``, ``offsets``,
  ``counts`` (uint16) and packed ``entries`` ``{offset, value}``; meant for
  activations (channel ``axis`` and ``brick``, a power of two up to 256,
  recorded), works for any tensor.  Packed for ``cnv_unit`` (its ``brick``)
  only with ``target="cnv_unit"``; otherwise ``hardware`` is ``null``.

:func:`load_export` lives in :mod:`pruning.loader` and is re-exported here.

File names use the layer name with every character outside
``[A-Za-z0-9._-]`` replaced by ``_``.  Two layers whose names map to the
same files (``fc/1`` and ``fc_1``, or names differing only in case, which
collide on case-insensitive file systems) are refused with ``ValueError``
naming both, as is an export whose files would overwrite another layer's
export already in the directory.

A caller-built :class:`~pruning.quant.Quantized` is checked first
(:func:`pruning.quant.check_quantized`).  Every export is decoded again
with the golden decoder before anything is written.  Writing is
all-or-nothing (:func:`pruning.fileio.write_files_atomically`): all files
are staged next to the target and moved in only when every one is
written, manifests last; a failure restores the previous content.
:func:`export_layers` does the same for many layers at once: every
layer's complete file set is prepared in memory first, so one bad layer
writes nothing at all.

:func:`load_export` refuses pickles and checks everything: the manifest's
schema (every field's type), bits against dtype, the quantisation block
(finite positive scales of the right shape), the format parameters
against the shape, the exact set of files and their SHA-256, every
array's dtype, shape, value range and hex width against the format, each
hex file against its array (no masking: a value wider than its declared
width is refused), the decoded tensor against the shape and the
symmetric ``bits`` range (no silent wrap), a re-encoding against the
stored arrays (so stream words, metadata and entries must be the
canonical ones), nnz, sparsity and storage bits recomputed, and the
``hardware`` record (block of the format, all its parameters valid, the
recorded packing theirs, the weights fitting the build).  Every
problem is a ``ValueError`` naming the layer and the file.
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import storage
from ._checks import check_weights, layer_label
from .fileio import npz_bytes, sha256, to_hex_lines, write_files_atomically
from .formats import FORMATS, HEX_LAYOUT, SCHEMA, VERSION, encode, file_base, get_format
from .loader import load_export
from .quant import Quantized, check_quantized, quantize

__all__ = ["FORMATS", "export_layer", "export_layers", "prepare_layer", "load_export", "encode",
           "file_base", "SCHEMA"]


def _requested(value, label):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction, np.integer, np.floating)):
        raise ValueError(f"{label}: requested sparsity must be a number in [0, 1] or None, not {value!r}")
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{label}: requested sparsity must be in [0, 1], not {v}")
    return v


def prepare_layer(name, weight, *, fmt: str, bits: int = 8, per: str = "tensor",
                  recipe: dict | None = None, source: str | None = None, requested_sparsity=None,
                  axis: int = -1, brick: int = 16, hex_ext: str = ".hex", target: str | None = None,
                  target_params: dict | None = None) -> tuple[dict, dict]:
    """Everything :func:`export_layer` would write, in memory, nothing written.

    Returns ``(files, manifest)``: ``files`` maps file name to bytes, the
    manifest ``<base>.json`` last.  Same parameters and checks as
    :func:`export_layer`.
    """
    label = layer_label(name)
    f = get_format(fmt, label)
    if hex_ext not in (".hex", ".mem"):
        raise ValueError(f"{label}: hex extension must be '.hex' or '.mem', not {hex_ext!r}")
    if source is not None and not isinstance(source, str):
        raise ValueError(f"{label}: source must be a string or None, not {type(source).__name__}")
    if recipe is not None and not isinstance(recipe, dict):
        raise ValueError(f"{label}: recipe must be a dict or None, not {type(recipe).__name__}")
    requested = _requested(requested_sparsity, label)
    if isinstance(weight, Quantized):
        qz = check_quantized(weight, name)
    else:
        qz = check_quantized(quantize(check_weights(weight, name), bits=bits, per=per, name=name), name)
    q = qz.q
    hardware = None
    if f.block is not None or target is not None or target_params:
        from .targets import resolve   # imports hw: only for formats with a block
        hardware = resolve(f, q, qz.bits, target, target_params, label,
                           axis if "axis" in f.options else -1)
    options = {k: v for k, v in {"axis": axis, "brick": brick}.items() if k in f.options}
    if hardware is not None:
        packing = f.packing(hardware["params"])
        clash = {k: (options[k], v) for k, v in packing.items() if k in options and options[k] != v}
        if clash:
            raise ValueError(f"{label}: " + "; ".join(
                f"{k} {a} differs from the {hardware['block']} build's {k} {b} (pass "
                f"--param {k}={a}, or {k}={b} to the export)" for k, (a, b) in clash.items()))
        options.update(packing)
    params = f.params(q.shape, qz.bits, options, label)
    arrays, widths, signed = f.encode(q, qz.bits, params, label)
    f.check_sizes(q.shape, params, arrays)
    if not np.array_equal(f.decode(arrays, q.shape, params, qz.bits), q):
        raise ValueError(f"{label}: {fmt} encoding does not decode back to the layer")
    nnz = int(np.count_nonzero(q))
    base = _base_of(name)
    files, arr_meta = {}, {}
    for key, arr in arrays.items():
        hname = f"{base}.{key}{hex_ext}"
        files[hname] = to_hex_lines(arr, widths[key])
        arr_meta[key] = {"dtype": str(arr.dtype), "shape": list(arr.shape),
                         "width_bits": int(widths[key]), "signed": bool(signed[key]), "hex": hname}
    files[f"{base}.npz"] = npz_bytes(arrays)
    manifest = {
        "schema": SCHEMA, "version": VERSION, "layer": str(name), "format": fmt,
        "format_params": params, "hardware": hardware, "source": source, "recipe": recipe,
        "shape": list(q.shape), "dtype": str(q.dtype), "bits": int(qz.bits),
        "quant": {"per": qz.per, "scale": np.asarray(qz.scale, dtype=np.float64).reshape(-1).tolist(),
                  "scale_shape": list(np.shape(qz.scale)), "symmetric": True,
                  "rounding": "half-even", "extra_zeros": int(qz.extra_zeros)},
        "requested_sparsity": requested,
        "sparsity": float(1.0 - nnz / q.size), "nnz": nnz,
        "storage_bits": f.storage_bits(q, qz.bits, params),
        "storage_bits_all": storage.storage_bits(q, qz.bits),
        "hex_layout": HEX_LAYOUT, "arrays": arr_meta, "npz": f"{base}.npz",
        "files": {k: sha256(v) for k, v in files.items()},
    }
    try:
        text = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label}: the manifest is not plain JSON (check the recipe: {exc})") from None
    files[f"{base}.json"] = (text + "\n").encode()
    return files, manifest


# The longest suffix an export adds to the file base (".row_stream.hex" and
# friends) with room to spare; most file systems cap a name at 255 bytes.
_MAX_BASE_BYTES = 255 - 24


def _base_of(name) -> str:
    base = file_base(name)
    if len(base.encode()) > _MAX_BASE_BYTES:
        raise ValueError(f"layer {str(name)[:40]!r}... (truncated): layer name is too long "
                         f"for a file name ({len(base)} characters, at most {_MAX_BASE_BYTES}); rename the layer")
    return base


def _check_names(names) -> dict:
    """``{name: file base}``; ``ValueError`` naming both layers when two share files."""
    seen, bases = {}, {}
    for name in names:
        base = _base_of(name)
        key = base.casefold()  # "FC" and "fc" collide on macOS/Windows file systems
        if key in seen:
            raise ValueError(f"layers {seen[key]!r} and {name!r} would both be written as "
                             f"{base}.* (names are sanitised to [A-Za-z0-9._-] and compared "
                             f"case-insensitively); rename one of them or export them separately")
        seen[key] = name
        bases[name] = base
    return bases


def _check_target(out_dir, bases: dict) -> None:
    """Refuse to overwrite the export of a *different* layer that shares a file base."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output directory {out} exists and is not a directory")
    if not out.is_dir():
        return
    existing = {p.name.casefold(): p for p in out.glob("*.json")}
    for name, base in bases.items():
        p = existing.get(f"{base}.json".casefold())
        if p is None:
            continue
        try:
            other = json.loads(p.read_text()).get("layer")
        except (OSError, ValueError, AttributeError):
            continue  # not one of our manifests: it is simply replaced
        if isinstance(other, str) and other != str(name):
            raise ValueError(f"layer {name!r}: its files {base}.* would overwrite the export of "
                             f"layer {other!r} in {out}; rename one of them or export to another "
                             f"directory")


def _stale_files(out_dir, bases: dict, new_names) -> list:
    """Files listed by the existing manifest of a layer being re-exported that the
    new export does not write (another format or hex extension): removed in the
    same all-or-nothing step so no stale files are left beside the new ones.

    Only files of the same layer's manifest and named ``<base>.*`` are removed
    (a tampered manifest cannot delete anything else); a name equal to a new
    one up to case is kept (on a case-insensitive file system it *is* the new file).
    """
    out = Path(out_dir)
    if not out.is_dir():
        return []
    new_folded = {n.casefold() for n in new_names}
    existing = {p.name.casefold(): p for p in out.glob("*.json")}
    stale = []
    for name, base in bases.items():
        p = existing.get(f"{base}.json".casefold())
        if p is None:
            continue
        try:
            man = json.loads(p.read_text())
            listed = man.get("files") if man.get("layer") == str(name) else None
        except (OSError, ValueError, AttributeError):
            continue
        if not isinstance(listed, dict):
            continue
        prefix = f"{base}.".casefold()
        for f in listed:
            if (isinstance(f, str) and Path(f).name == f and "/" not in f and "\\" not in f
                    and f.casefold().startswith(prefix) and f.casefold() not in new_folded
                    and (out / f).is_file()):
                stale.append(f)
    return stale


def export_layers(out_dir, weights: dict, *, fmt: str, bits: int = 8, per: str = "tensor",
                  recipe: dict | None = None, source: str | None = None, requested=None,
                  axis: int = -1, brick: int = 16, hex_ext: str = ".hex", target: str | None = None,
                  target_params: dict | None = None, progress=None) -> dict:
    """Export several layers ``{name: weight or Quantized}`` into ``out_dir``: all or nothing.

    Every layer's complete file set is quantised, encoded, verified and
    rendered in memory first; only when all layers succeeded is anything
    written, through one staged all-or-nothing write (data files first,
    manifests last).  A bad layer raises ``ValueError`` naming it and leaves
    ``out_dir`` untouched.  ``requested`` maps layer name to its requested
    sparsity (missing names record ``None``); ``progress`` an optional
    :class:`pruning.progress.Progress`.  Returns ``{name: manifest}``.
    """
    if not weights:
        raise ValueError("nothing to export: no layers given")
    bases = _check_names(weights)
    _check_target(out_dir, bases)
    requested = requested or {}
    data, manifests, mans = {}, {}, {}
    for name, w in weights.items():
        files, man = prepare_layer(name, w, fmt=fmt, bits=bits, per=per, recipe=recipe,
                                   source=source, requested_sparsity=requested.get(name),
                                   axis=axis, brick=brick, hex_ext=hex_ext, target=target,
                                   target_params=target_params)
        mname = f"{bases[name]}.json"
        manifests[mname] = files.pop(mname)
        data.update(files)
        mans[name] = man
        if progress is not None:
            progress.update(note=str(name))
    files = {**data, **manifests}
    write_files_atomically(out_dir, files, remove=_stale_files(out_dir, bases, files))
    return mans


def export_layer(out_dir, name, weight, *, fmt: str, bits: int = 8, per: str = "tensor",
                 recipe: dict | None = None, source: str | None = None, requested_sparsity=None,
                 axis: int = -1, brick: int = 16, hex_ext: str = ".hex", target: str | None = None,
                 target_params: dict | None = None) -> dict:
    """Quantise (unless ``weight`` is a :class:`Quantized`), encode, verify, write.

    Parameters: ``out_dir`` the target directory; ``name`` the layer name
    (file names use it with unsafe characters replaced, see the module
    docstring); ``fmt`` one of :data:`FORMATS`; ``bits``/``per`` the
    quantisation (8 or 16; ``"tensor"``, or ``"row"`` for weights with >= 2
    axes), ignored for a :class:`Quantized`, which is checked instead;
    ``recipe`` the pruning recipe (JSON); ``source`` where the weights came
    from; ``requested_sparsity`` for the record; ``axis`` (the channel axis,
    an integer) and ``brick`` (a power of two in [2, 256]) for zfnaf;
    ``hex_ext`` ``.hex`` or ``.mem``; ``target`` the hardware block to pack the
    streams for (the format's block, e.g. ``csr_spmv``) and ``target_params`` its
    parameters (:mod:`pruning.targets`; without a target, the block's default build
    widened where the layer needs it).  Returns the manifest.  Nothing is
    written unless every step succeeds, and the write is all-or-nothing.
    """
    bases = _check_names([name])
    files, manifest = prepare_layer(name, weight, fmt=fmt, bits=bits, per=per, recipe=recipe,
                                    source=source, requested_sparsity=requested_sparsity,
                                    axis=axis, brick=brick, hex_ext=hex_ext, target=target,
                                    target_params=target_params)
    _check_target(out_dir, bases)
    write_files_atomically(out_dir, files, remove=_stale_files(out_dir, bases, files))
    return manifest
