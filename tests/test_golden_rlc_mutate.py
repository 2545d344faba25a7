"""Mutation fuzz: random corruptions (golden.rlc_mutate, the generator the cocotb bench
uses too) on which validate, decode and decode_lenient must agree with the oracle of
tests/rlc_reference.py; and the generator itself.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rlc_reference import KEY_PHRASES, random_density, run_structured

from golden.rlc import decode, decode_lenient, encode, validate
from golden.rlc_mutate import FUZZ_MIX, MUTATIONS, mutate, mutate_code


@settings(deadline=None, max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(run_structured(), random_density()), st.integers(0, 2**32 - 1),
       st.integers(1, 3))
def test_validate_and_lenient_agree_on_mutated_codes(values, seed, count):
    words, n = mutate_code(np.random.default_rng(seed), encode(values), values.size, count)
    words = [int(x) for x in words]
    out, err = decode_lenient(np.array(words, np.uint64), n)
    assert out.shape == (n,) and out.dtype == np.uint16
    # Independent oracle: a valid code is the (unique) canonical code of what it decodes to.
    canonical = encode(out).tolist() == words
    try:
        validate(words, n)
    except ValueError as e:
        msg = str(e)
        assert not canonical, msg
        assert err is True, msg
        assert any(p in msg for p in KEY_PHRASES), msg
        assert msg.startswith("RLC code word ") or "no words" in msg, msg
        with pytest.raises(ValueError):
            decode(words, n)
    else:
        assert canonical and err is False
        np.testing.assert_array_equal(decode(words, n), out)


# ---------------------------------------------------------------- the generator itself

def _corpus(seed, cases, kinds=tuple(MUTATIONS)):
    """(original code, n, mutated code, mutated n) of random tensors, one mutation each."""
    rng = np.random.default_rng(seed)
    for _ in range(cases):
        t = rng.integers(-32768, 32768, int(rng.integers(0, 120)))
        t[rng.random(t.size) < rng.random()] = 0
        code = encode(t)
        yield (code, t.size) + mutate(rng, code, t.size, kinds)


def test_same_seed_same_corruptions():
    first = [(w.tolist(), n) for _, _, w, n in _corpus(7, 200)]
    again = [(w.tolist(), n) for _, _, w, n in _corpus(7, 200)]
    other = [(w.tolist(), n) for _, _, w, n in _corpus(8, 200)]
    assert first == again and first != other


def test_reaches_every_malformed_class():
    """Every class validate names shows up among single mutations, and so do valid codes."""
    seen, valid = set(), 0
    for _, _, words, n in _corpus(1, 3000):
        assert words.dtype == np.uint64 and words.ndim == 1 and n >= 0
        try:
            validate(words, n)
            valid += 1
        except ValueError as e:
            seen |= {p for p in KEY_PHRASES if p in str(e)}
    assert seen == set(KEY_PHRASES) and valid > 0


@pytest.mark.parametrize("kind", sorted(MUTATIONS))
def test_each_kind_changes_only_what_it_says(kind):
    changed = 0
    for code, n, words, n2 in _corpus(3, 300, kinds=(kind,)):
        if kind in ("length",):
            assert words.tolist() == code.tolist()
        else:
            assert n2 == n
        if kind == "keep":
            assert words.tolist() == code.tolist()
        if kind in ("drop", "truncate"):
            assert len(words) <= len(code)
        elif kind in ("duplicate", "append_random", "append_special", "seal"):
            assert len(words) == len(code) + 1
        else:
            assert len(words) == len(code)
        changed += (words.tolist(), n2) != (code.tolist(), n)
    assert (changed == 0) if kind == "keep" else changed > 0


def test_input_is_not_changed_in_place():
    code = encode([1, 0, 2, 0, 0, 3, 4])
    before = code.copy()
    for seed in range(50):
        mutate_code(np.random.default_rng(seed), code, 7, 3)
    np.testing.assert_array_equal(code, before)


def test_empty_code_and_word_free_kinds():
    rng = np.random.default_rng(0)
    for _ in range(100):
        words, n = mutate(rng, np.zeros(0, np.uint64), 5, tuple(MUTATIONS))
        assert words.dtype == np.uint64 and n >= 0


def test_fuzz_mix_is_known_kinds():
    assert set(FUZZ_MIX) <= set(MUTATIONS) and len(set(FUZZ_MIX)) == len(FUZZ_MIX)


@pytest.mark.parametrize("rng, kinds, exc, text", [
    (None, FUZZ_MIX, TypeError, "numpy.random.Generator"),
    (np.random.RandomState(0), FUZZ_MIX, TypeError, "numpy.random.Generator"),
    (np.random.default_rng(0), ("flip", "nope"), ValueError, "nope"),
    (np.random.default_rng(0), (), ValueError, "kinds must be"),
])
def test_bad_arguments(rng, kinds, exc, text):
    with pytest.raises(exc, match=text):
        mutate(rng, encode([1, 2]), 2, kinds)
