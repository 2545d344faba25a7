"""Exporters: round trips through every golden format, manifests, refusals, atomic writes."""
import json
import os

import numpy as np
import pytest

from golden import csr as gcsr
from golden import rlc
from hw.blocks import get_block
from pruning import export as E
from pruning import fileio
from pruning.api import prune
from pruning.quant import quantize
from pruning.storage import storage_bits
from pruning.export import export_layer, export_layers, load_export
from pruning.fileio import write_files_atomically

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
    man = E.export_layer(tmp_path, "b", w, fmt="csr")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        assert np.array_equal(z["words"], rlc.encode(q.reshape(-1).astype(np.int64)))
    ref = gcsr.from_dense(q)
    # Without a target the streams are packed for the default csr_spmv build (16/16/16,
    # one lane), which holds this small layer.
    assert man["hardware"] == {"block": "csr_spmv", "params": get_block("csr_spmv").defaults}
    with np.load(tmp_path / "b.npz", allow_pickle=False) as z:
        assert np.array_equal(z["row_ptr"], ref.row_ptr) and np.array_equal(z["values"], ref.values)
        st = gcsr.to_streams(ref, value_width=16, col_width=16, row_width=16)
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
    # The two files already moved were put back: the previous export is intact,
    # byte for byte, no temporaries or staging directory are left behind.
    assert after == before
    assert np.array_equal(E.load_export(tmp_path / "l.json")["q"], quantize(w).q)
    assert not list(tmp_path.parent.glob(f".{tmp_path.name}.staging-*"))


def test_hard_kill_mix_is_detected_by_checksums(tmp_path, layer):
    # What a power loss in the middle of the rename phase could leave: new data
    # files beside the old manifest.  The checksums expose it.
    w, _ = layer
    E.export_layer(tmp_path / "old", "l", w, fmt="csr")
    E.export_layer(tmp_path / "new", "l", w * 0.5 + 1.0, fmt="csr")
    (tmp_path / "old" / "l.npz").write_bytes((tmp_path / "new" / "l.npz").read_bytes())
    with pytest.raises(ValueError, match="layer 'l'.*checksum"):
        E.load_export(tmp_path / "old" / "l.json")


def test_interrupted_fresh_export_has_no_manifest(tmp_path, layer, monkeypatch):
    w, _ = layer

    def boom(src, dst):
        raise OSError("killed")
    monkeypatch.setattr(fileio.os, "replace", boom)
    with pytest.raises(OSError):
        E.export_layer(tmp_path / "new", "l", w, fmt="rlc")
    # The directory this export created is removed again; nothing is left over.
    assert sorted(p.name for p in tmp_path.iterdir()) == []
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


# ---------------------------------------------------------------- review regressions

def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_export_layers_all_or_nothing(tmp_path, layer):
    # Review item 1: a bad later layer must not leave the earlier layers written.
    w, _ = layer
    dense = np.random.default_rng(1).standard_normal((4, 8))
    with pytest.raises(ValueError, match="layer 'b': not 2:4 sparse"):
        E.export_layers(tmp_path / "out", {"a": w, "b": dense}, fmt="sparse24")
    assert not (tmp_path / "out").exists()
    # Over a previous export: the old content stays byte for byte.
    E.export_layers(tmp_path / "out", {"a": w, "b": w}, fmt="sparse24")
    before = _snapshot(tmp_path / "out")
    with pytest.raises(ValueError, match="layer 'b'"):
        E.export_layers(tmp_path / "out", {"a": w * 2.0 + 0.0, "b": dense}, fmt="sparse24", bits=16)
    assert _snapshot(tmp_path / "out") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left over


@pytest.mark.parametrize("fail_at", [9, 20])  # among the 18 data files / among the 3 manifests
def test_export_layers_interrupted_in_the_move_phase_restores_everything(tmp_path, layer, monkeypatch,
                                                                         fail_at):
    w, _ = layer
    E.export_layers(tmp_path / "out", {"a": w, "b": w}, fmt="csr")
    before = _snapshot(tmp_path / "out")
    real_replace = os.replace
    calls = {"n": 0}

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == fail_at:  # 3 layers x 7 csr files are moved in; this one fails
            raise KeyboardInterrupt
        real_replace(src, dst)
    monkeypatch.setattr(fileio.os, "replace", flaky)
    with pytest.raises(KeyboardInterrupt):
        E.export_layers(tmp_path / "out", {"a": w * 0.5 + 1.0, "b": w - 1.0, "c": w}, fmt="csr")
    monkeypatch.setattr(fileio.os, "replace", real_replace)
    assert _snapshot(tmp_path / "out") == before  # c's new files were removed, a's and b's restored
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    for n in ("a", "b"):
        E.load_export(tmp_path / "out" / f"{n}.json")


def test_manifests_are_moved_in_last(tmp_path, layer, monkeypatch):
    w, _ = layer
    order = []
    real_replace = os.replace
    monkeypatch.setattr(fileio.os, "replace", lambda s, d: (order.append(os.path.basename(d)),
                                                            real_replace(s, d)))
    E.export_layers(tmp_path, {"a": w, "b": w}, fmt="rlc")
    assert [n.endswith(".json") for n in order] == [False] * 4 + [True] * 2


@pytest.mark.parametrize("names", [("fc/1", "fc_1"), ("FC.w", "fc.w"), ("a b", "a_b")])
def test_name_collisions_are_refused(tmp_path, layer, names):
    # Review item 11: two layers mapped to the same files and one overwrote the other.
    w, _ = layer
    a, b = names
    with pytest.raises(ValueError, match=f"layers {a!r} and {b!r} would both be written"):
        E.export_layers(tmp_path / "o", {a: w, b: w}, fmt="dense")
    assert not (tmp_path / "o").exists()
    # One at a time into the same directory: the second refuses to clobber the first.
    E.export_layer(tmp_path / "o", a, w, fmt="dense")
    with pytest.raises(ValueError, match=f"layer {b!r}: its files .* would overwrite the export of "
                                         f"layer {a!r}"):
        E.export_layer(tmp_path / "o", b, w, fmt="dense")
    assert E.load_export(tmp_path / "o" / f"{E.file_base(a)}.json")["manifest"]["layer"] == a
    E.export_layer(tmp_path / "o", a, w, fmt="rlc")  # re-exporting the same layer is fine


def test_zfnaf_brick_256_and_numpy_axis_export(tmp_path):
    # Review items 10 and 12: uint8 counts wrapped at 256; np.int64 axis broke the JSON.
    q = np.ones((3, 256))
    q[1, 1::2] = 0.0
    man = E.export_layer(tmp_path, "act", q, fmt="zfnaf", brick=256, axis=np.int64(1))
    assert man["format_params"] == {"axis": 1, "brick": 256}
    back = E.load_export(tmp_path / "act.json")
    assert np.array_equal(back["q"], quantize(q).q)
    assert back["arrays"]["counts"].tolist() == [256, 128, 256]
    assert back["manifest"]["arrays"]["counts"]["width_bits"] == 9
    assert man["storage_bits"] == 640 * (8 + 8) + 3 * 9


def test_export_refuses_a_file_as_output_directory(tmp_path, layer):
    w, _ = layer
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        E.export_layer(tmp_path / "f", "l", w, fmt="dense")
    assert (tmp_path / "f").read_text() == "x"


def test_reexport_removes_files_of_the_old_export(tmp_path):
    w = np.array([[1.0, 0, 2, 0], [0, 3, 0, 0]])
    export_layer(tmp_path, "L", w, fmt="csr")
    export_layer(tmp_path, "other", w, fmt="csr")
    export_layer(tmp_path, "L", w, fmt="dense", hex_ext=".mem")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("L.")) == \
        ["L.json", "L.npz", "L.q.mem"]
    assert (tmp_path / "other.col_idx.hex").exists()  # another layer's files stay
    export_layers(tmp_path, {"L": w}, fmt="dense", hex_ext=".hex")
    assert not (tmp_path / "L.q.mem").exists() and (tmp_path / "L.q.hex").exists()
    load_export(tmp_path / "L.json")


def test_failed_reexport_restores_the_old_files(tmp_path, monkeypatch):
    w = np.array([[1.0, 0, 2, 0], [0, 3, 0, 0]])
    export_layer(tmp_path, "L", w, fmt="csr")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = os.replace
    calls = {"n": 0}

    def flaky(src, dst):
        # fail while moving the second stale file away
        if str(src).startswith(str(tmp_path / "L.")) and str(src).endswith(".hex"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(5, "injected")
        return real(src, dst)

    monkeypatch.setattr(fileio.os, "replace", flaky)
    with pytest.raises(OSError, match="injected"):
        export_layer(tmp_path, "L", w, fmt="dense")
    monkeypatch.setattr(fileio.os, "replace", real)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    load_export(tmp_path / "L.json")


def test_tampered_manifest_cannot_delete_other_files(tmp_path):
    w = np.array([[1.0, 0, 2, 0], [0, 3, 0, 0]])
    export_layer(tmp_path, "L", w, fmt="csr")
    (tmp_path / "keep.txt").write_text("x")
    man = json.loads((tmp_path / "L.json").read_text())
    man["files"]["keep.txt"] = "0" * 64
    (tmp_path / "L.json").write_text(json.dumps(man))
    export_layer(tmp_path, "L", w, fmt="dense")
    assert (tmp_path / "keep.txt").exists()


def test_failed_write_removes_created_parents(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise OSError(28, "disk full")
    monkeypatch.setattr(fileio.os, "fsync", boom)
    with pytest.raises(OSError):
        write_files_atomically(tmp_path / "x" / "y" / "z", {"a.bin": b"1"})
    assert list(tmp_path.iterdir()) == []


def test_too_long_layer_name_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="too long for a file name"):
        export_layer(tmp_path, "x" * 300, np.ones((2, 4)), fmt="dense")
    assert list(tmp_path.iterdir()) == []
