"""Sparsity schedules: one-shot, iterative rounds, gradual polynomial decay.

A schedule answers two questions for a training step ``t``: what sparsity
should the masks have (:meth:`sparsity`), and is ``t`` a step at which the
masks are recomputed (:meth:`should_prune`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ._checks import as_fraction

__all__ = ["OneShot", "PolynomialDecay", "iterative_sparsities"]


def _check_int(label: str, v, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"{label} must be an integer >= {minimum}, not {v!r}")
    return v


@dataclass(frozen=True)
class OneShot:
    """Prune once to ``target`` at step ``at`` (default 0), then hold it."""
    target: float
    at: int = 0

    def __post_init__(self):
        as_fraction(self.target, what="target sparsity")
        _check_int("at", self.at, 0)

    def sparsity(self, step: int) -> float:
        return float(self.target) if step >= self.at else 0.0

    def should_prune(self, step: int) -> bool:
        return step == self.at


@dataclass(frozen=True)
class PolynomialDecay:
    """Zhu & Gupta (2017) gradual pruning.

    ``s_t = s_f + (s_i - s_f) * (1 - (t_u - begin) / (end - begin)) ** power``
    where ``t_u = begin + floor((t - begin) / frequency) * frequency`` is the
    last update step at or before ``t`` (the masks change only every
    ``frequency`` steps, so the sparsity is piecewise constant), clipped to
    ``end``.  Before ``begin`` nothing is pruned (0.0); from ``end`` on the
    sparsity is ``final``.  ``end - begin`` need not be a multiple of
    ``frequency``: ``end`` itself is always an update step.
    """
    initial: float
    final: float
    begin: int
    end: int
    frequency: int = 1
    power: int = 3

    def __post_init__(self):
        as_fraction(self.initial, what="initial sparsity")
        as_fraction(self.final, what="final sparsity")
        _check_int("begin", self.begin, 0)
        _check_int("frequency", self.frequency, 1)
        _check_int("power", self.power, 1)
        if isinstance(self.end, bool) or not isinstance(self.end, int) or self.end <= self.begin:
            raise ValueError(f"end must be an integer step after begin={self.begin}, not {self.end!r}")

    def _update_step(self, step: int) -> int:
        if step >= self.end:
            return self.end
        return self.begin + (step - self.begin) // self.frequency * self.frequency

    def sparsity(self, step: int) -> float:
        if step < self.begin:
            return 0.0
        frac = (self._update_step(step) - self.begin) / (self.end - self.begin)
        return float(self.final + (self.initial - self.final) * (1.0 - frac) ** self.power)

    def should_prune(self, step: int) -> bool:
        if step < self.begin or step > self.end:
            return False
        return step == self.end or (step - self.begin) % self.frequency == 0


def iterative_sparsities(final: float, rounds: int, mode: str = "geometric") -> list[float]:
    """Per-round targets for iterative prune -> fine-tune, ending at ``final``.

    ``"geometric"`` removes the same fraction of the *surviving* weights each
    round (the lottery-ticket recipe: ``s_k = 1 - (1 - final) ** (k / rounds)``);
    ``"linear"`` steps the sparsity evenly.
    """
    as_fraction(final, what="final sparsity")
    _check_int("rounds", rounds, 1)
    if mode == "geometric":
        return [1.0 - (1.0 - final) ** (k / rounds) for k in range(1, rounds + 1)]
    if mode == "linear":
        return [final * k / rounds for k in range(1, rounds + 1)]
    raise ValueError(f"unknown iterative mode {mode!r}; choose 'geometric' or 'linear'")
