"""golden.rlc.validate and the strict decoder: one example per malformed class, the
boundaries, and bad arguments.  Oracles: tests/rlc_reference.py.
"""

import numpy as np
import pytest
from rlc_reference import LAST, w

from golden.rlc import decode, decode_lenient, encode, validate


@pytest.mark.parametrize("words, n, phrase, where", [
    ([], 0, "no words", ""),
    ([], 5, "no words", ""),
    ([w((0, 5), (0, 6), (0, 7), last=True), w((0, 8), last=True)], 4, "words after the final word", "word 0"),
    ([w((0, 5))], 1, "no final word", "word 0"),
    ([w((0, 1), (0, 2), (0, 3)), w((0, 4))], 4, "no final word", "word 1"),
    ([w((0, 5), (0, 0), (0, 6)), w((0, 7), last=True)], 4, "padding before the final word", "word 0 pair 1"),
    ([w((5, 0), (0, 3), last=True)], 7, "non-canonical pair", "word 0 pair 0"),
    ([w((0, 1), (0, 2), (0, 3)), w((0, 4), (30, 0), last=True)], 36, "non-canonical pair", "word 1 pair 1"),
    ([w((0, 5), (0, 0), (0, 3), last=True)], 2, "pair after padding", "word 0 pair 2"),
    ([w((0, 1), (0, 2), (0, 3)), w(last=True)], 3, "empty final word", "word 1 pair 0"),
    ([w((0, 1), (2, 2), last=True)], 3, "more than N", "word 0 pair 1"),
    ([w((0, 1), last=True)], 0, "more than N", "word 0 pair 0"),
    ([w((31, 0), last=True)], 0, "more than N", "word 0 pair 0"),
    ([w((0, 1), last=True)], 33, "trailing zeros", "word 0 pair 1"),
    ([w((0, 1), (0, 2), (0, 3), last=True)], 40, "trailing zeros", "word 0 after pair 2"),
    ([w(last=True)], 32, "trailing zeros", "word 0 pair 0"),
])
def test_validate_each_class(words, n, phrase, where):
    with pytest.raises(ValueError) as info:
        validate(words, n)
    msg = str(info.value)
    assert phrase in msg and where in msg
    with pytest.raises(ValueError, match=phrase):
        decode(words, n)
    assert decode_lenient(words, n)[1] is True


def test_validate_more_than_n_message_gives_both_numbers():
    with pytest.raises(ValueError, match=r"describes 4 elements, n = 3"):
        validate([w((0, 1), (2, 2), last=True)], 3)


def test_validate_trailing_zero_boundary():
    validate([w((0, 1), last=True)], 32)  # 31 trailing zeros: canonical
    validate([w(last=True)], 31)
    validate([w(last=True)], 0)
    validate([w((31, 0), last=True)], 63)


@pytest.mark.parametrize("words, n, exc", [
    ([LAST], -1, ValueError),
    ([LAST], 1.0, TypeError),
    ([LAST], True, TypeError),
    ([LAST], "3", TypeError),
    ([1.0], 0, TypeError),
    (np.array([LAST], np.float64), 0, TypeError),
    ([[LAST]], 0, ValueError),
    ([-1], 0, ValueError),
    ([1 << 64], 0, ValueError),
])
def test_validate_bad_arguments(words, n, exc):
    for f in (validate, decode, decode_lenient):
        with pytest.raises(exc):
            f(words, n)


def test_words_as_python_ints_with_bit63():
    # NumPy turns [small int, 1<<63] into float64; the model must read such lists exactly.
    words = [w((0, 1), (0, 2), (0, 3)), w((0, 4), last=True)]
    np.testing.assert_array_equal(decode(words, 4), [1, 2, 3, 4])
    np.testing.assert_array_equal(decode(np.array(words, np.uint64), 4, signed=True), [1, 2, 3, 4])
    assert decode(np.array(words, np.uint64), np.int64(4)).dtype == np.uint16


def test_decode_empty_tensor():
    out = decode([LAST], 0)
    assert out.shape == (0,) and out.dtype == np.uint16
    assert decode(encode([]), 0, signed=True).dtype == np.int16
