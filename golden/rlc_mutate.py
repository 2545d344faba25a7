"""Random corruptions of RLC codes, for fuzzing the validator and the hardware decoder.

One generator for every fuzzer: the cocotb decoder bench (``tb/bench_rlc.py``) and the
hypothesis tests of :mod:`golden.rlc` both draw from it, and both judge the result with
:func:`golden.rlc.decode_lenient` / :func:`golden.rlc.validate`.  Each mutation aims at a
class of bad input the validator names (a mutation may also leave the code valid, which
the oracles must then agree on too).

Every draw comes from the NumPy ``Generator`` passed in, so a seed reproduces a case.
Imports only NumPy.
"""

from __future__ import annotations

import numpy as np

from .rlc import LAST_BIT, MAX_RUN, PAIR_BITS, PAIRS_PER_WORD, RUN_BITS, WORD_BITS

__all__ = ["MUTATIONS", "FUZZ_MIX", "mutate", "mutate_code"]

_LAST = np.uint64(1 << LAST_BIT)
_PAIR_MASK = (1 << PAIR_BITS) - 1
_LEVEL_MAX = (1 << (PAIR_BITS - RUN_BITS)) - 1
# Whole words worth appending: padding with and without bit 63, a lone (31, 0) pair, a
# lone (0, 1) pair (the shapes of a stray final or continuation word).
_SPECIAL_WORDS = (1 << LAST_BIT, 0, MAX_RUN, (1 << LAST_BIT) | MAX_RUN, 1 << RUN_BITS)


def _set_pair(words, w, k, pair):
    shift = np.uint64(PAIR_BITS * k)
    words[w] = (words[w] & ~(np.uint64(_PAIR_MASK) << shift)) | (np.uint64(pair) << shift)


# Each mutation: (rng, words uint64 array, n, w: a random word index) -> (words, n).
# They copy before changing anything.

def _flip(rng, words, n, w):
    """Flip one random bit of word w (any field, bit 63 included)."""
    words = words.copy()
    words[w] ^= np.uint64(1) << np.uint64(rng.integers(0, WORD_BITS))
    return words, n


def _zero_level_pair(rng, words, n, w):
    """Rewrite a pair of word w as (r, 0): padding (r = 0), non-canonical or (31, 0)."""
    words = words.copy()
    k = int(rng.integers(0, PAIRS_PER_WORD))
    _set_pair(words, w, k, rng.integers(0, MAX_RUN + 1))
    return words, n


def _drop(rng, words, n, w):
    """Drop word w, if more than one word is left."""
    return (np.delete(words, w) if len(words) > 1 else words), n


def _duplicate(rng, words, n, w):
    """Repeat word w (a second final word, or a repeated middle word)."""
    return np.insert(words, w, words[w]), n


def _move_final(rng, words, n, w):
    """Clear bit 63 of the last word and set it on word w (no final word, early final)."""
    words = words.copy()
    words[-1] &= ~_LAST
    words[w] |= _LAST
    return words, n


def _append_random(rng, words, n, w):
    """Append a random word (bit 0 clear, bit 63 either way)."""
    return np.append(words, np.uint64(rng.integers(0, 2**63)) * np.uint64(2)), n


def _length(rng, words, n, w):
    """Change the tensor length by up to ±40 (code longer or shorter than n)."""
    return words, max(0, n + int(rng.integers(-40, 41)))


def _keep(rng, words, n, w):
    """No change: valid codes stay in the mix."""
    return words, n


def _padding_pair(rng, words, n, w):
    """Turn a pair of word w into padding (0, 0)."""
    words = words.copy()
    _set_pair(words, w, int(rng.integers(0, PAIRS_PER_WORD)), 0)
    return words, n


def _rewrite_pair(rng, words, n, w):
    """Rewrite a pair of word w as any (run, level); level 0 half of the time."""
    words = words.copy()
    k = int(rng.integers(0, PAIRS_PER_WORD))
    run = int(rng.integers(0, MAX_RUN + 1))
    level = int(rng.integers(0, _LEVEL_MAX + 1)) if rng.random() < 0.5 else 0
    _set_pair(words, w, k, run | (level << RUN_BITS))
    return words, n


def _toggle_final(rng, words, n, w):
    """Toggle bit 63 of word w."""
    words = words.copy()
    words[w] ^= _LAST
    return words, n


def _seal(rng, words, n, w):
    """Move bit 63 from the last word to a new, empty last word."""
    words = words.copy()
    words[-1] &= ~_LAST
    return np.append(words, _LAST), n


def _append_special(rng, words, n, w):
    """Append one of a few telling words (padding, (31, 0), (0, 1), with or without 63)."""
    return np.append(words, np.uint64(_SPECIAL_WORDS[rng.integers(0, len(_SPECIAL_WORDS))])), n


def _truncate(rng, words, n, w):
    """Keep only the first w words (none at all when w is 0)."""
    return words[:w].copy(), n


#: Every mutation by name; the ones that need a word are skipped (left unchanged) on an
#: empty code.
MUTATIONS = {
    "flip": _flip, "zero_level_pair": _zero_level_pair, "drop": _drop,
    "duplicate": _duplicate, "move_final": _move_final, "append_random": _append_random,
    "length": _length, "keep": _keep, "padding_pair": _padding_pair,
    "rewrite_pair": _rewrite_pair, "toggle_final": _toggle_final, "seal": _seal,
    "append_special": _append_special, "truncate": _truncate,
}
_NEED_NO_WORD = {"append_random", "length", "keep", "append_special"}

#: The cocotb decoder bench's mix, in its draw order: changing it (or its order) changes
#: that bench's fuzz corpus for a given seed, and so its recorded figures.
FUZZ_MIX = ("flip", "zero_level_pair", "drop", "duplicate", "move_final", "append_random",
            "length", "keep")


def mutate(rng, words, n, kinds=FUZZ_MIX):
    """One random corruption of the code ``words`` of a tensor of length ``n``.

    ``rng``: a ``numpy.random.Generator``; ``words``: 1-D unsigned 64-bit array (copied,
    never changed in place); ``kinds``: names from :data:`MUTATIONS`, one drawn uniformly.
    Returns ``(words uint64 array, n)``.  Raises TypeError for an ``rng`` that is not a
    Generator, ValueError for an unknown or empty ``kinds``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, not {type(rng).__name__}")
    kinds = tuple(kinds)
    unknown = sorted(set(kinds) - set(MUTATIONS))
    if unknown or not kinds:
        raise ValueError(f"kinds must be names from {sorted(MUTATIONS)}, not {unknown or kinds}")
    words = np.asarray(words, dtype=np.uint64).reshape(-1)
    kind = kinds[int(rng.integers(0, len(kinds)))]
    if not len(words):
        return (MUTATIONS[kind](rng, words, n, None) if kind in _NEED_NO_WORD
                else (words.copy(), n))
    w = int(rng.integers(0, len(words)))
    return MUTATIONS[kind](rng, words, n, w)


def mutate_code(rng, words, n, count, kinds=tuple(MUTATIONS)):
    """``count`` mutations of ``words`` (see :func:`mutate`) one after another, drawn from
    all of :data:`MUTATIONS` by default."""
    for _ in range(count):
        words, n = mutate(rng, words, n, kinds)
    return words, n
