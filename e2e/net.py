"""The end-to-end network: a small convolutional variant of the digits MLP, in NumPy.

Layers (input: scikit-learn's 8×8 digits, pixels in [0, 1], one channel):

=======  ==============================  ===============  =========================
layer    operation                       weight (layout)  runs on
=======  ==============================  ===============  =========================
conv1    3×3 conv, 1 → 16 ch, valid      (16, 3, 3, 1)    cnv_unit (zero-skip input)
conv2    3×3 conv, 16 → 16 ch, valid     (16, 3, 3, 16)   cnv_unit (ZFNAf, channels
                                                          as the brick axis)
fc1      256 → 64                        (64, 256)        csr_spmv (90 % magnitude)
fc2      64 → 32                         (32, 64)         sparse_mac (2:4)
fc3      32 → 10                         (10, 32)         sparse_mac dense fallback
=======  ==============================  ===============  =========================

ReLU after every layer but fc3.  Conv weights are stored OHWI, so the matrix view
``(F, R·S·C)`` (what the exporters and the hardware use) orders a window's activations
``(r, s, c)`` with the channel innermost: each pixel's 16 channels are one brick, as in
Cnvlutin.  Activations are NHWC; conv2's output flattens to 256 in ``(y, x, c)`` order,
which is the order cnv_unit emits (one window = one position, its 16 filters).

Training is plain minibatch SGD with momentum (:class:`pruning.nn.SGD`, which keeps
pruned weights at zero), a few seconds on two cores.
"""
from __future__ import annotations

import numpy as np

from pruning.nn import SGD, softmax_xent

__all__ = ["ConvNet", "im2col", "col2im", "LAYERS", "train"]

LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")
SHAPES = {"conv1": (16, 3, 3, 1), "conv2": (16, 3, 3, 16), "fc1": (64, 256),
          "fc2": (32, 64), "fc3": (10, 32)}


def im2col(a: np.ndarray, k: int = 3) -> np.ndarray:
    """``(N, H, W, C)`` -> ``(N, H-k+1, W-k+1, k·k·C)``: each output position's window in
    ``(r, s, c)`` order (valid convolution, stride 1)."""
    n, h, w, c = a.shape
    ho, wo = h - k + 1, w - k + 1
    cols = [a[:, r:r + ho, s:s + wo, :] for r in range(k) for s in range(k)]
    return np.stack(cols, axis=3).reshape(n, ho, wo, k * k * c)


def col2im(d: np.ndarray, shape: tuple, k: int = 3) -> np.ndarray:
    """The adjoint of :func:`im2col` (window gradients summed back onto the input)."""
    n, h, w, c = shape
    ho, wo = h - k + 1, w - k + 1
    d = d.reshape(n, ho, wo, k * k, c)
    out = np.zeros(shape, dtype=d.dtype)
    for i, (r, s) in enumerate((r, s) for r in range(k) for s in range(k)):
        out[:, r:r + ho, s:s + wo, :] += d[:, :, :, i, :]
    return out


class ConvNet:
    """conv1 → conv2 → fc1 → fc2 → fc3 (see the module docstring); ``params`` holds
    ``<layer>.weight`` and ``<layer>.bias`` (float64)."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.params = {}
        for name, shape in SHAPES.items():
            fan_in = int(np.prod(shape[1:]))
            self.params[f"{name}.weight"] = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
            self.params[f"{name}.bias"] = np.zeros(shape[0])

    def weight(self, name):
        """Layer ``name``'s weight as the matrix ``(outputs, reduction)``."""
        w = self.params[f"{name}.weight"]
        return w.reshape(w.shape[0], -1)

    def forward(self, x, keep=False):
        """Logits of images ``x`` (``(N, 64)`` or ``(N, 8, 8)``, floats in [0, 1])."""
        a = np.asarray(x, dtype=np.float64).reshape(-1, 8, 8, 1)
        cache = {}
        for name in ("conv1", "conv2"):
            cols = im2col(a)
            z = cols @ self.weight(name).T + self.params[f"{name}.bias"]
            cache[name] = (a.shape, cols, z)
            a = np.maximum(z, 0.0)
        a = a.reshape(a.shape[0], -1)
        for name in ("fc1", "fc2", "fc3"):
            z = a @ self.weight(name).T + self.params[f"{name}.bias"]
            cache[name] = (a.shape, a, z)
            a = np.maximum(z, 0.0) if name != "fc3" else z
        return (a, cache) if keep else a

    def loss_and_grads(self, x, y):
        logits, cache = self.forward(x, keep=True)
        loss, d, _ = softmax_xent(logits, y)
        grads = {}
        for name in ("fc3", "fc2", "fc1", "conv2", "conv1"):
            shape, inp, z = cache[name]
            if name != "fc3":
                d = d * (z > 0)
            w = self.params[f"{name}.weight"]
            dm = d.reshape(-1, d.shape[-1])
            im = inp.reshape(-1, inp.shape[-1])
            grads[f"{name}.weight"] = (dm.T @ im).reshape(w.shape)
            grads[f"{name}.bias"] = dm.sum(axis=0)
            dx = dm @ self.weight(name)
            if name == "fc1":
                d = dx.reshape(-1, 4, 4, 16)
            elif name.startswith("conv"):
                d = col2im(dx.reshape(*z.shape[:3], -1), shape)
            else:
                d = dx
        return loss, grads

    def predict(self, x):
        return self.forward(x).argmax(axis=1)

    def accuracy(self, x, y):
        return float((self.predict(x) == y).mean())


def train(model: ConvNet, x, y, *, epochs: int, lr: float = 0.03, momentum: float = 0.9,
          weight_decay: float = 1e-4, batch_size: int = 32, seed: int = 0, masks=None):
    """Minibatch SGD in place; ``masks`` (``{param: keep}``) hold pruned weights at 0."""
    opt = SGD(model.params, lr=lr, momentum=momentum, weight_decay=weight_decay,
              masks=masks)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for lo in range(0, len(y), batch_size):
            idx = order[lo:lo + batch_size]
            _, grads = model.loss_and_grads(x[idx], y[idx])
            opt.step(grads)
    return model
