"""Regression tests for the re-review findings (quantisation underflow, group-norm
overflow in global scope, recipe validation, unsupported zip methods, tampered
manifest shapes, stale files of a re-export, strict report JSON)."""
import io
import json
import os

import numpy as np
import pytest

from pruning import fileio, prune
from pruning.cli import main, report_rows
from pruning.export import export_layer, export_layers, load_export
from pruning.fileio import load_npz, write_files_atomically
from pruning.masks import global_select, select
from pruning.quant import check_quantized, quantize


# 1. subnormal amax: amax / qmax underflows to 0.0
@pytest.mark.parametrize("per", ["tensor", "row"])
@pytest.mark.parametrize("bits", [8, 16])
def test_subnormal_amax_gets_scale_one(tmp_path, per, bits):
    w = np.array([[5e-324, 0.0]])
    qz = check_quantized(quantize(w, bits=bits, per=per))
    assert np.all(qz.scale == 1.0) and not qz.q.any() and qz.extra_zeros == 1
    export_layer(tmp_path, "L", w, fmt="csr", bits=bits, per=per)
    r = load_export(tmp_path / "L.json")
    assert not r["q"].any()


def test_subnormal_row_keeps_normal_rows_scale():
    qz = quantize(np.array([[5e-324, 0.0], [1.0, -2.0]]), per="row")
    assert qz.scale[0] == 1.0 and qz.scale[1] == 2.0 / 127


# 2. group norms overflowing to inf (OBD with huge hessians, filter groups)
def _g3_weights():
    return {"a": np.vstack([np.full(1024, 3.0), np.full(1024, 1.0)]),
            "b": np.vstack([np.full(1024, 2.0), np.full(1024, 0.5)])}


def test_global_obd_filter_overflow_keeps_one_filter_per_layer():
    w = _g3_weights()
    h = {k: np.full(v.shape, 1e308) for k, v in w.items()}
    r = prune(w, 0.5, criterion="obd", hessians=h, scope="global", granularity="filter")
    assert r.masks["a"][:, 0].tolist() == [True, False]
    assert r.masks["b"][:, 0].tolist() == [True, False]


def test_layer_obd_filter_overflow_ranks_correctly():
    w = np.vstack([np.full(1024, 1.0), np.full(1024, 3.0)])
    r = prune({"a": w}, 0.5, criterion="obd", hessians={"a": np.full(w.shape, 1e308)},
              granularity="filter")
    assert r.masks["a"][:, 0].tolist() == [False, True]


@pytest.mark.parametrize("p", [1, 2, 3, np.inf])
def test_group_norm_of_huge_scores_matches_scaled_ranking(p):
    # Scores near the float64 maximum: the unscaled sums overflow; the ranking
    # must equal the ranking of the same scores divided by 2**1000.
    rng = np.random.default_rng(1)
    small = {"x": rng.random((6, 64)), "y": rng.random((5, 64))}
    big = {k: v * 2.0 ** 1020 for k, v in small.items()}
    want = global_select(small, 0.5, granularity="row", p=p)
    got = global_select(big, 0.5, granularity="row", p=p)
    for k in small:
        assert np.array_equal(want[k], got[k])
    assert np.array_equal(select(big["x"], 0.5, granularity="row", p=p),
                          select(small["x"], 0.5, granularity="row", p=p))


def test_global_select_protects_without_inf_sentinel():
    # Every unit ties; the protected (first) unit of each layer survives.
    s = {"a": np.full((3, 4), 7.0), "b": np.full((2, 4), 7.0)}
    m = global_select(s, 0.6, granularity="row")
    assert m["a"][:, 0].tolist() == [True, False, False]
    assert m["b"][:, 0].tolist() == [True, False]


# 3. recipe validation
def _arrays(recipe_text):
    return {"fc": np.ones((4, 8)), "__recipe__": np.array(recipe_text)}


@pytest.mark.parametrize("text, msg", [
    ("[1, 2]", "must be a JSON object, not list"),
    ("5", "must be a JSON object, not int"),
    ('{"sparsity": {"fc": "abc"}}', "layer 'fc' must be a number"),
    ('{"sparsity": {"fc": true}}', "layer 'fc' must be a number"),
    ('{"sparsity": {"fc": NaN}}', "finite number in [0, 1), not nan"),
    ('{"sparsity": {"fc": 5}}', "finite number in [0, 1), not 5"),
    ('{"sparsity": "half"}', "sparsity must be a number"),
])
def test_bad_recipe_is_a_value_error(text, msg):
    with pytest.raises(ValueError) as e:
        report_rows(_arrays(text), ["fc"])
    assert msg in str(e.value)


def test_good_recipe_is_read():
    rows = report_rows(_arrays('{"sparsity": {"fc": 0.25}}'), ["fc"])
    assert rows[0]["requested"] == 0.25


def test_cli_bad_recipe_exits_2(tmp_path, capsys):
    np.savez(tmp_path / "m.npz", **_arrays("[1, 2]"))
    assert main(["export", str(tmp_path / "m.npz"), "-o", str(tmp_path / "o"),
                 "--format", "csr"]) == 2
    assert "__recipe__ must be a JSON object" in capsys.readouterr().err


# 4. unsupported zip compression method
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


# 5. tampered manifest shape must not allocate
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


# 6. re-export in another format / hex extension removes the old files
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


# minor: failed writes remove the parent folders they created
def test_failed_write_removes_created_parents(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise OSError(28, "disk full")
    monkeypatch.setattr(fileio.os, "fsync", boom)
    with pytest.raises(OSError):
        write_files_atomically(tmp_path / "x" / "y" / "z", {"a.bin": b"1"})
    assert list(tmp_path.iterdir()) == []


# minor: report --json writes strict JSON (null for an undefined MAC reduction)
def test_report_json_has_no_infinity(tmp_path):
    np.savez(tmp_path / "z.npz", z=np.zeros((4, 8)))
    assert main(["report", str(tmp_path / "z.npz"), "--json", str(tmp_path / "r.json")]) == 0
    text = (tmp_path / "r.json").read_text()
    assert "Infinity" not in text
    rows = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert rows[0]["mac_reduction"] is None


# minor: a layer name too long for a file name
def test_too_long_layer_name_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="too long for a file name"):
        export_layer(tmp_path, "x" * 300, np.ones((2, 4)), fmt="dense")
    assert list(tmp_path.iterdir()) == []


# minor: schedules
def test_schedules_accept_numpy_integer_steps():
    from pruning.schedules import OneShot, PolynomialDecay
    s = PolynomialDecay(0.0, 0.5, np.int64(0), np.int32(10), np.int8(2), np.int64(3))
    assert type(s.end) is int and s.sparsity(10) == 0.5 and s.should_prune(np.int64(4))
    assert OneShot(0.5, np.int64(3)).at == 3


def test_schedule_errors_have_no_weights_label():
    from pruning.schedules import OneShot, PolynomialDecay, iterative_sparsities
    for make in (lambda: OneShot("x"), lambda: PolynomialDecay(0.0, 1.0, 0, 10),
                 lambda: iterative_sparsities(1.5, 3)):
        with pytest.raises(ValueError) as e:
            make()
        assert not str(e.value).startswith("weights") and "sparsity" in str(e.value)


def test_polynomial_decay_refuses_initial_above_final():
    from pruning.schedules import PolynomialDecay
    with pytest.raises(ValueError, match="initial sparsity 0.5 must not exceed final sparsity 0.3"):
        PolynomialDecay(0.5, 0.3, 0, 10)
    assert PolynomialDecay(0.5, 0.5, 0, 10).sparsity(3) == 0.5
