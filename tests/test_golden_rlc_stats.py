"""golden.rlc.stats: code size against raw storage and the order-0 entropy."""

import math
from collections import Counter
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from hypothesis import given
from rlc_reference import SETTINGS, random_density, ref_pairs

from golden.rlc import encode, stats


def test_stats_eyeriss_example():
    s = stats([0, 0, 12, 5, 0, 0, 53])
    h = -(4 / 7 * math.log2(4 / 7) + 3 / 7 * math.log2(1 / 7))
    assert (s.n, s.nnz, s.pairs, s.words, s.bits) == (7, 3, 3, 1, 64)
    assert s.bits_per_element == pytest.approx(64 / 7)
    assert s.ratio_vs_raw16 == pytest.approx(112 / 64)
    assert s.entropy_bits_per_element == pytest.approx(h)
    assert s.entropy_bits == pytest.approx(7 * h)
    assert s.ratio_to_entropy == pytest.approx(64 / (7 * h))
    with pytest.raises(FrozenInstanceError):
        s.n = 3


@SETTINGS
@given(random_density())
def test_stats_matches_reference(values):
    s = stats(values)
    n = values.size
    counts = Counter(int(v) & 0xFFFF for v in values)
    h = -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0
    npairs = len(ref_pairs(values))
    assert (s.n, s.nnz, s.pairs) == (n, int(np.count_nonzero(values)), npairs)
    assert s.words == len(encode(values)) and s.bits == 64 * s.words
    assert s.entropy_bits_per_element == pytest.approx(h, abs=1e-12)
    assert s.ratio_vs_raw16 == pytest.approx(16 * n / s.bits)
    assert s.ratio_to_entropy == (math.inf if h == 0 else pytest.approx(s.bits / (n * h)))


def test_stats_degenerate():
    s = stats([])
    assert (s.words, s.bits, s.bits_per_element, s.ratio_vs_raw16, s.ratio_to_entropy) == (1, 64, math.inf, 0.0, math.inf)
    s = stats(np.zeros(1000, np.int16))
    assert (s.pairs, s.words, s.entropy_bits_per_element, s.ratio_to_entropy) == (31, 11, 0.0, math.inf)


def test_stats_rlc_beats_order0_entropy_on_runs():
    # 31 zeros before each of the 65535 distinct non-zero levels: one pair per 32 elements,
    # while the order-0 entropy pays log2(n) bits for each (distinct) non-zero.
    x = np.zeros(32 * 65535, np.int64)
    x[31::32] = np.arange(1, 65536)
    s = stats(x)
    n = x.size
    h = -(31 / 32) * math.log2(31 / 32) + (1 / 32) * math.log2(n)
    assert (s.pairs, s.words) == (65535, 21845)
    assert s.entropy_bits_per_element == pytest.approx(h)
    assert s.ratio_to_entropy == pytest.approx(64 * 21845 / (n * h))
    assert s.ratio_to_entropy < 1
