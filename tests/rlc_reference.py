"""Shared oracles of the golden RLC tests (tests/test_golden_rlc_*.py).

The oracle for the encoder is a literal scalar transcription of the spec
(`ref_pairs` / `ref_pack` below, Python ints only).  The oracle for the
validator and the lenient decoder is the fact that a canonical code is the
*unique* code of its tensor: (words, n) is valid exactly when
encode(decode_lenient(words, n).values) == words.
"""

import math

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from golden.rlc import decode, decode_lenient, encode, validate

LAST = 1 << 63
SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

KEY_PHRASES = (
    "no words", "words after the final word", "no final word", "padding before the final word",
    "non-canonical pair", "pair after padding", "empty final word", "more than N", "trailing zeros",
)


# ---------------------------------------------------------------- reference model (scalar, from the spec)

def ref_pairs(values):
    """The spec's canonical encoder loop, literally."""
    pairs, r = [], 0
    for v in values:
        v = int(v)
        if v != 0:
            pairs.append((r, v & 0xFFFF))
            r = 0
        elif r == 31:
            pairs.append((31, 0))
            r = 0
        else:
            r += 1
    return pairs


def w(*pairs, last=False):
    """One word from up to three (run, level) pairs, pair 0 in bits 20..0."""
    word = 0
    for k, (run, level) in enumerate(pairs):
        word |= (run | (level & 0xFFFF) << 5) << (21 * k)
    return word | (LAST if last else 0)


def ref_pack(pairs):
    chunks = [pairs[i:i + 3] for i in range(0, max(len(pairs), 1), 3)]
    words = [w(*c) for c in chunks]
    words[-1] |= LAST
    return words


def pairs_of(words):
    """All pairs of a word list, in stream order, as Python ints."""
    return [((int(x) >> (21 * k)) & 31, (int(x) >> (21 * k + 5)) & 0xFFFF)
            for x in words for k in range(3)]


def check_canonical(words, values):
    """Every structural property of an encoder output, checked from the raw bits."""
    words = [int(x) for x in words]
    npairs = len(ref_pairs(values))
    assert len(words) == max(1, math.ceil(npairs / 3))
    assert [x >> 63 for x in words] == [0] * (len(words) - 1) + [1]  # bit 63 only on the last word
    ps = pairs_of(words)
    real, pad = ps[:npairs], ps[npairs:]
    assert all(p == (0, 0) for p in pad)  # padding only at the end ...
    assert len(pad) < 3 or (npairs == 0 and len(pad) == 3)  # ... of the final word
    assert all(lv != 0 or r == 31 for r, lv in real)  # no (r,0) with r<31 among real pairs


def check_roundtrip(values, signed=True):
    values = np.asarray(values)
    words = encode(values)
    assert words.dtype == np.uint64 and words.ndim == 1
    assert [int(x) for x in words] == ref_pack(ref_pairs(values))
    check_canonical(words, values)
    validate(words, values.size)
    out = decode(words, values.size, signed=signed)
    assert out.dtype == (np.int16 if signed else np.uint16)
    np.testing.assert_array_equal(out, values.astype(out.dtype))
    lv, err = decode_lenient(words, values.size)
    assert err is False and lv.dtype == np.uint16
    np.testing.assert_array_equal(lv, out.view(np.uint16))


# ---------------------------------------------------------------- strategies

GAPS = st.one_of(st.sampled_from([0, 1, 2, 30, 31, 32, 33, 62, 63, 64, 65, 95, 96, 97]),
                 st.integers(0, 100))
NONZERO16 = st.integers(-32768, 32767).filter(bool)


@st.composite
def run_structured(draw):
    """Arrays built from (gap, non-zero) segments plus a trailing gap: hits every run boundary."""
    segs = draw(st.lists(st.tuples(GAPS, NONZERO16), max_size=12))
    out = []
    for gap, v in segs:
        out += [0] * gap + [v]
    out += [0] * draw(GAPS)
    return np.array(out, np.int16)


@st.composite
def random_density(draw):
    n = draw(st.one_of(st.integers(0, 4), st.integers(0, 400)))
    zero_frac = draw(st.sampled_from([0.0, 0.01, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    v = rng.integers(-32768, 32768, n).astype(np.int16)
    v[rng.random(n) < zero_frac] = 0
    return v
