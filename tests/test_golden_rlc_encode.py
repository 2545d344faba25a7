"""golden.rlc encoding: round trips, the canonical form, hand-checked words (and the
Betsy bugs), pack / unpack, and bad input to the encoder.  Oracles: tests/rlc_reference.py.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rlc_reference import (
    LAST, SETTINGS, check_roundtrip, pairs_of, random_density, ref_pack, run_structured, w,
)

from golden.rlc import (
    LAST_BIT, LEVEL_BITS, MAX_RUN, PAIR_BITS, PAIRS_PER_WORD, RUN_BITS, WORD_BITS,
    decode, encode, pack_pairs, stats, unpack_words,
)


# ---------------------------------------------------------------- round trips and canonical form

@SETTINGS
@given(run_structured())
def test_roundtrip_run_structured(values):
    check_roundtrip(values)


@SETTINGS
@given(random_density())
def test_roundtrip_random_density(values):
    check_roundtrip(values)


@SETTINGS
@given(st.lists(st.integers(0, 65535), max_size=80))
def test_roundtrip_unsigned(values):
    check_roundtrip(np.array(values, np.uint16), signed=False)


@pytest.mark.parametrize("n", range(5))
def test_roundtrip_exhaustive_short(n):
    # Every tensor of length n over {0, 7, -1}: 121 tensors in all.
    for values in itertools.product([0, 7, -1], repeat=n):
        check_roundtrip(np.array(values, np.int16))


def test_signed_and_unsigned_levels_code_alike():
    assert np.array_equal(encode([-1, 0, -32768]), encode([65535, 0, 32768]))
    np.testing.assert_array_equal(decode(encode([-1, 0, -32768]), 3, signed=True), [-1, 0, -32768])
    np.testing.assert_array_equal(decode(encode([-1, 0, -32768]), 3), [65535, 0, 32768])


@pytest.mark.parametrize("gap, expected", [
    (30, [(30, 9)]),
    (31, [(31, 9)]),
    (32, [(31, 0), (0, 9)]),
    (33, [(31, 0), (1, 9)]),
    (62, [(31, 0), (30, 9)]),
    (63, [(31, 0), (31, 9)]),
    (64, [(31, 0), (31, 0), (0, 9)]),
])
def test_zero_run_before_nonzero(gap, expected):
    words = encode([0] * gap + [9])
    assert [int(x) for x in words] == ref_pack(expected)
    check_roundtrip(np.array([0] * gap + [9]))


@pytest.mark.parametrize("gap, expected", [
    (30, [(0, 5)]),
    (31, [(0, 5)]),  # 31 trailing zeros are dropped
    (32, [(0, 5), (31, 0)]),
    (33, [(0, 5), (31, 0)]),
    (62, [(0, 5), (31, 0)]),
    (63, [(0, 5), (31, 0)]),
    (64, [(0, 5), (31, 0), (31, 0)]),
])
def test_trailing_zero_run(gap, expected):
    words = encode([5] + [0] * gap)
    assert [int(x) for x in words] == ref_pack(expected)
    check_roundtrip(np.array([5] + [0] * gap))


@pytest.mark.parametrize("nnz, nwords", [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2), (7, 3)])
def test_word_count_and_padding(nnz, nwords):
    words = encode(list(range(1, nnz + 1)))
    assert len(words) == nwords
    ps = pairs_of(words)
    assert ps == [(0, i) for i in range(1, nnz + 1)] + [(0, 0)] * (3 * nwords - nnz)


# ---------------------------------------------------------------- hand-checked values and the Betsy bugs

def test_eyeriss_example_exact_word():
    # (2,12),(0,5),(2,53): pair0 = 2 | 12<<5 = 0x182, pair1 = 0 | 5<<5 = 0xA0, pair2 = 2 | 53<<5 = 0x6A2.
    # 0xA0 << 21 = 0x14000000; 0x6A2 << 42 = 0x1A88 << 40 = 0x001A880000000000; plus bit 63.
    words = encode([0, 0, 12, 5, 0, 0, 53])
    assert words.tolist() == [0x801A880014000182]
    assert pack_pairs([2, 0, 2], [12, 5, 53]).tolist() == [0x801A880014000182]
    np.testing.assert_array_equal(decode(words, 7), [0, 0, 12, 5, 0, 0, 53])


@pytest.mark.parametrize("n", [0, 1, 2, 31])
def test_all_zero_tensor_is_single_last_word(n):
    assert encode(np.zeros(n, np.int16)).tolist() == [1 << 63]
    np.testing.assert_array_equal(decode([1 << 63], n), np.zeros(n))


def test_32_zeros_is_one_literal_zero_pair():
    assert encode([0] * 32).tolist() == [(1 << 63) | 31]  # (31,0): run 31 in bits 4..0, level 0
    assert encode([0] * 63).tolist() == [(1 << 63) | 31]
    assert encode([0] * 64).tolist() == [(1 << 63) | (31 << 21) | 31]


def test_betsy_bug_long_run_does_not_wrap():
    # 40 zeros then 7: one (31,0) pair takes 32 zeros, (8,7) the other 8 and the 7.
    # A 5-bit counter that wraps would emit (40 & 31, 7) = (8,7) alone and lose 32 zeros.
    assert encode([0] * 40 + [7]).tolist() == [0x800000001D00001F]  # (8 | 7<<5) = 0xE8; 0xE8<<21 = 0x1D000000
    assert encode([0] * 39 + [7]).tolist() == [0x800000001CE0001F]  # (31,0),(7,7): 0xE7<<21 = 0x1CE00000
    assert pairs_of(encode([0] * 100 + [7]))[:4] == [(31, 0), (31, 0), (31, 0), (4, 7)]


def test_betsy_bug_final_partial_word_is_flushed():
    words = encode([1, 2, 3, 4])  # the 4th pair alone in a second word
    assert words.tolist() == [w((0, 1), (0, 2), (0, 3)), w((0, 4), last=True)]


def test_betsy_bug_last_bit_is_set():
    for values in ([5], [1, 2, 3], [1, 2, 3, 4, 5, 6], [0] * 200, []):
        words = encode(values)
        assert int(words[-1]) >> 63 == 1
        assert all(int(x) >> 63 == 0 for x in words[:-1])


def test_constants():
    assert (RUN_BITS, LEVEL_BITS, PAIRS_PER_WORD, MAX_RUN, PAIR_BITS, LAST_BIT) == (5, 16, 3, 31, 21, 63)


def test_pairs_fit_below_the_final_bit():
    assert WORD_BITS == 64 and LAST_BIT == WORD_BITS - 1
    assert PAIRS_PER_WORD * PAIR_BITS <= LAST_BIT


# ---------------------------------------------------------------- pack / unpack

def test_pack_unpack_fields():
    words = pack_pairs([2, 0, 2, 31], [12, -1, 53, 0])
    runs, levels, last = unpack_words(words)
    assert runs.tolist() == [[2, 0, 2], [31, 0, 0]]
    assert levels.tolist() == [[12, 65535, 53], [0, 0, 0]]
    assert last.tolist() == [False, True]
    assert runs.dtype == np.uint8 and levels.dtype == np.uint16 and last.dtype == bool
    assert pack_pairs([], []).tolist() == [1 << 63]


@pytest.mark.parametrize("runs, levels, exc, text", [
    ([32], [1], ValueError, "runs[0] = 32"),
    ([-1], [1], ValueError, "runs[0] = -1"),
    ([0, 1], [1, 65536], ValueError, "levels[1] = 65536"),
    ([0], [1, 2], ValueError, "same length"),
    ([0.0], [1], TypeError, "runs must have an integer dtype"),
])
def test_pack_pairs_rejects(runs, levels, exc, text):
    with pytest.raises(exc, match=text.replace("[", r"\[").replace("]", r"\]")):
        pack_pairs(runs, levels)


# ---------------------------------------------------------------- bad input to the encoder

@pytest.mark.parametrize("values, exc, text", [
    (np.array([1.0, 2.0]), TypeError, "integer dtype"),
    ([1.5], TypeError, "integer dtype"),
    (np.array([True, False]), TypeError, "integer dtype"),
    (np.array([], np.float32), TypeError, "integer dtype"),
    ([0, 65536], ValueError, r"values\[1\] = 65536"),
    (np.array([0, 0, -32769], np.int32), ValueError, r"values\[2\] = -32769"),
    ([1 << 70], ValueError, r"values\[0\]"),
    (np.zeros((2, 3), np.int16), ValueError, "1-D"),
    (np.int16(3), ValueError, "1-D"),
])
def test_encode_rejects(values, exc, text):
    with pytest.raises(exc, match=text):
        encode(values)
    with pytest.raises(exc, match=text):
        stats(values)


def test_encode_accepts_integer_dtypes():
    for dt in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        assert encode(np.array([0, 3, 0], dt)).tolist() == [w((1, 3), last=True)]
    assert encode([]).tolist() == [LAST]
    assert encode(np.uint16([65535])).tolist() == encode([-1]).tolist()
