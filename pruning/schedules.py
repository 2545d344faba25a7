"""Sparsity schedules: one-shot, iterative rounds, gradual polynomial decay.

A schedule answers two questions for a training step ``t``: what sparsity
should the masks have (:meth:`sparsity`), and is ``t`` a step at which the
masks are recomputed (:meth:`should_prune`).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction

import numpy as np

from ._checks import as_fraction, layer_label

# Intermediate schedule targets are rounded half-even to this many decimal
# places: they then print short, and the pruning count (which reads a
# sparsity as the decimal it prints as) is the count of that decimal.
DECIMALS = 12
_CTX = Context(prec=50, rounding=ROUND_HALF_EVEN)
_QUANTUM = Decimal(1).scaleb(-DECIMALS)


def _rounded(value) -> float:
    """``value`` (Fraction or Decimal) rounded half-even to :data:`DECIMALS` places, as float."""
    if isinstance(value, Fraction):
        value = _CTX.divide(Decimal(value.numerator), Decimal(value.denominator))
    return float(value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_CTX))

__all__ = ["OneShot", "PolynomialDecay", "iterative_sparsities"]


def _check_int(label: str, v, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{label} must be an integer >= {minimum}, not {v!r}")
    return int(v)


def _fraction(v, what: str) -> Fraction:
    # as_fraction labels errors with the layer ("weights: ..."): a schedule has none
    try:
        return as_fraction(v, what=what)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix(f"{layer_label(None)}: ")) from None


def _set_ints(obj, names) -> None:
    """Store validated steps as plain ints (np.integer is accepted) in a frozen dataclass."""
    for n in names:
        object.__setattr__(obj, n, int(getattr(obj, n)))


@dataclass(frozen=True)
class OneShot:
    """Prune once to ``target`` at step ``at`` (default 0), then hold it."""
    target: float
    at: int = 0

    def __post_init__(self):
        _fraction(self.target, "target sparsity")
        _check_int("at", self.at, 0)
        _set_ints(self, ("at",))

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
    sparsity is exactly ``final`` (as a float).  ``end - begin`` need not be a
    multiple of ``frequency``: ``end`` itself is always an update step.  The
    formula is evaluated exactly (rationals, with ``initial``/``final`` read
    as the decimals they print as) and rounded half-even to
    :data:`DECIMALS` decimal places, so no binary noise such as
    ``0.30000000000000004`` changes a pruning count.
    """
    initial: float
    final: float
    begin: int
    end: int
    frequency: int = 1
    power: int = 3

    def __post_init__(self):
        fi = _fraction(self.initial, "initial sparsity")
        ff = _fraction(self.final, "final sparsity")
        if fi > ff:
            # a "decay" that un-prunes: masks never grow back, so refuse it
            raise ValueError(f"initial sparsity {self.initial} must not exceed final sparsity "
                             f"{self.final}")
        _check_int("begin", self.begin, 0)
        _check_int("frequency", self.frequency, 1)
        _check_int("power", self.power, 1)
        if isinstance(self.end, bool) or not isinstance(self.end, (int, np.integer)) \
                or self.end <= self.begin:
            raise ValueError(f"end must be an integer step after begin={self.begin}, not {self.end!r}")
        _set_ints(self, ("begin", "end", "frequency", "power"))

    def _update_step(self, step: int) -> int:
        if step >= self.end:
            return self.end
        return self.begin + (step - self.begin) // self.frequency * self.frequency

    def sparsity(self, step: int) -> float:
        if step < self.begin:
            return 0.0
        if step >= self.end:
            return float(self.final)
        frac = Fraction(self._update_step(step) - self.begin, self.end - self.begin)
        fi, ff = as_fraction(self.initial), as_fraction(self.final)
        return _rounded(ff + (fi - ff) * (1 - frac) ** self.power)

    def should_prune(self, step: int) -> bool:
        if step < self.begin or step > self.end:
            return False
        return step == self.end or (step - self.begin) % self.frequency == 0


def iterative_sparsities(final, rounds: int, mode: str = "geometric") -> list:
    """Per-round targets for iterative prune -> fine-tune, ending at ``final``.

    ``"geometric"`` removes the same fraction of the *surviving* weights each
    round (the lottery-ticket recipe: ``s_k = 1 - (1 - final) ** (k / rounds)``);
    ``"linear"`` steps the sparsity evenly (``s_k = final * k / rounds``).

    The last entry is ``final`` itself (same value and type), so the last
    round prunes exactly what a one-shot prune to ``final`` prunes.  The
    earlier entries are floats: the formula evaluated in exact decimal
    arithmetic (``final`` read as the decimal it prints as; the geometric
    root with 50 significant digits, the same on every platform) and rounded
    half-even to :data:`DECIMALS` decimal places.
    """
    f = _fraction(final, "final sparsity")
    _check_int("rounds", rounds, 1)
    if mode not in ("geometric", "linear"):
        raise ValueError(f"unknown iterative mode {mode!r}; choose 'geometric' or 'linear'")
    out = []
    for k in range(1, rounds):
        if mode == "linear":
            out.append(_rounded(f * k / rounds))
        else:
            survive = _CTX.divide(Decimal(f.denominator - f.numerator), Decimal(f.denominator))
            root = _CTX.power(survive, _CTX.divide(Decimal(k), Decimal(rounds)))
            out.append(_rounded(_CTX.subtract(Decimal(1), root)))
    return out + [final]
