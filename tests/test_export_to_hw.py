"""End to end: `python -m pruning export` -> the exported $readmemh files -> Verilator -> golden.

The CLI prunes and exports a small model; tb/bench_export.py reads the exported .hex/.mem
files as $readmemh does, drives them into csr_spmv / rlc_decoder / sparse_mac / cnv_unit,
and compares the outputs with golden.  Two width configurations per block, and a mismatched
pairing refused before any beat is sent.  Seven Verilator models in all (csr_spmv default,
csr_spmv 8/8/8 with 4 lanes, rlc_decoder, sparse_mac default and groups=2/width=16,
cnv_unit default and lanes=2/brick=8/filters=8), cached under build/sim.
"""
import json

import numpy as np
import pytest

from pruning.cli import main
from pruning.loader import load_export
from tb.runner import run_bench

pytestmark = pytest.mark.sim

CSR_NARROW = {"value_width": 8, "col_width": 8, "row_width": 8, "lanes": 4, "max_cols": 64,
              "max_rows": 64}


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    d = tmp_path_factory.mktemp("e2e")
    rng = np.random.default_rng(7)
    np.savez(d / "model.npz", **{"fc1.weight": rng.standard_normal((24, 40)).astype(np.float32),
                                 "fc1.bias": np.zeros(24, np.float32),
                                 "fc2.weight": rng.standard_normal((10, 24)).astype(np.float32),
                                 "conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32)})
    assert main(["prune", str(d / "model.npz"), "-o", str(d / "pruned.npz"),
                 "--sparsity", "0.8"]) == 0
    return d


def _export(pruned, name, *args):
    out = pruned / name
    assert main(["export", str(pruned / "pruned.npz"), "-o", str(out), *args]) == 0
    return out


def _params(items):
    return [f"--param={k}={v}" for k, v in items.items()]


def _run(monkeypatch, export_dir, block, params, test_filter, tag):
    monkeypatch.setenv("SPARSEKIT_EXPORT", str(export_dir))
    result = run_bench(block, "tb.bench_export", params=params, test_filter=test_filter,
                       seed=1, tag=tag)
    failed = [t for t in result.tests if not t.passed]
    return result, failed


@pytest.mark.parametrize("params, args", [
    ({}, ["--bits", "16"]),                                            # default build: 16/16/16, 1 lane
    (CSR_NARROW, ["--target", "csr_spmv", *_params(CSR_NARROW)]),      # 8/8/8, 4 lanes
], ids=["default", "narrow-lanes4"])
def test_csr_export_runs_on_its_build(pruned, monkeypatch, params, args):
    out = _export(pruned, f"csr-{len(params)}", "--format", "csr", "--hex-ext", ".mem", *args)
    man = json.loads((out / "fc1.weight.json").read_text())
    assert man["hardware"]["block"] == "csr_spmv"
    assert all(man["hardware"]["params"][k] == v for k, v in params.items())
    assert main(["check", str(out), "--target", "csr_spmv", *_params(params)]) == 0
    result, failed = _run(monkeypatch, out, "csr_spmv", params, r"\.export_csr", "export")
    assert result.tests and not failed, "\n".join(f"{t.name}: {t.message}" for t in failed)
    # three layers, each with its cycle figure; the no-stall run asserted the exact bound
    assert all(len(t.metrics) == 3 for t in result.tests)


def test_rlc_export_runs_on_the_decoder(pruned, monkeypatch):
    for bits, ext in ((8, ".hex"), (16, ".mem")):     # two value widths through one build
        out = _export(pruned, f"rlc-{bits}", "--format", "rlc", "--bits", str(bits),
                      "--hex-ext", ext, "--target", "rlc_decoder")
        assert json.loads((out / "fc2.weight.json").read_text())["hardware"] == {
            "block": "rlc_decoder", "params": {}}
        result, failed = _run(monkeypatch, out, "rlc_decoder", {}, r"\.export_rlc",
                              f"export{bits}")
        assert result.tests and not failed, "\n".join(f"{t.name}: {t.message}" for t in failed)


def test_mismatched_build_is_refused_before_running(pruned, monkeypatch, capsys):
    out = _export(pruned, "csr-lanes4", "--format", "csr", "--target", "csr_spmv",
                  "--param", "lanes=4")
    with pytest.raises(ValueError, match="lanes=4 in the export but lanes=1 in the build"):
        load_export(out / "fc1.weight.json", build=("csr_spmv", {"lanes": 1}))
    capsys.readouterr()
    assert main(["check", str(out), "--target", "csr_spmv", "--param", "value_width=8",
                 "--param", "lanes=4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "value_width=16 in the export but value_width=8" in err
    # The bench refuses too: the default (1-lane) model is never fed the 4-lane words.
    result, failed = _run(monkeypatch, out, "csr_spmv", {}, r"\.export_csr", "mismatch")
    assert failed and all("lanes=4 in the export but lanes=1 in the build" in t.message
                          for t in failed)


NM_WIDE = {"groups": 2, "width": 16}


@pytest.fixture(scope="module")
def pruned24(pruned):
    assert main(["prune", str(pruned / "model.npz"), "-o", str(pruned / "pruned24.npz"),
                 "--nm", "2:4"]) == 0
    return pruned


@pytest.mark.parametrize("params, args", [
    ({}, []),                                                           # 4 groups, int8
    (NM_WIDE, ["--bits", "16", "--target", "sparse_mac", *_params(NM_WIDE)]),  # 2 groups, int16
], ids=["default", "groups2-width16"])
def test_sparse24_export_runs_on_sparse_mac(pruned24, monkeypatch, params, args):
    out = pruned24 / f"nm-{len(params)}"
    assert main(["export", str(pruned24 / "pruned24.npz"), "-o", str(out), "--format",
                 "sparse24", *args]) == 0
    man = json.loads((out / "conv.weight.json").read_text())
    assert man["hardware"]["block"] == "sparse_mac"
    assert all(man["hardware"]["params"][k] == v for k, v in params.items())
    assert man["format_params"]["beats_per_row"] == -(-7 // man["format_params"]["groups"])
    assert main(["check", str(out), "--target", "sparse_mac", *_params(params)]) == 0
    result, failed = _run(monkeypatch, out, "sparse_mac", params, r"\.export_nm", "export")
    assert result.tests and not failed, "\n".join(f"{t.name}: {t.message}" for t in failed)
    assert all(len(t.metrics) == 3 for t in result.tests)


CNV_SMALL = {"lanes": 2, "brick": 8, "filters": 8, "max_k": 64}


@pytest.fixture(scope="module")
def relu_acts(tmp_path_factory):
    """ReLU-like activations: NHWC with 40 channels, NCHW with 20 (zeros about half)."""
    d = tmp_path_factory.mktemp("acts")
    rng = np.random.default_rng(11)
    np.savez(d / "acts.npz", nhwc=np.maximum(rng.standard_normal((2, 3, 3, 40)), 0),
             nchw=np.maximum(rng.standard_normal((3, 20, 2, 2)), 0))
    return d


@pytest.mark.parametrize("params, args", [
    ({}, ["--layers", "nhwc"]),                                  # 4 lanes, bricks of 16, K=40
    (CNV_SMALL, ["--layers", "nchw", "--axis", "1", "--brick", "8"]),  # 2 lanes, bricks of 8
], ids=["default", "lanes2-brick8"])
def test_zfnaf_export_runs_on_cnv_unit(relu_acts, monkeypatch, params, args):
    out = relu_acts / f"zf-{len(params)}"
    assert main(["export", str(relu_acts / "acts.npz"), "-o", str(out), "--format", "zfnaf",
                 "--target", "cnv_unit", *_params(params), *args]) == 0
    man = json.loads(next(out.glob("*.json")).read_text())
    assert man["hardware"]["block"] == "cnv_unit"
    assert man["format_params"]["brick"] == params.get("brick", 16)
    assert main(["check", str(out), "--target", "cnv_unit", *_params(params)]) == 0
    result, failed = _run(monkeypatch, out, "cnv_unit", params, r"\.export_zfnaf", "export")
    assert result.tests and not failed, "\n".join(f"{t.name}: {t.message}" for t in failed)
    assert all(len(t.metrics) == 1 for t in result.tests)
