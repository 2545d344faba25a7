"""Tests for golden/nm_mac.py: packing against golden.sparse24, the bit-exact MAC on any
metadata, the dense twin and dense fallback, parameter checks and the cycle model."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from golden import sparse24
from golden.nm_mac import (DENSE, NMConfig, beats_dense_fallback, beats_sparse,
                           dense_beats, frame_cycles, mac_beats, mac_groups, pack_acts,
                           pack_dense, pack_dense_fallback, pack_sparse,
                           storage_bits_per_group)

CONFIGS = [NMConfig(), NMConfig(groups=1), NMConfig(groups=16, overflow="saturate"),
           NMConfig(n=1, m=4, groups=2, width=16, acc_width=40),
           NMConfig(n=2, m=8, groups=2, acc_width=18, overflow="saturate"),
           NMConfig(n=1, m=2, groups=3, acc_width=16)]


def ref_dot(dense_w, acts, cfg, step_positions):
    """Independent reference: ``step_positions`` lists, per accumulation step, the dense
    positions whose products it adds; clamp or wrap after every step."""
    lo, hi = -(1 << (cfg.acc_width - 1)), (1 << (cfg.acc_width - 1)) - 1
    acc = 0
    for pos in step_positions:
        acc += sum(int(dense_w[p]) * int(acts[p]) for p in pos if p < len(dense_w))
        if cfg.overflow == "saturate":
            acc = min(max(acc, lo), hi)
    if cfg.overflow == "wrap":
        half = 1 << (cfg.acc_width - 1)
        acc = (acc + half) % (2 * half) - half
    return acc


def nm_row(rng, cfg, ngroups, extreme=0.2):
    """A dense row with at most n non-zeros per group of m (0..n of them, evenly mixed)."""
    lo, hi = -(1 << (cfg.width - 1)), (1 << (cfg.width - 1)) - 1
    w = np.zeros((ngroups, cfg.m), np.int64)
    for g in range(ngroups):
        k = int(rng.integers(0, cfg.n + 1))
        pos = rng.choice(cfg.m, k, replace=False)
        v = rng.integers(lo, hi + 1, k)
        v[rng.random(k) < extreme] = lo
        w[g, pos] = v
    return w.reshape(-1)


def rand_acts(rng, k, width, extreme=0.2):
    lo = -(1 << (width - 1))
    a = rng.integers(lo, -lo, k)
    a[rng.random(k) < extreme] = lo
    return a


def sparse_words(w, cfg):
    values, meta = sparse24.compress(w, n=cfg.n, m=cfg.m)
    words = sparse24.pack_meta(meta[None], m=cfg.m, word_bits=cfg.meta_word_bits)[0]
    return pack_sparse(values, words, cfg)


@settings(max_examples=60, deadline=None)
@given(cfg=st.sampled_from(CONFIGS), ngroups=st.integers(0, 40),
       seed=st.integers(0, 2**32 - 1))
def test_sparse_mode_matches_reference_and_twin(cfg, ngroups, seed):
    rng = np.random.default_rng(seed)
    w = nm_row(rng, cfg, ngroups)
    a = rand_acts(rng, len(w), cfg.width)
    wb, ab = sparse_words(w, cfg), pack_acts(a, cfg)
    assert len(wb) == len(ab) == beats_sparse(len(w), cfg)
    steps = [range(k * cfg.span, (k + 1) * cfg.span) for k in range(len(wb))]
    want = ref_dot(w, a, cfg, steps)
    assert mac_beats(wb, ab, cfg) == (want, False)
    # The dense twin adds the same products per beat (the pruned zeros add nothing), so it
    # agrees even when saturating.
    assert dense_beats(pack_dense(w, cfg), ab, cfg) == (want, False)
    values, meta = sparse24.compress(w, n=cfg.n, m=cfg.m)
    assert mac_groups(values, meta, a, cfg) == (want, False)


@settings(max_examples=60, deadline=None)
@given(cfg=st.sampled_from(CONFIGS), k=st.integers(0, 100), seed=st.integers(0, 2**32 - 1))
def test_dense_fallback(cfg, k, seed):
    rng = np.random.default_rng(seed)
    w, a = rand_acts(rng, k, cfg.width), rand_acts(rng, k, cfg.width)
    wb, ab = pack_dense_fallback(w, cfg), pack_acts(a, cfg)
    assert len(wb) == beats_dense_fallback(k, cfg) == len(ab) * cfg.phases
    assert all((x >> cfg.mode_at) & 1 == DENSE for x in wb)
    # Step (beat) t of chunk c adds in-group positions t·n .. t·n+n-1 of every group.
    steps = [[c * cfg.span + g * cfg.m + t * cfg.n + j for g in range(cfg.groups)
              for j in range(cfg.n)] for c in range(len(ab)) for t in range(cfg.phases)]
    assert mac_beats(wb, ab, cfg) == (ref_dot(w, a, cfg, steps), False)
    if cfg.overflow == "wrap":
        assert mac_beats(wb, ab, cfg)[0] == dense_beats(pack_dense(w, cfg), ab, cfg)[0]


def test_dense_fallback_frame_ending_mid_chunk_releases_a():
    cfg = NMConfig()
    w, a = np.arange(1, 17), np.arange(16) - 5
    wb = pack_dense_fallback(w, cfg)[:1]           # only phase 0 of the chunk
    got = mac_beats(wb, pack_acts(a, cfg), cfg)
    assert got == (sum(int(w[g * 4 + j]) * int(a[g * 4 + j]) for g in range(4) for j in (0, 1)),
                   False)
    with pytest.raises(ValueError, match="a beats given"):
        mac_beats(pack_dense_fallback(w, cfg), pack_acts(a, cfg) * 2, cfg)
    with pytest.raises(ValueError, match="no a beat left"):
        mac_beats(sparse_words(np.zeros(32, int), cfg), pack_acts(a, cfg), cfg)


def test_packing_is_the_sparse24_layout_and_exact():
    cfg = NMConfig()                               # 2:4, G = 4, int8
    assert (cfg.meta_at, cfg.mode_at, cfg.w_width, cfg.a_width, cfg.o_width) == \
        (64, 80, 88, 128, 32)
    w = np.array([0, 5, 0, -3, 7, 0, 0, 0, 0, 0, 0, 0, -128, 0, 0, 1])
    values, meta = sparse24.compress(w)
    word = pack_sparse(values, sparse24.pack_meta(meta[None])[0], cfg)
    assert len(word) == 1
    vals = [5, -3, 7, 0, 0, 0, -128, 1]
    assert word[0] & ((1 << 64) - 1) == sum((v & 0xFF) << (8 * s) for s, v in enumerate(vals))
    # Indices (1,3), (0,1), (0,1), (0,3): index j of group g at bit 4g + 2j.
    assert word[0] >> 64 == \
        (1 | 3 << 2) | (0 | 1 << 2) << 4 | (0 | 1 << 2) << 8 | (0 | 3 << 2) << 12
    # A beat's metadata is the matching slice of the exported 32-bit words (8 groups each).
    w2 = np.tile(w, 3)
    values, meta = sparse24.compress(w2)
    words = sparse24.pack_meta(meta[None], word_bits=32)[0]
    beats = pack_sparse(values, words, cfg)
    assert [b >> 64 & 0xFFFF for b in beats] == [int(words[0]) & 0xFFFF, int(words[0]) >> 16,
                                                 int(words[1])]
    # A partial last beat is completed with canonical zero groups (indices 0, 1).
    beats = pack_sparse(values[:5], sparse24.pack_meta(meta[None, :5])[0], cfg)
    assert beats[1] >> 64 == (int(meta[4, 0]) | int(meta[4, 1]) << 2) | 0x444 << 4


def test_pack_refuses_what_the_beat_cannot_carry():
    cfg = NMConfig()
    with pytest.raises(ValueError, match="signed 8-bit"):
        pack_sparse([[200, 0]], [4], cfg)
    with pytest.raises(ValueError, match="meta words"):
        pack_sparse([[1, 0]], [4, 0], cfg)
    with pytest.raises(ValueError, match="beyond the row's last group"):
        pack_sparse([[1, 0]], [0x34], cfg)       # an index >= m cannot be packed
    with pytest.raises(ValueError, match="activations"):
        pack_acts([1, 2.5], cfg)


@pytest.mark.parametrize("bad, label", [((1, 1), "duplicate"), ((3, 0), "out of order"),
                                        ((2, 2), "duplicate high")])
def test_malformed_metadata_is_flagged_and_computed_literally(bad, label):
    cfg = NMConfig(groups=2)
    a = np.arange(8) * 3 - 11
    good_meta = np.array([[0, 2], [1, 3]])
    values = np.array([[7, -9], [4, 6]])
    meta = good_meta.copy()
    meta[1] = bad
    words = sparse24.pack_meta(meta[None])[0]
    want = sum(int(values[g, j]) * int(a[g * 4 + meta[g, j]]) for g in range(2) for j in range(2))
    assert mac_beats(pack_sparse(values, words, cfg), pack_acts(a, cfg), cfg) == (want, True)
    assert mac_groups(values, meta, a, cfg) == (want, True)


def test_index_outside_m_and_mode_change_are_flagged():
    cfg = NMConfig(groups=1)
    a = np.array([1, 2, 3, 4])
    assert mac_groups([[5, 6]], [[1, 4]], a, cfg) == (10, True)     # index 4 adds 0
    w = sparse_words(np.array([0, 1, 0, 2, 3, 0, 0, 4]), cfg)
    ab = pack_acts(np.array([1, 2, 3, 4, 5, 6, 7, 8]), cfg)
    assert mac_beats(w, ab, cfg) == (1 * 2 + 2 * 4 + 3 * 5 + 4 * 8, False)
    w[1] |= DENSE << cfg.mode_at                   # mode changes inside the dot product
    assert mac_beats(w, ab, cfg) == (1 * 2 + 2 * 4 + 3 * 5 + 4 * 8, True)


def test_extremes_and_overflow_both_modes():
    for overflow in ("wrap", "saturate"):
        cfg = NMConfig(groups=4, overflow=overflow)
        w = np.tile([-128, 0, -128, 0], 1 << 16)             # 2**17 products of 2**14
        a = np.full(len(w), -128)
        got, err = mac_beats(sparse_words(w, cfg), pack_acts(a, cfg), cfg)
        assert not err
        assert got == (-(1 << 31) if overflow == "wrap" else (1 << 31) - 1)


def test_parameter_checks_name_the_parameter():
    for kw, msg in [({"m": 6}, "m must be a power of two"), ({"n": 4}, "n must be an integer"),
                    ({"n": 3, "m": 8}, "n must divide m"), ({"groups": 0}, "groups must"),
                    ({"width": 12}, "width must be 8 or 16"), ({"acc_width": 15}, "acc_width"),
                    ({"overflow": "clip"}, "overflow"), ({"n": True}, "n must be")]:
        with pytest.raises(ValueError, match=msg):
            NMConfig(**kw)


def test_cycle_model_and_storage():
    cfg = NMConfig()
    assert beats_sparse(0, cfg) == 1 and beats_sparse(16, cfg) == 1 and beats_sparse(17, cfg) == 2
    assert beats_dense_fallback(32, cfg) == 4
    assert frame_cycles(10, 4) == 14
    assert storage_bits_per_group(cfg) == (2 * (8 + 2), 32)
    assert storage_bits_per_group(NMConfig(n=1, m=4, width=16, acc_width=40)) == (18, 64)
