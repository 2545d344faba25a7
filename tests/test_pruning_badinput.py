"""Bad input gets a ValueError naming the layer, before anything is computed or written."""
import numpy as np
import pytest

from pruning import activations, quant
from pruning.api import prune


GOOD = np.ones((4, 4), np.float32)


@pytest.mark.parametrize("w, kw, msg", [
    (np.array([[1.0, np.nan]]), {}, "non-finite value.*NaN at index \\(0, 1\\)"),
    (np.array([[np.inf, 1.0]]), {}, "non-finite value.*inf at index \\(0, 0\\)"),
    (GOOD, {"sparsity": 1.0}, "sparsity must be in \\[0, 1\\)"),
    (GOOD, {"sparsity": -0.5}, "sparsity must be in \\[0, 1\\)"),
    (GOOD, {"nm": "4:4"}, "N:M needs 1 <= N < M"),
    (GOOD, {"nm": "5:4"}, "N:M needs 1 <= N < M"),
    (GOOD, {"nm": "two:four"}, "N:M must look like"),
    (np.zeros((0, 4), np.float32), {}, "empty"),
    (np.ones((4, 4), np.int8), {}, "floating-point"),
    (np.ones((4, 4), bool), {}, "floating-point"),
    (GOOD, {"criterion": "wanda", "inputs": {"fc1": np.ones((3, 4)), "fc2": np.ones((3, 5))}},
     "calibration inputs shape"),
    (GOOD, {"criterion": "taylor", "grads": {"fc1": GOOD, "fc2": np.ones((4, 3))}}, "gradient shape"),
    (GOOD, {"criterion": "obd", "hessians": {"fc1": GOOD, "fc2": np.full((4, 4), np.nan)}},
     "Hessian diagonal has"),
    (GOOD, {"granularity": "kernel"}, "kernel granularity needs a 4-D"),
    (GOOD, {"granularity": "block", "block": 0}, "positive integer block"),
    (GOOD, {"granularity": "filter", "scope": "row"}, "scope 'row'"),
    (GOOD, {"axis": 3, "granularity": "vector"}, "axis 3 is out of range"),
    (GOOD, {"p": 0.5, "granularity": "row"}, "p >= 1"),
])
def test_bad_input_names_layer(w, kw, msg):
    # Layer-specific problems name that layer (fc2); a bad option common to all
    # layers is reported against the first layer it fails on (fc1).
    kw = dict(kw)
    s = kw.pop("sparsity", 0.5)
    layer = "fc2" if w is not GOOD or "inputs" in kw or "grads" in kw or "hessians" in kw else "fc1"
    with pytest.raises(ValueError, match=f"layer '{layer}'.*{msg}"):
        prune({"fc1": GOOD, "fc2": w}, s, **kw)


def test_nothing_pruned_when_a_later_layer_is_bad():
    w1 = np.ones((2, 2))
    with pytest.raises(ValueError, match="layer 'b'"):
        prune({"a": w1, "b": np.array([[np.nan]])}, 0.5)
    assert (w1 == 1).all()  # input arrays are never modified


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="layer 'q'.*8 or 16"):
        quant.quantize(GOOD, bits=4, name="q")
    with pytest.raises(ValueError, match="layer 'q'.*floating-point"):
        quant.quantize(np.ones(3, np.int32), name="q")
    with pytest.raises(ValueError, match="layer 'a'.*threshold must be finite"):
        activations.prune_activations(GOOD, float("nan"), name="a")
    with pytest.raises(ValueError, match="nothing to prune"):
        prune({}, 0.5)
    with pytest.raises(ValueError, match="layer 'x'.*no sparsity given"):
        prune({"x": GOOD}, {"y": 0.5})
    with pytest.raises(ValueError, match="global scope"):
        prune({"x": GOOD}, 0.5, scope="global", nm="2:4")


def test_review_item_12_errors_are_value_errors_naming_the_layer():
    with pytest.raises(ValueError, match="layer 'r': weights are not a rectangular numeric array"):
        prune({"r": [[1.0, 2.0], [3.0]]}, 0.5)
    with pytest.raises(ValueError, match="layer 'q': quantisation width must be the integer 8 or 16"):
        quant.quantize(GOOD, bits=8.0, name="q")
    with pytest.raises(ValueError, match="layer 'q': quantisation width"):
        quant.quantize(GOOD, bits=True, name="q")
    from pruning.export import export_layer
    with pytest.raises(ValueError, match="layer 'z': zfnaf brick must be an integer, not 16.0"):
        export_layer("/nonexistent/never-written", "z", GOOD, fmt="zfnaf", brick=16.0)
    with pytest.raises(ValueError, match="layer 'z': zfnaf channel axis must be an integer"):
        export_layer("/nonexistent/never-written", "z", GOOD, fmt="zfnaf", axis=1.0)
    with pytest.raises(ValueError, match="layer 'z': zfnaf channel axis 2 is out of range"):
        export_layer("/nonexistent/never-written", "z", GOOD, fmt="zfnaf", axis=2)


@pytest.mark.parametrize("w", [np.arange(1.0, 5.0), np.float64(3.0)])
def test_per_row_quantisation_needs_two_axes(w):
    # Review item 13: a 1-D weight used to get one scale per element.
    with pytest.raises(ValueError, match="layer 'b': per-row quantisation needs a weight with at "
                                         "least 2 axes.*use per='tensor'"):
        quant.quantize(w, per="row", name="b")
    assert quant.quantize(w, per="tensor").scale.shape == ()
