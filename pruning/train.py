"""Training loops that make the schedules real.

* :func:`train` -- minibatch SGD/momentum with masks held through every
  update, and optionally a schedule (gradual pruning) recomputing the masks.
* :func:`one_shot`, :func:`iterative` -- prune once / in rounds, fine-tuning
  after each (Han et al. 2015).
* :func:`lottery_ticket` -- iterative magnitude pruning with rewind to the
  initialisation or to iteration ``k`` (Frankle & Carbin 2019; Frankle et
  al. 2020 for late rewinding).
* :func:`hessian_diag` -- OBD's diagonal Hessian estimate for an :class:`MLP`.
* :func:`mean_grads` -- averaged gradients for the Taylor criterion.
"""
from __future__ import annotations

import numpy as np

from .api import prune
from .nn import MLP, SGD, softmax_xent
from .progress import Progress

__all__ = ["train", "one_shot", "iterative", "lottery_ticket", "gradual",
           "hessian_diag", "mean_grads", "magnitude_masks"]


def train(model: MLP, x, y, *, epochs: int = 10, lr: float = 0.05, momentum: float = 0.9,
          weight_decay: float = 0.0, batch_size: int = 32, seed: int = 0, masks=None,
          schedule=None, prune_kwargs=None, on_step=None, progress: Progress | None = None) -> SGD:
    """Train ``model`` in place; returns the optimizer (its ``masks`` are final).

    ``masks`` keep pruned weights at exactly zero.  ``schedule`` (an object with
    ``should_prune(step)``/``sparsity(step)``, e.g. :class:`PolynomialDecay`)
    recomputes magnitude masks at its update steps with ``prune_kwargs``.
    ``on_step(step, model)`` is called after every update (for rewinding).
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"training data needs equal non-zero sample counts, got {x.shape[0]} "
                         f"inputs and {y.shape[0]} labels")
    opt = SGD(model.params, lr=lr, momentum=momentum, weight_decay=weight_decay, masks=masks)
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    step = 0
    for _ in range(epochs):
        order = rng.permutation(n)
        for lo in range(0, n, batch_size):
            if schedule is not None and schedule.should_prune(step):
                s = schedule.sparsity(step)
                opt.set_masks(magnitude_masks(model, s, **(prune_kwargs or {})))
            idx = order[lo:lo + batch_size]
            _, grads = model.loss_and_grads(x[idx], y[idx])
            opt.step(grads)
            step += 1
            if on_step is not None:
                on_step(step, model)
        if progress is not None:
            progress.update()
    return opt


def magnitude_masks(model: MLP, sparsity, scope: str = "layer", **kw) -> dict:
    """Magnitude masks over the model's weight matrices (biases are not pruned)."""
    ws = {k: model.params[k] for k in model.weight_names}
    return prune(ws, sparsity, scope=scope, **kw).masks


def one_shot(model: MLP, x, y, sparsity, *, finetune_epochs: int = 0, scope: str = "layer",
             prune_kwargs=None, **train_kw) -> dict:
    """Prune a trained model once, then optionally fine-tune with the masks held."""
    masks = magnitude_masks(model, sparsity, scope=scope, **(prune_kwargs or {}))
    opt = SGD(model.params, masks=masks)  # zeroes the pruned weights
    if finetune_epochs:
        opt = train(model, x, y, epochs=finetune_epochs, masks=masks, **train_kw)
    return opt.masks


def iterative(model: MLP, x, y, sparsities, *, epochs_per_round: int = 5, scope: str = "layer",
              prune_kwargs=None, evaluate=None, **train_kw) -> list:
    """Prune -> fine-tune for each target in ``sparsities`` (increasing).

    Returns ``[(sparsity, masks, evaluate(model) or None), ...]``.
    """
    history = []
    for s in sparsities:
        masks = magnitude_masks(model, s, scope=scope, **(prune_kwargs or {}))
        train(model, x, y, epochs=epochs_per_round, masks=masks, **train_kw)
        history.append((s, masks, evaluate(model) if evaluate else None))
    return history


def gradual(model: MLP, x, y, schedule, *, epochs: int, scope: str = "layer",
            prune_kwargs=None, **train_kw) -> dict:
    """Train with Zhu & Gupta gradual pruning; returns the final masks."""
    kw = dict(prune_kwargs or {})
    kw["scope"] = scope
    opt = train(model, x, y, epochs=epochs, schedule=schedule, prune_kwargs=kw, **train_kw)
    return opt.masks


def lottery_ticket(model: MLP, x, y, sparsities, *, epochs: int = 20, rewind_iteration: int = 0,
                   scope: str = "layer", prune_kwargs=None, evaluate=None, **train_kw) -> list:
    """Iterative magnitude pruning with rewinding.

    Train; prune to the next target (per layer by default, as Frankle &
    Carbin); reset the surviving weights to their values at iteration
    ``rewind_iteration`` (0 = the initialisation); retrain; repeat.  Returns
    ``[(sparsity, masks, evaluate(model) or None), ...]`` after each retrain,
    the first entry being the dense run at sparsity 0.
    """
    if rewind_iteration < 0:
        raise ValueError(f"rewind_iteration must be >= 0, not {rewind_iteration}")
    rewind = {"state": model.state() if rewind_iteration == 0 else None}

    def grab(step, m):
        if step == rewind_iteration:
            rewind["state"] = m.state()

    train(model, x, y, epochs=epochs, on_step=grab, **train_kw)
    if rewind["state"] is None:
        raise ValueError(f"rewind_iteration {rewind_iteration} is past the end of training")
    history = [(0.0, None, evaluate(model) if evaluate else None)]
    for s in sparsities:
        ws = {k: model.params[k] for k in model.weight_names}
        masks = prune(ws, s, scope=scope, **(prune_kwargs or {})).masks
        model.load(rewind["state"])
        train(model, x, y, epochs=epochs, masks=masks, **train_kw)
        history.append((s, masks, evaluate(model) if evaluate else None))
    return history


def hessian_diag(model: MLP, x, y, batch_size: int = 256) -> dict:
    """Diagonal of the loss Hessian wrt every weight matrix, as in OBD.

    Uses LeCun et al.'s (1989) backpropagation of second derivatives with the
    Gauss-Newton (Levenberg-Marquardt) approximation: off-diagonal terms and
    the second derivative of ReLU are dropped, and at the output the diagonal
    of the softmax cross-entropy Hessian, ``p_i (1 - p_i)``, is used.  For a
    model with a single layer this is the exact Hessian diagonal.  The loss
    is the mean over ``x``.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    n = x.shape[0]
    if n == 0 or y.shape[0] != n:
        raise ValueError(f"hessian_diag needs equal non-zero sample counts, got {n} and {y.shape[0]}")
    out = {k: np.zeros_like(model.params[k]) for k in model.weight_names}
    for lo in range(0, n, batch_size):
        xb, yb = x[lo:lo + batch_size], y[lo:lo + batch_size]
        logits, cache = model.forward(xb, keep=True)
        _, _, prob = softmax_xent(logits, yb)
        d2z = prob * (1.0 - prob) / n
        for i in reversed(range(model.n_layers)):
            a, _ = cache[i]
            out[f"fc{i}.weight"] += d2z.T @ (a * a)
            if i:
                w = model.params[f"fc{i}.weight"]
                d2z = (d2z @ (w * w)) * (cache[i - 1][1] > 0)
    return out


def mean_grads(model: MLP, x, y) -> dict:
    """Gradient of the mean loss over ``(x, y)`` for every weight matrix."""
    _, grads = model.loss_and_grads(x, y)
    return {k: grads[k] for k in model.weight_names}
