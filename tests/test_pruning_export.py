"""Exporters: round trips through every golden format, manifests, refusals, atomic writes."""
import json
import os

import numpy as np
import pytest

from golden import csr as gcsr
from golden import rlc
from pruning import export as E
from pruning import fileio
from pruning.api import prune
from pruning.quant import quantize
from pruning.storage import storage_bits

FORMATS = ["dense", "rlc", "csr", "sparse24", "zfnaf"]


@pytest.fixture
def layer():
    w = np.random.default_rng(0).standard_normal((12, 30)).astype(np.float32)
    res = prune({"fc1.weight": w}, nm="2:4")
    return res.weights["fc1.weight"], res.recipe


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("bits, per", [(8, "tensor"), (16, "row")])
def test_roundtrip_every_format(tmp_path, layer, fmt, bits, per):
    w, recipe = layer
    man = E.export_layer(tmp_path, "fc1.weight", w, fmt=fmt, bits=bits, per=per, recipe=recipe,
                         source="unit-test", requested_sparsity=0.5)
    loaded = E.load_export(tmp_path / "fc1.weight.json")
    q = quantize(w, bits=bits, per=per).q
    assert np.array_equal(loaded["q"], q)
    assert np.allclose(loaded["weight"], w, atol=np.abs(w).max() / (2 ** (bits - 1) - 1))
    m = loaded["manifest"]
    assert m["format"] == fmt and m["shape"] == [12, 30] and m["bits"] == bits
    assert m["dtype"] == ("int8" if bits == 8 else "int16") and m["recipe"] == recipe
    assert m["nnz"] == np.count_nonzero(q) and m["source"] == "unit-test"
    assert m["requested_sparsity"] == 0.5 and len(m["quant"]["scale"]) == (12 if per == "row" else 1)
    for key, meta in m["arrays"].items():
        text = (tmp_path / meta["hex"]).read_bytes()
        assert len(text.split(b"\n")[0]) == -(-meta["width_bits"] // 4)
    if fmt != "zfnaf":
        assert man["storage_bits"] == storage_bits(q, bits)[fmt]


def test_sparse24_manifest_records_tail_rule(tmp_path, layer):
    w, _ = layer
    man = E.export_layer(tmp_path, "fc1", w, fmt="sparse24")
    assert man["format_params"]["cols"] == 30 and man["format_params"]["padded_cols"] == 32
    assert "zero-pad" in man["format_params"]["nm_tail"]


def test_rlc_and_csr_match_golden(tmp_path, layer):
    w, _ = layer
    q = quantize(w).q
    E.export_layer(tmp_path, "a", w, fmt="rlc")
    E.export_layer(tmp_path, "b", w, fmt="csr")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        assert np.array_equal(z["words"], rlc.encode(q.reshape(-1).astype(np.int64)))
    ref = gcsr.from_dense(q)
    with np.load(tmp_path / "b.npz", allow_pickle=False) as z:
        assert np.array_equal(z["row_ptr"], ref.row_ptr) and np.array_equal(z["values"], ref.values)
        st = gcsr.to_streams(ref, value_width=8, col_width=8, row_width=8)
        assert z["nz_stream"].tolist() == st.nz


def test_hex_readmemh_layout():
    assert fileio.to_hex_lines(np.array([-1, 0, 127, -128], np.int8), 8) == b"ff\n00\n7f\n80\n"
    assert fileio.to_hex_lines(np.array([5], np.int16), 16) == b"0005\n"
    text = fileio.to_hex_lines(np.array([0x801A880014000182], np.uint64), 64)
    assert text == b"801a880014000182\n"
    assert fileio.parse_hex(b"ff\n80\n", 8, True).tolist() == [-1, -128]


def test_loader_refuses_pickles(tmp_path, layer):
    w, _ = layer
    E.export_layer(tmp_path, "l", w, fmt="dense")
    obj = np.empty(1, dtype=object)
    obj[0] = {"evil": 1}
    np.savez(tmp_path / "l.npz", q=obj)
    man = json.loads((tmp_path / "l.json").read_text())
    man["files"]["l.npz"] = fileio.sha256((tmp_path / "l.npz").read_bytes())
    (tmp_path / "l.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match="layer 'l'.*without pickles"):
        E.load_export(tmp_path / "l.json")


@pytest.mark.parametrize("tamper, msg", [
    (lambda d, m: (d / "l.words.hex").write_bytes(b"00\n"), "checksum"),
    (lambda d, m: m.pop("arrays"), "lacks 'arrays'"),
    (lambda d, m: m.update(format="zip"), "unknown format"),
    (lambda d, m: m.update(nnz=1), "nnz"),
    (lambda d, m: m.update(shape=[5, 90]), "does not match shape"),
    (lambda d, m: m["arrays"]["words"].update(shape=[1]), "manifest says"),
    (lambda d, m: m.update(bits=12), "bits/dtype"),
    (lambda d, m: m["files"].update({"../x": "0"}), "leaves the export directory|missing file"),
])
def test_loader_validates_manifest(tmp_path, layer, tamper, msg):
    w, _ = layer
    E.export_layer(tmp_path, "l", w, fmt="rlc")
    man = json.loads((tmp_path / "l.json").read_text())
    tamper(tmp_path, man)
    (tmp_path / "l.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match=msg):
        E.load_export(tmp_path / "l.json")


def test_loader_checks_hex_against_arrays(tmp_path, layer):
    w, _ = layer
    E.export_layer(tmp_path, "l", w, fmt="dense")
    hexf = tmp_path / "l.q.hex"
    data = bytearray(hexf.read_bytes())
    data[0:2] = b"7f" if data[0:2] != b"7f" else b"00"
    hexf.write_bytes(bytes(data))
    man = json.loads((tmp_path / "l.json").read_text())
    man["files"]["l.q.hex"] = fileio.sha256(bytes(data))
    (tmp_path / "l.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match="does not hold the values"):
        E.load_export(tmp_path / "l.json")


def test_interrupted_export_leaves_no_partial_file(tmp_path, layer, monkeypatch):
    w, _ = layer
    E.export_layer(tmp_path, "l", w, fmt="csr")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = {"n": 0}
    real_replace = os.replace

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk pulled")
        real_replace(src, dst)
    monkeypatch.setattr(fileio.os, "replace", flaky)
    with pytest.raises(OSError, match="disk pulled"):
        E.export_layer(tmp_path, "l", w * 0.5 + 1.0, fmt="csr", bits=16)
    monkeypatch.setattr(fileio.os, "replace", real_replace)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(after) == set(before)  # no temporaries left behind
    assert after["l.json"] == before["l.json"]  # the manifest (written last) is the old one
    # Files were replaced whole or not at all; the mix is detected on load.
    with pytest.raises(ValueError, match="checksum"):
        E.load_export(tmp_path / "l.json")


def test_interrupted_fresh_export_has_no_manifest(tmp_path, layer, monkeypatch):
    w, _ = layer

    def boom(src, dst):
        raise OSError("killed")
    monkeypatch.setattr(fileio.os, "replace", boom)
    with pytest.raises(OSError):
        E.export_layer(tmp_path / "new", "l", w, fmt="rlc")
    assert list((tmp_path / "new").iterdir()) == []
    with pytest.raises(ValueError, match="manifest not found"):
        E.load_export(tmp_path / "new" / "l.json")


def test_bad_layer_writes_nothing(tmp_path):
    w = np.random.default_rng(0).standard_normal((4, 8))  # dense: not 2:4
    with pytest.raises(ValueError, match="layer 'fc'.*not 2:4 sparse"):
        E.export_layer(tmp_path / "o", "fc", w, fmt="sparse24")
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="layer 'fc'.*non-finite"):
        E.export_layer(tmp_path / "o", "fc", np.array([[1.0, np.nan]]), fmt="dense")
    with pytest.raises(ValueError, match="layer 'fc'.*unknown export format"):
        E.export_layer(tmp_path / "o", "fc", w, fmt="coo")
    assert not (tmp_path / "o").exists()


def test_storage_bits_exact():
    q = np.array([[0, 0, 3, 0, 4], [0, 0, 0, 0, 0], [5, 0, 0, 7, 0], [0, 8, 0, 0, 6]], np.int8)
    sb = storage_bits(q, 8)
    assert sb["dense"] == 20 * 8
    # CSR of the slides' example: 6 values x (8 + 3-bit column) + 5 row pointers x 3 bits.
    assert sb["csr"] == 6 * (8 + 3) + 5 * 3
    assert sb["rlc"] == 64 * len(rlc.encode(q.reshape(-1).astype(np.int64)))
    assert sb["sparse24"] == 4 * 2 * 2 * (8 + 2)  # 5 columns pad to 8: 2 groups per row
    assert storage_bits(np.ones((2, 4), np.int8), 8)["sparse24"] is None
