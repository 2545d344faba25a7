"""A small NumPy MLP (ReLU hidden layers, softmax cross-entropy) and masked SGD.

Parameters live in one dict, torch-style: ``fc{i}.weight`` of shape
``(out, in)`` and ``fc{i}.bias``.  The forward pass is ``h = x @ W.T + b``.
Masks (``True`` = keep) are enforced by :class:`SGD` on every update: the
gradient, the momentum buffer and the weight are all zeroed at pruned
positions, so a pruned weight stays exactly 0.0 and momentum cannot revive it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["MLP", "SGD", "softmax_xent"]


def softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean cross-entropy, its gradient wrt the logits, and the softmax probabilities."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    prob = e / e.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    loss = float(-np.log(np.maximum(prob[np.arange(n), y], 1e-300)).mean())
    grad = prob.copy()
    grad[np.arange(n), y] -= 1.0
    return loss, grad / n, prob


class MLP:
    """Fully connected ReLU network.

    Parameters: ``sizes`` layer widths ``[in, hidden..., out]``; ``seed`` for
    He-uniform initialisation (``default_rng(seed)``); ``dtype`` of the
    parameters.
    """

    def __init__(self, sizes, seed: int = 0, dtype=np.float64):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"MLP needs at least two positive layer sizes, not {sizes}")
        self.sizes = sizes
        rng = np.random.default_rng(seed)
        self.params = {}
        for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = np.sqrt(6.0 / fi)
            self.params[f"fc{i}.weight"] = rng.uniform(-bound, bound, (fo, fi)).astype(dtype)
            self.params[f"fc{i}.bias"] = np.zeros(fo, dtype=dtype)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def weight_names(self) -> list[str]:
        return [f"fc{i}.weight" for i in range(self.n_layers)]

    def state(self) -> dict:
        return {k: v.copy() for k, v in self.params.items()}

    def load(self, state: dict) -> None:
        for k in self.params:
            self.params[k] = np.array(state[k], dtype=self.params[k].dtype)

    def forward(self, x, act_thresholds=None, keep=False):
        """Logits for ``x`` ``(n, in)``.

        ``act_thresholds`` (one per hidden layer, or ``None``) zero hidden
        activations with ``|a| < threshold`` (Cnvlutin-style activation
        pruning).  With ``keep=True`` also returns each layer's input and
        pre-activation, for backprop.
        """
        a = np.asarray(x, dtype=self.params["fc0.weight"].dtype)
        if a.ndim != 2 or a.shape[1] != self.sizes[0]:
            raise ValueError(f"layer 'fc0.weight': input shape {np.shape(x)} does not match "
                             f"{self.sizes[0]} input features")
        cache = []
        for i in range(self.n_layers):
            z = a @ self.params[f"fc{i}.weight"].T + self.params[f"fc{i}.bias"]
            cache.append((a, z))
            if i < self.n_layers - 1:
                a = np.maximum(z, 0.0)
                if act_thresholds is not None and act_thresholds[i] is not None:
                    a = np.where(np.abs(a) < act_thresholds[i], 0.0, a)
            else:
                a = z
        return (a, cache) if keep else a

    def loss_and_grads(self, x, y) -> tuple[float, dict]:
        logits, cache = self.forward(x, keep=True)
        loss, dz, _ = softmax_xent(logits, np.asarray(y))
        grads = {}
        for i in reversed(range(self.n_layers)):
            a, z = cache[i]
            grads[f"fc{i}.weight"] = dz.T @ a
            grads[f"fc{i}.bias"] = dz.sum(axis=0)
            if i:
                da = dz @ self.params[f"fc{i}.weight"]
                dz = da * (cache[i - 1][1] > 0)
        return loss, grads

    def predict(self, x, act_thresholds=None) -> np.ndarray:
        return self.forward(x, act_thresholds).argmax(axis=1)

    def accuracy(self, x, y, act_thresholds=None) -> float:
        return float((self.predict(x, act_thresholds) == np.asarray(y)).mean())

    def hidden_activations(self, x) -> list[np.ndarray]:
        """Post-ReLU activations of every hidden layer (inputs of fc1, fc2, ...)."""
        _, cache = self.forward(x, keep=True)
        return [cache[i][0] for i in range(1, self.n_layers)]


class SGD:
    """SGD with momentum and L2 weight decay (on weights only), mask-aware.

    Parameters: ``lr``, ``momentum`` (0 disables), ``weight_decay``.
    ``masks`` maps parameter name to a keep-mask; :meth:`set_masks` changes
    them (and zeroes the newly pruned weights and their momentum at once).
    """

    def __init__(self, params: dict, lr: float = 0.05, momentum: float = 0.9,
                 weight_decay: float = 0.0, masks: dict | None = None):
        if not lr > 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(f"SGD needs lr > 0, 0 <= momentum < 1, weight_decay >= 0 "
                             f"(got {lr}, {momentum}, {weight_decay})")
        self.params = params
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.velocity = {k: np.zeros_like(v) for k, v in params.items()}
        self.masks = {}
        self.set_masks(masks or {})

    def set_masks(self, masks: dict) -> None:
        for k, m in masks.items():
            if k not in self.params:
                raise ValueError(f"layer {k!r}: mask for a parameter the model does not have")
            if np.shape(m) != self.params[k].shape:
                raise ValueError(f"layer {k!r}: mask shape {np.shape(m)} does not match "
                                 f"weight shape {self.params[k].shape}")
        self.masks = {k: np.asarray(m, dtype=bool) for k, m in masks.items()}
        for k, m in self.masks.items():
            self.params[k][~m] = 0.0
            self.velocity[k][~m] = 0.0

    def step(self, grads: dict) -> None:
        for k, g in grads.items():
            p = self.params[k]
            if self.weight_decay and k.endswith("weight"):
                g = g + self.weight_decay * p
            m = self.masks.get(k)
            if m is not None:
                g = np.where(m, g, 0.0)
            v = self.velocity[k]
            v *= self.momentum
            v -= self.lr * g
            p += v
            if m is not None:
                p[~m] = 0.0
                v[~m] = 0.0
