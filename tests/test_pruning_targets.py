"""Exports packed for a hardware build: the format registry, --target/--param, the manifest's
"hardware" record, `pruning check`, and pairing an export with a build (no simulation here;
tests/test_export_to_hw.py runs the exported files in Verilator)."""
import json

import numpy as np
import pytest

from golden import csr as gcsr
from hw.blocks import BLOCKS, get_block
from pruning import export as E
from pruning.cli import main
from pruning.fileio import parse_hex, to_hex_lines
from pruning.formats import FORMATS, REGISTRY, get_format, to_words
from pruning.quant import quantize


@pytest.fixture
def w():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((12, 40))
    a[rng.random(a.shape) < 0.7] = 0
    return a


@pytest.fixture
def npz(tmp_path, w):
    np.savez(tmp_path / "m.npz", fc=w, bias=np.zeros(12))
    return tmp_path / "m.npz"


def test_registry_has_one_object_per_format():
    assert tuple(REGISTRY) == FORMATS == ("dense", "rlc", "csr", "sparse24", "zfnaf")
    for name, f in REGISTRY.items():
        assert f.name == name and set(f.dtypes("int8")) == set(f.arrays)
        assert f.block is None or f.block in BLOCKS
    assert get_format("csr").block == "csr_spmv" and get_format("rlc").block == "rlc_decoder"
    with pytest.raises(ValueError, match="unknown export format 'coo'; choose from dense"):
        get_format("coo")


def test_manifest_records_every_parameter_of_the_target(tmp_path, w):
    man = E.export_layer(tmp_path, "fc", w, fmt="csr", target="csr_spmv",
                         target_params={"lanes": 4, "value_width": 8, "col_width": 8,
                                        "max_cols": 256})
    want = dict(get_block("csr_spmv").defaults, lanes=4, value_width=8, col_width=8, max_cols=256)
    assert man["hardware"] == {"block": "csr_spmv", "params": want}
    on_disk = json.loads((tmp_path / "fc.json").read_text())
    assert on_disk["hardware"] == man["hardware"]
    fp = man["format_params"]
    assert (fp["lanes"], fp["value_width"], fp["col_width"], fp["row_width"]) == (4, 8, 8, 16)
    # the stream words are golden.csr.to_streams with exactly those widths and lanes
    q = quantize(w).q
    st = gcsr.to_streams(gcsr.from_dense(q), value_width=8, col_width=8, row_width=16, lanes=4)
    with np.load(tmp_path / "fc.npz", allow_pickle=False) as z:
        assert z["nz_stream"].tolist() == st.nz and z["row_stream"].tolist() == st.rows
    assert man["arrays"]["nz_stream"]["width_bits"] == 4 * (8 + 8)


def test_wide_beats_are_limbs_and_one_hex_line(tmp_path, w):
    man = E.export_layer(tmp_path, "fc", w, fmt="csr", target="csr_spmv",
                         target_params={"lanes": 4})
    assert man["arrays"]["nz_stream"]["width_bits"] == 128
    q = quantize(w).q
    st = gcsr.to_streams(gcsr.from_dense(q), lanes=4)
    lines = (tmp_path / "fc.nz_stream.hex").read_text().split()
    assert [int(t, 16) for t in lines] == st.nz and all(len(t) == 32 for t in lines)
    E.load_export(tmp_path / "fc.json")


@pytest.mark.parametrize("width", [65, 72, 128, 200])
def test_wide_hex_round_trip(width):
    rng = np.random.default_rng(width)
    values = [int(rng.integers(0, 1 << 62)) << (width - 62) | int(rng.integers(0, 1 << 40))
              for _ in range(5)] + [0, (1 << width) - 1]
    words = to_words(values, width)
    text = to_hex_lines(words, width)
    assert [int(t, 16) for t in text.split()] == values
    assert np.array_equal(parse_hex(text, width, False), words)


def test_default_export_targets_the_default_build_widened_only_where_needed(tmp_path):
    defaults = get_block("csr_spmv").defaults
    man = E.export_layer(tmp_path, "small", np.eye(8), fmt="csr")
    assert man["hardware"]["params"] == defaults
    wide = np.zeros((1, 70000))
    wide[0, ::7] = 1.0
    p = E.export_layer(tmp_path, "wide", wide, fmt="csr")["hardware"]["params"]
    assert p == dict(defaults, max_cols=70000, col_width=24, row_width=24)
    tall = E.export_layer(tmp_path, "tall", np.ones((1500, 2)), fmt="csr", bits=16)
    assert tall["hardware"]["params"] == dict(defaults, max_rows=1500)
    assert E.export_layer(tmp_path, "d", np.eye(4), fmt="dense")["hardware"] is None
    assert E.export_layer(tmp_path, "r", np.eye(4), fmt="rlc")["hardware"] == {
        "block": "rlc_decoder", "params": {}}


@pytest.mark.parametrize("args, msg", [
    (["--target", "csr_spmv", "--param", "max_cols=32"], "40 columns exceed max_cols=32"),
    (["--target", "csr_spmv", "--param", "max_rows=8"], "12 rows exceed max_rows=8"),
    (["--target", "csr_spmv", "--param", "value_width=4"], "need value_width >= 8, not 4"),
    (["--target", "csr_spmv", "--param", "lanes=3"], "lanes must be"),
    (["--target", "csr_spmv", "--param", "colwidth=8"], "has no parameter"),
    (["--target", "csr_spmv", "--param", "lanes"], "write NAME=VALUE"),
    (["--target", "rlc_decoder"], "format csr is read by block 'csr_spmv', not 'rlc_decoder'"),
    (["--param", "lanes=4"], "need a target block"),
])
def test_export_refuses_weights_that_do_not_fit_the_target(tmp_path, npz, capsys, args, msg):
    out = tmp_path / "out"
    assert main(["export", str(npz), "-o", str(out), "--format", "csr", *args]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note:")]
    assert len(err) == 1 and msg in err[0] and not out.exists()


def test_format_without_a_block_refuses_a_target(tmp_path, npz, capsys):
    assert main(["export", str(npz), "-o", str(tmp_path / "o"), "--format", "dense",
                 "--target", "csr_spmv"]) == 2
    assert "format dense has no hardware block" in capsys.readouterr().err


def test_check_prints_layers_and_refuses_a_mismatched_build(tmp_path, npz, capsys):
    out = tmp_path / "out"
    assert main(["export", str(npz), "-o", str(out), "--format", "csr", "--target", "csr_spmv",
                 "--param", "lanes=2"]) == 0
    capsys.readouterr()
    assert main(["check", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fc (fc.json): csr 12x40 int8" in text and "nz_stream 64" in text
    assert "csr_spmv(acc_width=32, col_width=16, lanes=2," in text and "ok: 1 layer" in text
    assert main(["check", str(out), "--target", "csr_spmv", "--param", "lanes=2",
                 "--param", "x_width=8"]) == 0          # x_width does not touch the streams
    assert main(["check", str(out), "--target", "csr_spmv"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lanes=2 in the export but lanes=1 in the build" in err
    assert main(["check", str(out), "--target", "csr_spmv", "--param", "lanes=2",
                 "--param", "max_cols=16"]) == 2
    assert "40 columns exceed max_cols=16" in capsys.readouterr().err


def test_check_fails_on_a_damaged_or_empty_export(tmp_path, npz, capsys):
    out = tmp_path / "out"
    assert main(["export", str(npz), "-o", str(out), "--format", "rlc"]) == 0
    (out / "fc.words.hex").write_text("0\n")
    capsys.readouterr()
    assert main(["check", str(out)]) == 2
    assert "fc.words.hex does not match its manifest checksum" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["check", str(tmp_path / "empty")]) == 2
    assert "no layer manifest" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "nothere")]) == 2


def test_load_export_pairs_only_with_a_matching_build(tmp_path, w):
    E.export_layer(tmp_path, "fc", w, fmt="csr", target="csr_spmv",
                   target_params={"value_width": 8, "col_width": 8, "row_width": 8,
                                  "max_cols": 64})
    p = {"value_width": 8, "col_width": 8, "row_width": 8, "max_cols": 64}
    E.load_export(tmp_path / "fc.json", build=("csr_spmv", p))
    with pytest.raises(ValueError, match="col_width=8 in the export but col_width=16 in the build"):
        E.load_export(tmp_path / "fc.json", build=("csr_spmv", dict(p, col_width=16)))
    with pytest.raises(ValueError, match="packed for csr_spmv, not rlc_decoder"):
        E.load_export(tmp_path / "fc.json", build=("rlc_decoder", {}))


# -- sparse24 -> sparse_mac, zfnaf -> cnv_unit (issue 8) ----------------------------------

def _nm24(rows=6, cols=22, seed=5):
    from pruning import prune
    w = np.random.default_rng(seed).standard_normal((rows, cols))
    return prune(w, nm="2:4").weights[None]


def test_sparse24_is_packed_for_sparse_mac_with_the_golden_beats(tmp_path):
    from golden import nm_mac, sparse24
    w = _nm24()
    man = E.export_layer(tmp_path, "fc", w, fmt="sparse24")
    assert man["hardware"] == {"block": "sparse_mac", "params": get_block("sparse_mac").defaults}
    fp = man["format_params"]
    assert (fp["groups"], fp["width"], fp["beats_per_row"]) == (4, 8, 2)   # 24 cols: 6 groups
    q = quantize(w).q
    values, meta = sparse24.compress(np.pad(q, ((0, 0), (0, 2))))
    words = sparse24.pack_meta(meta)
    cfg = nm_mac.NMConfig()
    want = [b for r in range(6) for b in nm_mac.pack_sparse(values[r], words[r], cfg)]
    lines = (tmp_path / "fc.w_stream.hex").read_text().split()
    assert [int(t, 16) for t in lines] == want and man["arrays"]["w_stream"]["width_bits"] == 88
    man16 = E.export_layer(tmp_path / "b", "fc", w, fmt="sparse24", bits=16)
    assert man16["hardware"]["params"]["width"] == 16 and man16["format_params"]["width"] == 16


def test_sparse24_refuses_builds_it_does_not_fit(tmp_path):
    w = _nm24()
    with pytest.raises(ValueError, match=r"need width >= 16, not 8"):
        E.export_layer(tmp_path, "fc", w, fmt="sparse24", bits=16, target="sparse_mac",
                       target_params={"width": 8})
    with pytest.raises(ValueError, match="sparse24 is 2:4, the build is 1:4"):
        E.export_layer(tmp_path, "fc", w, fmt="sparse24", target="sparse_mac",
                       target_params={"n": 1})
    E.export_layer(tmp_path, "fc", w, fmt="sparse24", target="sparse_mac",
                   target_params={"groups": 2})
    with pytest.raises(ValueError, match="groups=2 in the export but groups=4 in the build"):
        E.load_export(tmp_path / "fc.json", build=("sparse_mac", {}))


def test_zfnaf_hardware_only_with_a_target(tmp_path):
    acts = np.maximum(np.random.default_rng(1).standard_normal((5, 40)), 0)
    man = E.export_layer(tmp_path / "plain", "a", acts, fmt="zfnaf", brick=256)
    assert man["hardware"] is None                     # storage only: bricks of 256
    with pytest.raises(ValueError, match="made without --target, so it is not packed for "
                                         "cnv_unit"):
        E.load_export(tmp_path / "plain" / "a.json", build=("cnv_unit", {}))
    man = E.export_layer(tmp_path / "hw", "a", acts, fmt="zfnaf", target="cnv_unit",
                         target_params={"brick": 8}, brick=8)
    assert man["hardware"]["params"]["brick"] == 8 and man["format_params"]["brick"] == 8
    E.load_export(tmp_path / "hw" / "a.json", build=("cnv_unit", {"brick": 8, "lanes": 2}))
    with pytest.raises(ValueError, match="brick=8 in the export but brick=16 in the build"):
        E.load_export(tmp_path / "hw" / "a.json", build=("cnv_unit", {}))


@pytest.mark.parametrize("kw, message", [
    ({"brick": 8}, "brick 8 differs from the cnv_unit build's brick 16"),
    ({"target_params": {"max_k": 32}}, "a window of 40 activations .* exceeds max_k=32"),
    ({"bits": 16}, "16-bit entries are not the lane words' 8-bit value field"),
])
def test_zfnaf_refuses_builds_it_does_not_fit(tmp_path, kw, message):
    acts = np.maximum(np.random.default_rng(1).standard_normal((5, 40)), 0)
    with pytest.raises(ValueError, match=message):
        E.export_layer(tmp_path, "a", acts, fmt="zfnaf", target="cnv_unit", **kw)


def test_check_verb_and_cli_pack_zfnaf_for_cnv_unit(tmp_path, capsys):
    np.savez(tmp_path / "a.npz", relu=np.maximum(np.random.default_rng(2).standard_normal((3, 2, 2, 20)), 0))
    out = tmp_path / "x"
    assert main(["export", str(tmp_path / "a.npz"), "-o", str(out), "--format", "zfnaf",
                 "--target", "cnv_unit", "--param", "lanes=2"]) == 0
    assert main(["check", str(out), "--target", "cnv_unit", "--param", "lanes=2"]) == 0
    assert "cnv_unit(" in capsys.readouterr().out
    assert main(["check", str(out), "--target", "cnv_unit", "--param", "brick=32"]) == 2
