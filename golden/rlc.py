"""Bit-exact golden model of the Eyeriss-style run-length code (RLC).

Format (Chen et al., ISSCC 2016 / JSSC 2017, as fixed for this kit)
-------------------------------------------------------------------
A *pair* is a 5-bit run of zeros followed by a 16-bit level (the raw low
16 bits of the value, so signed values are stored in two's complement).
Three pairs pack into one 64-bit word, pair 0 earliest in the stream::

    bit  63 | 62 .. 47 | 46 .. 42 | 41 .. 26 | 25 .. 21 | 20 .. 5 | 4 .. 0
    last    | level 2  | run 2    | level 1  | run 1    | level 0 | run 0

Pair k occupies bits [21k+20 : 21k]: run in [21k+4 : 21k], level in
[21k+20 : 21k+5].  Bit 63 is set only on the final word of a tensor.

Canonical encoder (no lookahead): a non-zero value v after r pending zeros
emits (r, v); a zero that arrives while 31 zeros are pending emits (31, 0)
(31 zeros plus a literal zero).  Pending zeros (at most 31) at the end of the
tensor are dropped: the decoder knows the length n and zero-fills.  The final
word's unused slots are padded with (0, 0); a tensor without pairs (all zeros
or empty) is the single word ``1 << 63``.

Example: 0,0,12,5,0,0,53 codes as (2,12),(0,5),(2,53) = 0x801A880014000182.

Everything here is vectorised except :func:`decode_lenient`, which models the
hardware decoder word by word and is meant for small test tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RUN_BITS", "LEVEL_BITS", "PAIRS_PER_WORD", "WORD_BITS", "MAX_RUN", "PAIR_BITS", "LAST_BIT",
    "encode", "pack_pairs", "unpack_words", "validate", "decode", "decode_lenient",
    "stats", "RLCStats",
]

# The format's constants, for every user (hw/rlc.py, benches, exporters): defined here only.
RUN_BITS = 5
LEVEL_BITS = 16
PAIRS_PER_WORD = 3
WORD_BITS = 64
MAX_RUN = (1 << RUN_BITS) - 1  # 31
PAIR_BITS = RUN_BITS + LEVEL_BITS  # 21
LAST_BIT = WORD_BITS - 1  # 63: marks the final word

_PAIR_MASK = (1 << PAIR_BITS) - 1
_LEVEL_MASK = (1 << LEVEL_BITS) - 1
_LAST_WORD = 1 << LAST_BIT  # the whole code of a tensor without pairs
_VALUE_MIN = -(1 << (LEVEL_BITS - 1))  # -32768: signed levels allowed
_VALUE_MAX = (1 << LEVEL_BITS) - 1  # 65535: unsigned levels allowed


# ---------------------------------------------------------------- input checks

def _int_array(x, what: str, lo: int, hi: int, dtype) -> np.ndarray:
    """Return `x` as a 1-D array of `dtype` after checking integer dtype and range [lo, hi]."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    exact_ints = False  # an object array known to hold only Python/NumPy ints
    if not isinstance(x, np.ndarray) and arr.dtype.kind in "fO":
        # A Python list of ints NumPy could not fit in int64 (1<<63 mixed with small ints
        # becomes float64!), or an empty list: re-read it exactly as Python objects.
        obj = np.asarray(x, dtype=object)
        if obj.size == 0:
            arr = np.zeros(obj.shape, np.int64)
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
                 for v in obj.flat):
            arr, exact_ints = obj, True
    if arr.dtype.kind not in "iu" and not exact_ints:
        raise TypeError(f"{what} must have an integer dtype, not {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, not {arr.ndim}-D with shape {arr.shape}")
    if arr.size:
        if arr.dtype.kind == "O":
            bad = np.flatnonzero([not (lo <= v <= hi) for v in arr])
        else:
            info = np.iinfo(arr.dtype)
            bad_mask = np.zeros(arr.shape, bool)
            if lo > info.min:
                bad_mask |= arr < lo
            if hi < info.max:
                bad_mask |= arr > hi
            bad = np.flatnonzero(bad_mask)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{what}[{i}] = {int(arr[i])} is outside [{lo}, {hi}]"
                             f" ({bad.size} value(s) out of range)")
    return arr.astype(dtype)


def _as_words(words) -> np.ndarray:
    return _int_array(words, "words", 0, (1 << WORD_BITS) - 1, np.uint64)


def _check_n(n) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be a non-negative integer, not {type(n).__name__} {n!r}")
    if n < 0:
        raise ValueError(f"n must be a non-negative integer, not {n}")
    return int(n)


# ---------------------------------------------------------------- encoding

def _encode_pairs(values) -> tuple[np.ndarray, np.ndarray, int]:
    """Canonical (run, level) pairs of `values` as (runs uint64, levels uint64, n)."""
    v = _int_array(values, "values", _VALUE_MIN, _VALUE_MAX, np.int64)
    n = v.size
    nz = np.flatnonzero(v)
    # Zeros before each non-zero, and after the last one.
    gaps = np.diff(nz, prepend=-1) - 1
    trailing = n - 1 - int(nz[-1]) if nz.size else n
    # A gap of g zeros costs g//32 pairs (31,0) before the real pair (g%32, v);
    # the trailing gap costs trailing//32 pairs (31,0) and its remainder is dropped.
    extra = gaps >> RUN_BITS  # g // 32 (gaps >= 0)
    real_runs = (gaps & MAX_RUN).astype(np.uint64)
    real_levels = (v[nz] & _LEVEL_MASK).astype(np.uint64)
    n_extra = int(extra.sum())
    if n_extra == 0:  # the common case: no gap reaches 32, pairs map 1:1 to non-zeros
        runs, levels = real_runs, real_levels
    else:
        ends = np.cumsum(extra + 1)  # one past each real pair's slot
        runs = np.full(nz.size + n_extra, MAX_RUN, np.uint64)
        levels = np.zeros(nz.size + n_extra, np.uint64)
        runs[ends - 1] = real_runs
        levels[ends - 1] = real_levels
    tail = trailing >> RUN_BITS
    if tail:
        runs = np.concatenate([runs, np.full(tail, MAX_RUN, np.uint64)])
        levels = np.concatenate([levels, np.zeros(tail, np.uint64)])
    return runs, levels, n


def pack_pairs(runs, levels) -> np.ndarray:
    """Pack (run, level) pairs three per 64-bit word, in order.

    Parameters: `runs` 1-D integers in [0, 31]; `levels` 1-D integers in
    [-32768, 65535] of the same length (the low 16 bits are stored).
    Unused slots of the final word are padded with (0, 0) and bit 63 is set on
    the final word; max(1, ceil(len/3)) words are returned (dtype uint64).
    """
    r = _int_array(runs, "runs", 0, MAX_RUN, np.uint64)
    lv = _int_array(levels, "levels", _VALUE_MIN, _VALUE_MAX, np.int64)
    if r.size != lv.size:
        raise ValueError(f"runs and levels must have the same length, not {r.size} and {lv.size}")
    return _pack(r, (lv & _LEVEL_MASK).astype(np.uint64))


def _pack(r: np.ndarray, lv: np.ndarray) -> np.ndarray:
    """pack_pairs for checked uint64 runs and 16-bit levels."""
    nw = max(1, -(-r.size // PAIRS_PER_WORD))
    slots = np.zeros(nw * PAIRS_PER_WORD, np.uint64)
    slots[: r.size] = r | (lv << np.uint64(RUN_BITS))
    slots = slots.reshape(nw, PAIRS_PER_WORD)
    words = slots[:, 0].copy()
    for k in range(1, PAIRS_PER_WORD):
        words |= slots[:, k] << np.uint64(PAIR_BITS * k)
    words[-1] |= np.uint64(_LAST_WORD)
    return words


def unpack_words(words) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split words into runs[nw,3] (uint8), levels[nw,3] (uint16) and last[nw] (bool).

    `words`: 1-D array-like of integers in [0, 2**64).  No validation of the code.
    """
    w = _as_words(words)
    shifts = np.arange(PAIRS_PER_WORD, dtype=np.uint64) * np.uint64(PAIR_BITS)
    pairs = (w[:, None] >> shifts[None, :]) & np.uint64(_PAIR_MASK)
    runs = (pairs & np.uint64(MAX_RUN)).astype(np.uint8)
    levels = (pairs >> np.uint64(RUN_BITS)).astype(np.uint16)
    last = (w >> np.uint64(LAST_BIT)).astype(bool)
    return runs, levels, last


def encode(values) -> np.ndarray:
    """Canonical RLC code of a tensor.

    Parameters: `values`, a 1-D integer array-like with values in
    [-32768, 65535] (levels keep the low 16 bits, so -1 and 65535 code alike).
    Returns the code words as a uint64 array (at least one word).
    Raises TypeError for a non-integer dtype, ValueError for a non-1-D input or
    a value out of range (naming the index).
    """
    runs, levels, _ = _encode_pairs(values)
    return _pack(runs, levels)


# ---------------------------------------------------------------- validation

def _split(words):
    """Unpacked fields plus the real pairs: all of the non-final words, and the
    final word's pairs before its first (0, 0)."""
    runs, levels, last = unpack_words(words)
    zero = (runs == 0) & (levels == 0)
    z = int(np.argmax(zero[-1])) if zero[-1].any() else PAIRS_PER_WORD
    nreal = PAIRS_PER_WORD * (len(runs) - 1) + z
    return runs, levels, last, zero, z, nreal


def validate(words, n) -> None:
    """Raise ValueError unless `words` is exactly the canonical code of some tensor of length `n`.

    The message names the word and pair and contains one of the key phrases
    "no words", "words after the final word", "no final word",
    "padding before the final word", "non-canonical pair", "pair after padding",
    "empty final word", "more than N" or "trailing zeros".  TypeError/ValueError
    also for `n` not a non-negative integer or `words` not 1-D unsigned 64-bit.
    """
    _validated(words, n)


def _validated(words, n):
    """:func:`validate`, returning (runs[nw,3], levels[nw,3], number of real pairs)."""
    words = _as_words(words)
    n = _check_n(n)
    nw = words.size
    if nw == 0:
        raise ValueError("RLC code has no words: even an empty tensor codes as one word (1 << 63)")
    runs, levels, last, zero, z, nreal = _split(words)
    early = np.flatnonzero(last[:-1])
    if early.size:
        w = int(early[0])
        raise ValueError(f"RLC code word {w}: words after the final word: bit {LAST_BIT} is set"
                         f" but {nw - 1 - w} more word(s) follow")
    if not last[-1]:
        raise ValueError(f"RLC code word {nw - 1}: no final word: the last word lacks bit {LAST_BIT}")
    pad = np.argwhere(zero[:-1])
    if pad.size:
        w, k = (int(i) for i in pad[0])
        raise ValueError(f"RLC code word {w} pair {k}: padding before the final word:"
                         f" pair (0,0) in a non-final word")
    noncanon = np.argwhere((levels == 0) & (runs > 0) & (runs < MAX_RUN))
    if noncanon.size:
        w, k = (int(i) for i in noncanon[0])
        raise ValueError(f"RLC code word {w} pair {k}: non-canonical pair ({int(runs[w, k])},0):"
                         f" a zero level is only coded as ({MAX_RUN},0)")
    after = np.flatnonzero(~zero[-1, z:])
    if after.size:
        k = z + int(after[0])
        raise ValueError(f"RLC code word {nw - 1} pair {k}: pair after padding:"
                         f" ({int(runs[-1, k])},{int(levels[-1, k])}) follows (0,0) at pair {z}")
    if nw > 1 and z == 0:
        raise ValueError(f"RLC code word {nw - 1} pair 0: empty final word: the final word holds"
                         f" no pair but is not the only word")
    lengths = runs.reshape(-1)[:nreal].astype(np.int64) + 1
    cum = np.cumsum(lengths)
    d = int(cum[-1]) if nreal else 0
    if d > n:
        i = int(np.argmax(cum > n))
        raise ValueError(f"RLC code word {i // PAIRS_PER_WORD} pair {i % PAIRS_PER_WORD}:"
                         f" more than N: the code describes {d} elements, n = {n}"
                         f" (exceeded at this pair)")
    if d < n - MAX_RUN:
        where = f"pair {z}" if z < PAIRS_PER_WORD else f"after pair {PAIRS_PER_WORD - 1}"
        raise ValueError(f"RLC code word {nw - 1} {where}: trailing zeros: the code ends after"
                         f" {d} elements but n = {n}; a canonical code leaves at most {MAX_RUN}"
                         f" trailing zeros unencoded, not {n - d}")
    return runs, levels, nreal


# ---------------------------------------------------------------- decoding

def decode(words, n, *, signed: bool = False) -> np.ndarray:
    """Strict decode: validate (ValueError as in :func:`validate`), then expand to `n` values.

    Returns uint16, or int16 (the same bits) when `signed` is true.  Zeros the
    code leaves unencoded at the end are filled in.  Vectorised.
    """
    n = _check_n(n)
    runs, levels, nreal = _validated(words, n)
    out = np.zeros(n, np.uint16)
    if nreal:
        pos = np.cumsum(runs.reshape(-1)[:nreal].astype(np.int64) + 1) - 1
        out[pos] = levels.reshape(-1)[:nreal]
    return out.view(np.int16) if signed else out


def decode_lenient(words, n) -> tuple[np.ndarray, bool]:
    """Exactly what the hardware decoder outputs for one tensor: (values uint16[n], error).

    `words` is one tensor's stream (tlast on its last element), `n` the
    expected length.  Malformed codes are decoded literally and flag `error`;
    for a code that passes :func:`validate` the result is (decode(words, n), False),
    and `error` is true exactly when :func:`validate` raises.  Python loop over
    words: for tests on small tensors.

    Rules (the hardware's): a word is final if it has bit 63 or is the last
    element (tlast); bit 63 != tlast sets error.  In a final word a (0,0) pair
    ends the code (error if a later pair of that word is not (0,0), or if it is
    pair 0 of word > 0).  Every other pair is real and decoded literally as
    `run` zeros then `level`; level 0 with run < 31 sets error.  Output stops
    at n values: error if the current pair is unfinished, the word is not final,
    or any later pair of the word is not (0,0).  Words after the stop are
    drained unread.  A code ending d values short of n is zero-filled, with
    error if n - d > 31.  n = 0: error unless words == [1 << 63].
    """
    words = _as_words(words)
    n = _check_n(n)
    out = np.zeros(n, np.uint16)
    nw = words.size
    if n == 0:
        return out, not (nw == 1 and int(words[0]) == _LAST_WORD)
    if nw == 0:
        return out, True
    error = False
    pos = 0
    for w in range(nw):
        word = int(words[w])
        is_last = w == nw - 1
        flag = bool(word >> LAST_BIT)
        final = flag or is_last  # tlast ends the tensor even if bit 63 is missing
        error |= flag != is_last
        pairs = [(word >> (PAIR_BITS * k)) & _PAIR_MASK for k in range(PAIRS_PER_WORD)]
        for k, pair in enumerate(pairs):
            if final and pair == 0:
                error |= any(pairs[k + 1:]) or (k == 0 and w > 0)
                break
            run, level = pair & MAX_RUN, pair >> RUN_BITS
            error |= level == 0 and run < MAX_RUN
            if pos + run >= n:  # the level would be element n+1 or later
                return out, True
            out[pos + run] = level
            pos += run + 1
            if pos == n:
                # Truncated at n: anything left of this word, or more words, is an error.
                return out, error or not final or any(pairs[k + 1:])
        if final:
            break
    if n - pos > MAX_RUN:
        error = True
    return out, error


# ---------------------------------------------------------------- statistics

@dataclass(frozen=True)
class RLCStats:
    """Size of the RLC code of a tensor against raw 16-bit storage and its entropy.

    `entropy_bits_per_element` is the empirical order-0 Shannon entropy of the
    16-bit values, H = -sum p log2 p, and `entropy_bits` = n*H.  That is the
    limit only for a coder of independent symbols: RLC codes a whole run of up
    to 31 zeros in 5 bits, so on data with long zero runs it can beat the
    order-0 entropy (ratio_to_entropy < 1).  ratio_to_entropy = bits /
    entropy_bits (inf when the entropy is 0), ratio_vs_raw16 = 16n / bits, and
    bits_per_element = bits / n (inf when n = 0).
    """

    n: int
    nnz: int
    pairs: int
    words: int
    bits: int
    bits_per_element: float
    ratio_vs_raw16: float
    entropy_bits_per_element: float
    entropy_bits: float
    ratio_to_entropy: float


def stats(values) -> RLCStats:
    """Code size and entropy of `values` (same argument rules as :func:`encode`)."""
    v = _int_array(values, "values", _VALUE_MIN, _VALUE_MAX, np.int64)
    runs, _, n = _encode_pairs(v)
    sym = (v & _LEVEL_MASK).astype(np.uint16)
    nnz = int(np.count_nonzero(sym))
    nwords = max(1, -(-runs.size // PAIRS_PER_WORD))
    bits = WORD_BITS * nwords
    if n:
        counts = np.bincount(sym, minlength=1)
        p = counts[counts > 0] / n
        h = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0
    else:
        h = 0.0
    entropy_bits = n * h
    return RLCStats(
        n=n, nnz=nnz, pairs=int(runs.size), words=nwords, bits=bits,
        bits_per_element=bits / n if n else math.inf,
        ratio_vs_raw16=16 * n / bits,
        entropy_bits_per_element=h,
        entropy_bits=entropy_bits,
        ratio_to_entropy=bits / entropy_bits if entropy_bits > 0 else math.inf,
    )
