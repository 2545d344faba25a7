"""golden/sparse24.py (2:4 values + 2-bit indices) and golden/zfnaf.py (Cnvlutin bricks).

Kept in a test_pruning_* file because the pruning engineer owns these two
golden modules; the lead may rename it test_golden_sparse24_zfnaf.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import sparse24, zfnaf


def _nm_dense(rng, shape, n=2, m=4):
    a = rng.integers(-100, 100, size=shape).astype(np.int16)
    g = a.reshape(-1, m)
    for row in g:
        row[rng.permutation(m)[: m - rng.integers(0, n + 1)]] = 0
    return a


def test_sparse24_hand_example_and_padding_rule():
    dense = np.array([[0, -5, 0, -4, 0, 0, 0, 0],
                      [0, 5, 0, 0, 7, 0, 0, -5]], dtype=np.int8)
    values, meta = sparse24.compress(dense)
    assert values.tolist() == [[[-5, -4], [0, 0]], [[0, 5], [7, -5]]]
    # Canonical padding: the lowest zero positions, then ascending.
    assert meta.tolist() == [[[1, 3], [0, 1]], [[0, 1], [0, 3]]]
    assert np.array_equal(sparse24.decompress(values, meta, dense.shape), dense)
    words = sparse24.pack_meta(meta)
    # Row 0: group0 = 1 | 3<<2 = 0xd, group1 = 0 | 1<<2 = 0x4 -> 0x4d.
    assert [hex(int(w)) for w in words.ravel()] == ["0x4d", "0xc4"]
    assert sparse24.storage_bits(dense.shape, 8) == 4 * 2 * (8 + 2)


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 4), st.integers(1, 12), st.sampled_from([8, 16, 32, 64]), st.integers(0, 2**31 - 1))
def test_sparse24_roundtrip_property(rows, groups, word_bits, seed):
    rng = np.random.default_rng(seed)
    dense = _nm_dense(rng, (rows, groups * 4))
    values, meta = sparse24.compress(dense)
    sparse24.validate(values, meta, dense.shape)
    assert np.array_equal(sparse24.decompress(values, meta, dense.shape), dense)
    words = sparse24.pack_meta(meta, word_bits=word_bits)
    assert words.shape == (rows, -(-groups // (word_bits // 4)))
    assert np.array_equal(sparse24.unpack_meta(words, dense.shape, word_bits=word_bits), meta)
    if word_bits < 64:
        assert (words < (1 << word_bits)).all()


def test_sparse24_general_nm_and_3d():
    rng = np.random.default_rng(1)
    dense = _nm_dense(rng, (2, 3, 16), n=4, m=8)
    values, meta = sparse24.compress(dense, n=4, m=8)
    assert values.shape == (2, 3, 2, 4)
    assert np.array_equal(sparse24.decompress(values, meta, dense.shape), dense)
    assert sparse24.storage_bits(dense.shape, 8, n=4, m=8) == 12 * 4 * (8 + 3)


def test_sparse24_rejects():
    with pytest.raises(ValueError, match="group 1 .*3 non-zeros"):
        sparse24.compress(np.array([1, 1, 0, 0, 1, 1, 1, 0]))
    with pytest.raises(ValueError, match="multiple of m=4"):
        sparse24.compress(np.ones(6))
    v, m = sparse24.compress(np.array([0, 3, 0, 4]))
    with pytest.raises(ValueError, match="not strictly ascending"):
        sparse24.validate(v, m[..., ::-1], (4,))
    with pytest.raises(ValueError, match="outside"):
        sparse24.validate(v, np.array([[1, 4]], np.uint8), (4,))
    z, zm = sparse24.compress(np.zeros(4, np.int8))
    with pytest.raises(ValueError, match="not canonical"):
        sparse24.validate(z, np.array([[2, 3]], np.uint8), (4,))
    sparse24.validate(z, np.array([[2, 3]], np.uint8), (4,), canonical=False)
    with pytest.raises(ValueError, match="power of two"):
        sparse24.compress(np.zeros(6), n=2, m=3)


def test_zfnaf_hand_example():
    acts = np.zeros((1, 20), np.int16)
    acts[0, [0, 5, 15, 16, 19]] = [3, -2, 9, 1, 4]
    enc = zfnaf.encode(acts)
    assert enc["counts"].tolist() == [3, 2]          # bricks [0:16] and the short tail [16:20]
    assert enc["offsets"].tolist() == [0, 5, 15, 0, 3]
    assert enc["values"].tolist() == [3, -2, 9, 1, 4]
    assert np.array_equal(zfnaf.decode(enc, acts.shape), acts)
    assert zfnaf.storage_bits(acts.shape, 5, 16) == 5 * (16 + 4) + 2 * 5
    assert zfnaf.storage_bits(acts.shape, 5, 16, container=True) == 2 * 16 * 20


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 3), st.integers(1, 40), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_zfnaf_roundtrip_nchw(n, c, hw, seed):
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.integers(-5, 5, size=(n, c, hw, hw)), 0).astype(np.int8)
    enc = zfnaf.encode(a, axis=1)
    zfnaf.validate(enc, a.shape, axis=1)
    assert np.array_equal(zfnaf.decode(enc, a.shape, axis=1), a)
    assert enc["counts"].size == n * hw * hw * -(-c // 16)


def test_zfnaf_rejects():
    acts = np.array([[0, 3, 0, 7]], np.int8)
    enc = zfnaf.encode(acts, brick=4)
    bad = dict(enc, offsets=np.array([3, 1], np.uint8))
    with pytest.raises(ValueError, match="not strictly ascending"):
        zfnaf.validate(bad, acts.shape, brick=4)
    with pytest.raises(ValueError, match="counts sum"):
        zfnaf.validate(dict(enc, counts=np.array([1], np.uint8)), acts.shape, brick=4)
    with pytest.raises(ValueError, match="outside its length"):
        zfnaf.validate(dict(enc, offsets=np.array([1, 4], np.uint8)), acts.shape, brick=4)
    with pytest.raises(ValueError, match="stores a zero"):
        zfnaf.validate(dict(enc, values=np.array([3, 0], np.int8)), acts.shape, brick=4)
    with pytest.raises(ValueError, match="out of range"):
        zfnaf.encode(acts, axis=2)
    empty = zfnaf.encode(np.zeros((0, 16), np.int8))
    assert empty["counts"].size == 0 and zfnaf.decode(empty, (0, 16)).shape == (0, 16)


def test_zfnaf_brick_256_counts_do_not_wrap():
    # Review item 10: a full brick of 256 non-zeros stored its count in uint8 as 0.
    acts = np.arange(1, 513, dtype=np.int16).reshape(2, 256)
    acts[1, ::2] = 0
    enc = zfnaf.encode(acts, brick=256)
    assert enc["counts"].dtype == np.uint16 and enc["counts"].tolist() == [256, 128]
    assert enc["offsets"].dtype == np.uint8 and int(enc["offsets"].max()) == 255
    assert np.array_equal(zfnaf.decode(enc, acts.shape, brick=256), acts)
    assert zfnaf.count_bits(256) == 9 and zfnaf.offset_bits(256) == 8 and zfnaf.count_bits(16) == 5
    assert zfnaf.storage_bits(acts.shape, 384, 16, brick=256) == 384 * (16 + 8) + 2 * 9
    assert zfnaf.encode(np.ones((1, 16), np.int8))["counts"].tolist() == [16]
