"""Real ReLU data for the Cnvlutin bench and ``make bench``: the digits MLP of
:mod:`pruning.digits`, its first hidden layer's ReLU activations (128 units = the channel
axis, one window per image) and the weights of the next layer, quantised to int8 and
written / read back through ``python -m pruning export --format zfnaf`` files.

No cocotb here (``bench/bench_cnv.py`` imports it too).
"""

import functools
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from golden import cnv

__all__ = ["digits_model", "relu_data", "export_zfnaf", "threshold_levels", "relu_case"]

BITS = 8


@functools.lru_cache(maxsize=1)
def digits_model(seed=0):
    """(model, data): the dense digits MLP trained as in pruning.digits (seeded)."""
    from pruning import digits
    data = digits.load(seed)
    return digits.train_dense(data, seed), data


def relu_data(images=32, filters=16, seed=0):
    """Quantised ``(acts (images, 128) int8, scale, weights (filters, 128) int8, float
    activations)``: test-split images' first hidden ReLU activations (per-tensor int8),
    and the first ``filters`` rows of ``fc1.weight`` (per-tensor int8)."""
    from pruning.quant import quantize
    model, (_, _, xte, _) = digits_model(seed)
    acts = model.hidden_activations(xte[:images])[0]
    qa = quantize(acts, bits=BITS, per="tensor", name="relu1")
    qw = quantize(model.params["fc1.weight"][:filters], bits=BITS, per="tensor", name="fc1")
    return qa.q.astype(np.int64), float(qa.scale), qw.q.astype(np.int64), acts


def threshold_levels(acts_float, scale, target):
    """Integer threshold T (in quantised units) reaching ``target`` activation sparsity
    on ``acts_float`` (pruning.activations.threshold_for_sparsity, then rounded up)."""
    from pruning.activations import threshold_for_sparsity
    t = threshold_for_sparsity(acts_float, target)
    return int(np.ceil(t / scale)) if t > 0 else 0


def export_zfnaf(acts_float, out_dir=None, *, lanes, brick=16):
    """Run ``python -m pruning export --format zfnaf`` on the float activations, load the
    files back (pruning.loader.load_export checks every file) and return ``(q, windows)``:
    the quantised activations and each image's lane streams built from the exported
    ``entries`` and ``counts`` (:func:`golden.cnv.streams_from_zfnaf`)."""
    from pruning.loader import load_export
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir or tmp)
        src = Path(tmp) / "acts.npz"
        np.savez(src, relu1=np.asarray(acts_float, dtype=np.float64))
        proc = subprocess.run([sys.executable, "-m", "pruning", "export", str(src), "-o", str(out),
                               "--format", "zfnaf", "--bits", str(BITS), "--brick", str(brick),
                               "--layers", "relu1"], capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"python -m pruning export failed: {proc.stderr.strip()}")
        loaded = load_export(out / "relu1.json")
    arrays = loaded["arrays"]
    q = np.asarray(loaded["q"], dtype=np.int64)
    k_len = q.shape[-1]
    windows = cnv.streams_from_zfnaf(arrays, k_len, lanes=lanes, brick=brick,
                                     value_width=BITS, entries=arrays["entries"])
    return q, windows


def relu_case(images, *, filters, lanes, brick=16, target=0.7):
    """One bench case: ``(q, windows, w, T)``: the quantised activations of ``images``
    test images as read back from the export files (checked equal to the quantised ones),
    their lane streams, ``filters`` weight rows, and T for ``target`` activation sparsity."""
    q, scale, w, acts_f = relu_data(images=images, filters=filters)
    q2, windows = export_zfnaf(acts_f, lanes=lanes, brick=brick)
    if not np.array_equal(q2, q):
        raise AssertionError("the exported activations differ from the quantised ones")
    return q2, windows, w, threshold_levels(acts_f, scale, target)
