"""Hardware-aware pieces: energy model and ordering, quantisation, activation pruning."""
import numpy as np
import pytest

from pruning import activations as A
from pruning import energy as EN
from pruning.quant import dequantize, quantize
from pruning.export import export_layer, load_export
from pruning.quant import check_quantized


def test_layer_energy_hand_computed():
    cost = EN.LayerCost.linear((10, 20))  # 200 weights, 20 in, 10 out, 1 position
    e = EN.layer_energy(cost, nnz=50)
    assert e["weights"] == pytest.approx(50 * 645)
    assert e["activations"] == pytest.approx(30 * 645)
    assert e["compute"] == pytest.approx(50 * (2 * 1 + 3.1 + 0.1))
    f = EN.layer_energy(cost, nnz=50, arith="float", bits=8, table={"dram": 100.0})
    assert f["weights"] == pytest.approx(50 * 105 * 0.25)
    assert f["compute"] == pytest.approx(50 * (2 * 0.25 + 3.7 + 0.9))
    conv = EN.LayerCost.conv((4, 3, 3, 3), (8, 8), (6, 6))
    assert EN.layer_energy(conv, act_density=0.5)["macs"] == 108 * 36 * 0.5
    with pytest.raises(ValueError, match="unknown energy table"):
        EN.layer_energy(cost, table={"hbm": 1.0})


def test_energy_order_and_energy_aware_prune():
    costs = {"small": EN.LayerCost.linear((4, 4)), "big": EN.LayerCost.linear((64, 64)),
             "mid": EN.LayerCost.linear((16, 16))}
    assert EN.energy_order(costs) == ["big", "mid", "small"]
    rng = np.random.default_rng(0)
    weights = {n: rng.standard_normal((c.n_out, c.n_in)) for n, c in costs.items()}
    visited = []

    def finetune(masks):
        visited.append({n: 1 - m.mean() for n, m in masks.items()})
        for n, m in masks.items():
            weights[n][~m] = 0.0

    def evaluate():
        # A toy accuracy: falls with the total fraction of weights removed.
        kept = sum(np.count_nonzero(w) for w in weights.values())
        total = sum(w.size for w in weights.values())
        return kept / total

    out = EN.energy_aware_prune(weights, costs, evaluate, finetune, floor=0.2,
                                steps=(0.5, 0.8, 0.9))
    assert out["order"] == ["big", "mid", "small"]
    # The big layer is pruned first, as far as the floor allows.
    assert visited[0]["big"] == pytest.approx(0.5, abs=0.01) and visited[0]["mid"] == 0.0
    # Kept fractions (4368 weights): big 0.9 -> 682/4368 < 0.2, undone; mid 0.9 -> 861/4368,
    # undone; small 0.8 -> 873/4368 = 0.1999, undone.
    assert out["sparsity"] == {"big": 0.8, "mid": 0.8, "small": 0.5}
    assert evaluate() == pytest.approx(878 / 4368, abs=1e-3)
    assert out["energy_after"] < out["energy_before"]


@pytest.mark.parametrize("bits", [8, 16])
def test_quantize_symmetric_per_tensor_and_row(bits):
    w = np.array([[1.0, -0.5, 0.0], [0.003, 0.02, -0.04], [0.0, 0.0, 0.0]])
    qmax = 2 ** (bits - 1) - 1
    t = quantize(w, bits=bits)
    assert t.q.dtype == (np.int8 if bits == 8 else np.int16)
    assert t.scale == pytest.approx(1.0 / qmax) and t.q[0, 0] == qmax and t.q.min() >= -qmax
    r = quantize(w, bits=bits, per="row")
    assert r.scale.tolist() == pytest.approx([1 / qmax, 0.04 / qmax, 1.0])  # all-zero row: 1.0
    assert r.q[1, 2] == -qmax and (r.q[2] == 0).all()
    assert np.allclose(dequantize(r.q, r.scale, "row"), w, atol=0.5 / qmax)
    assert (t.q[w == 0] == 0).all()  # pruned weights stay pruned
    if bits == 8:
        assert t.extra_zeros == 1  # 0.003 * 127 = 0.38 rounds to 0 at 8 bits per tensor


def test_quantize_round_half_even():
    w = np.array([127.0, 0.5, 1.5, 2.5, -0.5])
    assert quantize(w).q.tolist() == [127, 0, 2, 2, 0]


def test_activation_pruning_threshold():
    a = np.array([0.0, 0.0, 0.1, 0.2, 0.3, 0.5, 1.0, 3.0])
    t = A.threshold_for_sparsity(a, 0.5)
    pruned = A.prune_activations(a, t)
    assert A.activation_sparsity(pruned) == 0.5 and pruned.tolist()[-4:] == [0.3, 0.5, 1.0, 3.0]
    assert A.threshold_for_sparsity(a, 0.25) == 0.0  # ReLU zeros already suffice
    assert A.prune_activations(a, 0.3).tolist() == [0, 0, 0, 0, 0.3, 0.5, 1.0, 3.0]
    # Tied magnitudes at the threshold all go (a threshold cannot split them).
    tied = np.array([0.0, 0.2, 0.2, 1.0])
    assert A.activation_sparsity(A.prune_activations(tied, A.threshold_for_sparsity(tied, 0.5))) == 0.75


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
