"""load_export trusts nothing: every tampered manifest, array or hex file is a ValueError naming the layer.

Each case edits a good export the way a hand edit, another tool or a bad
copy could, recomputing the SHA-256 checksums so that only the semantic
check can catch it (review items 2 and 3).
"""
import io
import json

import numpy as np
import pytest

from pruning import export as E
from pruning.api import prune
from pruning.fileio import npz_bytes, sha256, to_hex_lines
from pruning.quant import Quantized, quantize
from pruning import fileio
from pruning.export import export_layer, load_export
from pruning.fileio import load_npz


@pytest.fixture(scope="module")
def w24():
    return prune(np.random.default_rng(1).standard_normal((8, 12)), nm="2:4").weights[None]


def _export(d, w, fmt, **kw):
    E.export_layer(d, "L", w, fmt=fmt, **kw)
    return json.loads((d / "L.json").read_text())


def _save(d, man):
    (d / "L.json").write_text(json.dumps(man))


def _replace_array(d, man, key, arr, width=None):
    """Swap one array (npz + hex + manifest entry) and fix every checksum."""
    with np.load(d / "L.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[key] = arr
    meta = man["arrays"][key]
    width = meta["width_bits"] if width is None else width
    meta.update(dtype=str(arr.dtype), shape=list(arr.shape), width_bits=width)
    (d / "L.npz").write_bytes(npz_bytes(arrays))
    (d / meta["hex"]).write_bytes(to_hex_lines(arr, width))
    for f in ("L.npz", meta["hex"]):
        man["files"][f] = sha256((d / f).read_bytes())


def _set(*path_and_value):
    *path, value = path_and_value

    def edit(d, man):
        obj = man
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return edit


def _npy_instead_of_npz(d, man):
    buf = io.BytesIO()
    np.save(buf, np.arange(3))
    (d / "x.npy").write_bytes(buf.getvalue())
    man["files"]["x.npy"] = sha256(buf.getvalue())
    man["npz"] = "x.npy"


def _wide_values(d, man):
    # The review's silent wrap: int16 values of 300 under a manifest saying int8/8 bits.
    vals = np.array([300, -127, 32] + [5] * 45, dtype=np.int16)[: man["arrays"]["values"]["shape"][0]]
    _replace_array(d, man, "values", vals, width=16)


def _row_ptr_narrower_than_values(d, man):
    # The hex matches the array once both are masked to 2 bits, but the array
    # holds values that need more: the old masked comparison let this pass.
    with np.load(d / "L.npz", allow_pickle=False) as z:
        rp = z["row_ptr"]
    man["arrays"]["row_ptr"]["width_bits"] = 2
    (d / "L.row_ptr.hex").write_bytes(to_hex_lines(rp, 2))
    man["files"]["L.row_ptr.hex"] = sha256((d / "L.row_ptr.hex").read_bytes())


def _wider_col_idx(d, man):
    # Self-consistent (array, hex and checksums agree) but not the format's width.
    with np.load(d / "L.npz", allow_pickle=False) as z:
        ci = z["col_idx"]
    _replace_array(d, man, "col_idx", ci, width=8)


def _drop(*path):
    def edit(d, man):
        obj = man
        for k in path[:-1]:
            obj = obj[k]
        obj.pop(path[-1])
    return edit


CASES = [
    ("csr", _set("sparsity", 0.01), "sparsity 0.01 does not match"),
    ("csr", _set("nnz", 3), "nnz"),
    ("csr", _set("storage_bits", 1), "storage_bits 1 does not match"),
    ("csr", _set("storage_bits_all", "dense", 7), "storage_bits_all"),
    ("csr", _set("bits", 16), "bits/dtype"),
    ("csr", _set("bits", True), "bits/dtype"),
    ("csr", _set("quant", "scale", [-1.0] * 8), "finite and > 0"),
    ("csr", _set("quant", "scale", [float("nan")] * 8), "finite and > 0"),
    ("csr", _set("quant", "scale", [1.0]), "per-row scale must have shape \\[8\\]"),
    ("csr", _set("quant", "scale", "abc"), "'scale' must be a list of numbers"),
    ("csr", _set("quant", "per", "tensor"), "per-tensor scale must have shape \\[\\]"),
    ("csr", _set("quant", "extra_zeros", 10**6), "extra_zeros"),
    ("csr", _set("quant", {}), "quant lacks 'per'"),
    ("csr", _set("recipe", "garbage"), "'recipe' must be an object"),
    ("csr", _set("source", 42), "'source' must be a string"),
    ("csr", _set("requested_sparsity", 1.5), "requested_sparsity"),
    ("csr", _set("shape", ["8", 12]), "'shape' must be a list"),
    ("csr", _set("format_params", "col_width", 8), "format_params .* are not the packing of csr_spmv"),
    ("csr", _set("hardware", "params", "lanes", 4), "format_params .* are not the packing of csr_spmv"),
    ("csr", _set("hardware", "block", "rlc_decoder"), "hardware block 'rlc_decoder' does not read format csr"),
    ("csr", _set("hardware", "params", "lanes", 3), "csr_spmv: lanes must be"),
    ("csr", _set("hardware", "params", "max_cols", 4), "does not fit csr_spmv.*12 columns exceed max_cols=4"),
    ("csr", _set("hardware", "params", "bogus", 4), "no parameter"),
    ("csr", _set("hardware", None), "hardware must be an object"),
    ("rlc", _set("hardware", "params", {"x": 1}), "no parameter"),
    ("dense", _set("hardware", {"block": "csr_spmv", "params": {}}), "hardware must be null"),
    ("csr", _set("format_params", "rows", "x"), "format_params .* does not match shape"),
    ("sparse24", _set("format_params", "nm_tail", "whatever"), "format_params"),
    ("sparse24", _set("format_params", "n", 1), "format_params"),
    ("dense", _set("format_params", {"foo": 1}), "format_params"),
    ("rlc", _set("format_params", "n", 95), "format_params"),
    ("zfnaf", _set("format_params", "brick", 8), "counts"),
    ("zfnaf", _set("format_params", "brick", 16.0), "brick must be an integer"),
    ("csr", _set("arrays", "values", 5), "arrays\\['values'\\] must be an object"),
    ("csr", _drop("arrays", "values", "width_bits"), "arrays\\['values'\\] lacks 'width_bits'"),
    ("csr", _set("arrays", "values", "width_bits", 4), "wider than its declared signed 4 bits"),
    ("csr", _wider_col_idx, "'col_idx' must be unsigned 4 bits in csr, manifest says unsigned 8"),
    ("csr", _set("files", "L.npz", 5), "checksum of L.npz must be a SHA-256"),
    ("csr", _set("files", "..", "0" * 64), "leaves the export directory"),
    ("csr", _set("hex_layout", "mine"), "hex layout"),
    ("csr", _npy_instead_of_npz, "npz file must be L.npz"),
    ("csr", _wide_values, "array 'values' must be int8"),
    ("csr", _row_ptr_narrower_than_values, "wider than its declared unsigned 2 bits"),
]


@pytest.mark.parametrize("fmt, edit, msg", CASES, ids=[f"{c[0]}-{c[2][:30]}" for c in CASES])
def test_tampered_export_is_refused(tmp_path, w24, fmt, edit, msg):
    man = _export(tmp_path, w24, fmt, bits=8, per="row")
    E.load_export(tmp_path / "L.json")  # the untouched export loads
    edit(tmp_path, man)
    _save(tmp_path, man)
    with pytest.raises(ValueError, match=f"layer 'L' \\(L.json\\): .*{msg}"):
        E.load_export(tmp_path / "L.json")


def test_values_out_of_symmetric_range_refused_not_wrapped(tmp_path, w24):
    # int8 -128 fits the dtype but not the symmetric range the exporter promises.
    man = _export(tmp_path, w24, "dense")
    with np.load(tmp_path / "L.npz", allow_pickle=False) as z:
        q = z["q"].copy()
    q[0, 0] = -128
    _replace_array(tmp_path, man, "q", q)
    _save(tmp_path, man)
    with pytest.raises(ValueError, match="layer 'L'.*symmetric 8-bit range"):
        E.load_export(tmp_path / "L.json")


def test_rlc_level_beyond_bits_is_refused(tmp_path):
    # RLC levels are 16 bits: a level of 300 in an 8-bit export must not wrap to 44.
    from golden import rlc
    w = np.array([[0.5, 0.0, -1.0, 0.0], [0.0, 0.25, 0.0, 0.0]])
    man = _export(tmp_path, w, "rlc")
    words = rlc.encode(np.array([300, 0, -127, 0, 0, 32, 0, 0], dtype=np.int64))
    _replace_array(tmp_path, man, "words", words)
    _save(tmp_path, man)
    with pytest.raises(ValueError, match="layer 'L'.*exceed the symmetric 8-bit range"):
        E.load_export(tmp_path / "L.json")


def test_csr_stream_words_must_match(tmp_path, w24):
    # The decoder reads row_ptr/col_idx/values only: the stream words are checked by re-encoding.
    man = _export(tmp_path, w24, "csr")
    with np.load(tmp_path / "L.npz", allow_pickle=False) as z:
        nz = z["nz_stream"].copy()
    nz[0] ^= np.uint64(1)
    _replace_array(tmp_path, man, "nz_stream", nz)
    _save(tmp_path, man)
    with pytest.raises(ValueError, match="layer 'L'.*not the canonical csr encoding"):
        E.load_export(tmp_path / "L.json")


def test_unreadable_paths_are_value_errors(tmp_path, w24):
    with pytest.raises(ValueError, match="is a directory; pass a layer's .json"):
        E.load_export(tmp_path)
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must be a JSON object"):
        E.load_export(tmp_path / "x.json")
    _export(tmp_path, w24, "csr")
    (tmp_path / "L.npz").write_text("not a zip")
    man = json.loads((tmp_path / "L.json").read_text())
    man["files"]["L.npz"] = sha256(b"not a zip")
    _save(tmp_path, man)
    with pytest.raises(ValueError, match="layer 'L'.*L.npz is not an .npz archive"):
        E.load_export(tmp_path / "L.json")


@pytest.mark.parametrize("fmt", E.FORMATS)
@pytest.mark.parametrize("qz, msg", [
    (Quantized(np.array([[300, 0, -5, 0]], np.int16), np.float64(0.1), 8, "tensor", 0),
     "must be a int8 array for 8-bit"),
    (Quantized(np.array([[-128, 0, -5, 0]], np.int8), np.float64(0.1), 8, "tensor", 0),
     "outside the symmetric 8-bit range"),
    (Quantized(np.array([[1.5, 0, 0, 0]]), np.float64(0.1), 8, "tensor", 0), "not float64"),
    (Quantized(np.array([[1, 0, 0, 0]], np.int8), np.float64(np.nan), 8, "tensor", 0),
     "finite and > 0"),
    (Quantized(np.array([[1, 0, 0, 0]], np.int8), np.ones(2), 8, "row", 0),
     "per-row scale must have shape \\(1,\\)"),
    (Quantized(np.array([[1, 0, 0, 0]], np.int8), np.float64(1.0), 8, "column", 0),
     "granularity must be 'tensor' or 'row'"),
    (Quantized(np.array([[1, 0, 0, 0]], np.int16), np.float64(1.0), 8.0, "tensor", 0),
     "integer 8 or 16"),
])
def test_export_checks_a_caller_built_quantized(tmp_path, fmt, qz, msg):
    with pytest.raises(ValueError, match=f"layer 'L': .*{msg}"):
        E.export_layer(tmp_path / "o", "L", qz, fmt=fmt)
    assert not (tmp_path / "o").exists()


def test_valid_quantized_exports_and_loads(tmp_path):
    qz = quantize(np.array([[0.5, 0.0, -1.0, 0.0], [0.0, 0.0, 0.0, 0.25]]), bits=16, per="row")
    for fmt in E.FORMATS:
        E.export_layer(tmp_path / fmt, "L", qz, fmt=fmt)
        back = E.load_export(tmp_path / fmt / "L.json")
        assert back["q"].dtype == np.int16 and np.array_equal(back["q"], qz.q)


def _deflate64(path):
    b = io.BytesIO()
    np.savez(b, fc=np.ones((4, 8)))
    raw = bytearray(b.getvalue())
    i = raw.find(b"PK\x01\x02")
    raw[i + 10:i + 12] = (9).to_bytes(2, "little")
    j = raw.find(b"PK\x03\x04")
    raw[j + 8:j + 10] = (9).to_bytes(2, "little")
    path.write_bytes(bytes(raw))


def test_unsupported_zip_method_is_a_value_error(tmp_path):
    _deflate64(tmp_path / "d.npz")
    with pytest.raises(ValueError, match="zip feature"):
        load_npz(tmp_path / "d.npz")


def test_loader_refuses_unsupported_zip_method(tmp_path):
    export_layer(tmp_path, "L", np.ones((4, 8)), fmt="dense")
    _deflate64(tmp_path / "L.npz")
    man = json.loads((tmp_path / "L.json").read_text())
    man["files"]["L.npz"] = fileio.sha256((tmp_path / "L.npz").read_bytes())
    (tmp_path / "L.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match=r"layer 'L'.*zip feature"):
        load_export(tmp_path / "L.json")


@pytest.mark.parametrize("fmt", ["dense", "rlc", "csr", "sparse24", "zfnaf"])
@pytest.mark.parametrize("shape", [[1099511627776], [3, 1099511627776], [1 << 20, 1 << 20]])
def test_inflated_manifest_shape_is_refused(tmp_path, fmt, shape):
    w = np.array([[1.0, 0, 2, 0], [0, 3, 0, 0]])
    export_layer(tmp_path, "L", w, fmt=fmt)
    man = json.loads((tmp_path / "L.json").read_text())
    man["shape"] = shape
    (tmp_path / "L.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match="layer 'L'"):
        load_export(tmp_path / "L.json")
