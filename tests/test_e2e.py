"""End to end (issue 13): the pruned int8 digits ConvNet through every block in Verilator.

The sim test runs the quick mode of ``python -m e2e`` (3 test images: every layer on its
block, one simulation per layer, the four models cached under build/sim and the trained
network under build/e2e) and asserts exact agreement with the golden integer model, layer
by layer, and every measured cycle count against the block's cycle model.  The other
tests check the software half without a simulator.
"""
import json

import numpy as np
import pytest

from e2e import flow
from e2e.intnet import IntNet, Requant, quantize_input
from e2e.net import ConvNet, col2im, im2col
from e2e.report import cycle_problems, format_table, layer_rows
from tb.runner import PROJECT

CACHE = PROJECT / "build" / "e2e"


def test_requant_rounds_half_up_and_clamps():
    rq = Requant(mult=1 << 14, shift=15, bias=np.array([0, 1]))      # x 0.5
    acc = np.array([[1, 1], [3, 2], [-7, 300]])
    # (acc + bias) / 2, half up: 0.5 -> 1, 1 -> 1, 1.5 -> 2, 1.5 -> 2, -3.5 -> 0, 150.5 -> 127
    assert rq(acc).tolist() == [[1, 1], [2, 2], [0, 127]]
    r = Requant.make(0.0123, [0])
    assert 1 << 14 <= r.mult < 1 << 15 and abs(r.mult / 2 ** r.shift - 0.0123) < 1e-6


def test_im2col_orders_channels_innermost_and_col2im_is_its_adjoint():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 5, 5, 3))
    cols = im2col(a)
    assert cols.shape == (2, 3, 3, 27)
    assert np.array_equal(cols[1, 2, 0, 3 * 4:3 * 5], a[1, 3, 1, :])    # window (r=1, s=1)
    d = rng.standard_normal(cols.shape)
    assert np.isclose((cols * d).sum(), (a * col2im(d, a.shape)).sum())


def test_convnet_gradients_match_finite_differences():
    m = ConvNet(1)
    rng = np.random.default_rng(2)
    x, y = rng.random((3, 64)), np.array([1, 4, 7])
    _, g = m.loss_and_grads(x, y)
    for k in ("conv1.weight", "conv2.weight", "fc1.weight", "fc3.bias"):
        p = m.params[k]
        i = np.unravel_index(np.argmax(np.abs(g[k])), p.shape)
        p[i] += 1e-6
        hi = m.loss_and_grads(x, y)[0]
        p[i] -= 2e-6
        lo = m.loss_and_grads(x, y)[0]
        p[i] += 1e-6
        assert np.isclose(g[k][i], (hi - lo) / 2e-6, rtol=1e-4, atol=1e-8), k


def test_input_quantisation_is_exact():
    x = np.arange(17, dtype=np.float64).repeat(4)[:64][None] / 16
    assert np.array_equal(quantize_input(x).reshape(-1), np.arange(17).repeat(4)[:64] * 7)


@pytest.fixture(scope="module")
def golden_only(tmp_path_factory):
    return flow.run(12, out_dir=tmp_path_factory.mktemp("e2e"), cache_dir=CACHE,
                    hardware=False, log=lambda m: None)


def test_exports_target_the_flow_builds_and_golden_matches_integer_maths(golden_only):
    res = golden_only
    w = res["weights"]
    assert w["fc1"]["format"] == "csr" and w["fc1"]["hardware"]["block"] == "csr_spmv"
    assert w["fc1"]["hardware"]["params"]["lanes"] == 4 and w["fc1"]["sparsity"] >= 0.899
    assert w["fc2"]["format"] == "sparse24" and w["fc2"]["hardware"]["block"] == "sparse_mac"
    assert w["fc2"]["recipe"]["nm"] == "2:4"
    assert w["fc3"]["format"] == "dense" and w["fc3"]["hardware"] is None
    # run() asserted golden (block models) == int64 matrix maths; the pruned int8 net works
    assert res["golden_accuracy"] >= 0.9
    rows = {r["layer"]: r for r in layer_rows(res)}
    assert rows["fc1"]["speedup"] > 4 and rows["fc2"]["speedup"] > 1.9
    assert rows["fc3"]["speedup"] == 1.0
    assert "int8 golden accuracy" in format_table(res)


def test_a_layer_whose_int32_accumulator_could_overflow_is_refused():
    m = ConvNet(0)
    x = np.random.default_rng(0).random((8, 64))
    IntNet(m, x)                                 # |acc| <= sum|q| * 127 + |bias| < 2**31
    m.params["fc1.bias"][:] = 1e9                # a bias far outside int32 at s_in * s_w
    with pytest.raises(ValueError, match="fc1: an int32 accumulator could overflow"):
        IntNet(m, x)


@pytest.mark.sim
def test_quick_run_is_bit_exact_with_exact_cycles(tmp_path):
    res = flow.run(3, out_dir=tmp_path, cache_dir=CACHE, log=lambda m: None)
    assert res["disagree"] == 0
    assert res["layer_mismatch"] == {k: 0 for k in ("conv1", "conv2", "rlc", "fc1", "fc2",
                                                    "fc3")}
    assert res["problems"] == [] and cycle_problems(res) == []
    hw, gold = res["hardware"], res["golden"]
    assert np.array_equal(hw["logits"], gold["logits"])
    assert hw["conv2"]["cycles"] == gold["conv2"]["steps"].sum() + gold["conv2"]["lat"]
    assert hw["fc2"]["w_beats"] == 3 * gold["fc2"]["beats"]
    assert hw["fc1"]["compute"] == [gold["fc1"]["per_image"] - 256] * 3
    # the hardware read the exported files: a tampered activation export is refused
    acts = tmp_path / "work" / "acts" / "fc2.in.q.hex"
    lines = acts.read_text().split()
    lines[0] = "7f" if lines[0] != "7f" else "00"
    acts.write_text("\n".join(lines) + "\n")
    from e2e.hardware import HardwareError, run_layer
    with pytest.raises(HardwareError, match="checksum"):
        run_layer("fc2", "e2e_nm", "sparse_mac", tmp_path / "work",
                  weights=tmp_path / "weights" / "fc2.weight.json",
                  acts=tmp_path / "work" / "acts" / "fc2.in.json", images=3)
    table = json.dumps(layer_rows(res))
    assert '"measured": true' in table
