"""Accuracy against sparsity on scikit-learn's bundled ``load_digits`` (no download).

scikit-learn is an optional extra (``pip install .[data]``); only this module
needs it.  The data set is 1797 8x8 digit images; a seeded 75/25 split holds
out 449 images.  The network is an MLP 64-128-64-10 trained with SGD and
momentum (:data:`TRAIN`).

Methods compared at each sparsity (magnitude criterion, ``scope`` global by
default, the one count covering all three weight matrices):

* ``one-shot``: prune the trained dense net, no retraining;
* ``one-shot+ft``: then fine-tune with the masks held (Han et al.);
* ``iterative``: prune -> fine-tune over ``rounds`` geometric steps;
* ``lottery``: iterative magnitude pruning with rewind to the
  initialisation, retraining from scratch each round (Frankle & Carbin);
* ``gradual``: Zhu & Gupta polynomial schedule during one training run.
"""
from __future__ import annotations

import numpy as np

from . import train as T
from .activations import activation_sparsity, threshold_for_sparsity
from .nn import MLP
from .progress import Progress
from .schedules import PolynomialDecay, iterative_sparsities

__all__ = ["load", "train_dense", "sweep", "activation_sweep", "SIZES", "TRAIN", "METHODS"]

SIZES = (64, 128, 64, 10)
TRAIN = {"epochs": 30, "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4, "batch_size": 32}
FINETUNE = {"lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4, "batch_size": 32}
METHODS = ("one-shot", "one-shot+ft", "iterative", "lottery", "gradual")


def load(seed: int = 0, test_fraction: float = 0.25):
    """``(x_train, y_train, x_test, y_test)``, pixels scaled to [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the digits experiment needs scikit-learn: pip install "
                          "'sparse-dnn-hwkit[data]' (or scikit-learn)") from exc
    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(y.size)
    n_test = int(round(y.size * test_fraction))
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te]


def train_dense(data, seed: int = 0) -> MLP:
    xtr, ytr, _, _ = data
    model = MLP(SIZES, seed=seed)
    T.train(model, xtr, ytr, seed=seed, **TRAIN)
    return model


def sweep(sparsities=(0.5, 0.7, 0.8, 0.9, 0.95), methods=METHODS, *, seed: int = 0,
          scope: str = "global", finetune_epochs: int = 15, rounds: int = 3,
          progress: bool | None = None) -> dict:
    """Run every method at every sparsity; returns ``{"dense": acc, "rows": [...]}``.

    Each row: ``{"method", "sparsity" (requested), "achieved", "accuracy"}``
    with accuracy on the held-out split.
    """
    data = load(seed)
    xtr, ytr, xte, yte = data
    dense = train_dense(data, seed)
    dense_state = dense.state()
    dense_acc = dense.accuracy(xte, yte)
    rows = []
    bar = Progress(len(sparsities) * len(methods), "digits sweep", enabled=progress)

    def achieved(model):
        w = [model.params[k] for k in model.weight_names]
        return 1.0 - sum(np.count_nonzero(a) for a in w) / sum(a.size for a in w)

    for s in sparsities:
        for method in methods:
            model = MLP(SIZES, seed=seed)
            model.load(dense_state)
            ft = dict(FINETUNE, seed=seed + 1)
            if method == "one-shot":
                T.one_shot(model, xtr, ytr, s, scope=scope)
            elif method == "one-shot+ft":
                T.one_shot(model, xtr, ytr, s, scope=scope, finetune_epochs=finetune_epochs, **ft)
            elif method == "iterative":
                T.iterative(model, xtr, ytr, iterative_sparsities(s, rounds), scope=scope,
                            epochs_per_round=max(1, finetune_epochs // rounds) + 2, **ft)
            elif method == "lottery":
                model = MLP(SIZES, seed=seed)
                T.lottery_ticket(model, xtr, ytr, iterative_sparsities(s, rounds), scope=scope,
                                 seed=seed, **TRAIN)
            elif method == "gradual":
                model = MLP(SIZES, seed=seed)
                steps = -(-xtr.shape[0] // TRAIN["batch_size"])
                sched = PolynomialDecay(0.0, s, begin=5 * steps, end=20 * steps, frequency=steps)
                T.gradual(model, xtr, ytr, sched, scope=scope, seed=seed,
                          epochs=TRAIN["epochs"] + 10,
                          **{k: v for k, v in TRAIN.items() if k != "epochs"})
            else:
                raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
            rows.append({"method": method, "sparsity": float(s), "achieved": achieved(model),
                         "accuracy": model.accuracy(xte, yte)})
            bar.update(note=f"{method} {s:g}")
    bar.close()
    return {"dense": dense_acc, "rows": rows, "scope": scope, "seed": seed, "sizes": list(SIZES)}


def activation_sweep(targets=(0.0, 0.6, 0.7, 0.8, 0.9), *, seed: int = 0, model=None) -> dict:
    """Accuracy cost of Cnvlutin-style activation pruning on the dense digits MLP.

    For each target, every hidden layer gets the threshold that makes that
    fraction of its *training-set* activations zero (ReLU zeros included);
    the test split measures the resulting activation sparsity and accuracy.
    """
    data = load(seed)
    xtr, ytr, xte, yte = data
    model = model or train_dense(data, seed)
    train_acts = model.hidden_activations(xtr)
    base = model.accuracy(xte, yte)
    rows = []
    for t in targets:
        thr = [threshold_for_sparsity(a, t) for a in train_acts]
        _, cache = model.forward(xte, act_thresholds=thr, keep=True)
        acts = [cache[i][0] for i in range(1, model.n_layers)]
        sp = float(np.mean([activation_sparsity(a) for a in acts]))
        acc = model.accuracy(xte, yte, act_thresholds=thr)
        rows.append({"target": float(t), "thresholds": [float(v) for v in thr],
                     "activation_sparsity": sp, "accuracy": acc, "cost": base - acc})
    return {"dense": base, "rows": rows}
