"""Mask selection: exact counts, the rounding rule, tie-breaking, granularities, N:M."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pruning import masks as M
from pruning.api import prune
from pruning import prune
from pruning.masks import global_select, select


# ---------------------------------------------------------------- rounding rule

@pytest.mark.parametrize("s, n, k", [
    (0.0, 10, 0), (0.5, 10, 5), (0.29, 100, 29),      # 0.29 is read as 29/100, not 0.28999...
    (0.45, 10, 4), (0.55, 10, 6), (0.25, 2, 0),        # exact halves go to the even count
    (1 / 3, 9, 3), (2 / 3, 9, 6),                      # nearest count despite binary 1/3
    (0.9, 1, 0), (0.9, 4, 3), (0.99, 10, 9),           # never all units while s < 1
    (0.5, 0, 0), (np.float32(0.29), 100, 29), (Fraction(1, 3), 3, 1), ("0.125", 8, 1),
])
def test_prune_count_rule(s, n, k):
    assert M.prune_count(s, n) == k


@pytest.mark.parametrize("bad", [1.0, 1, -0.1, float("nan"), float("inf"), True, None, "x"])
def test_prune_count_rejects(bad):
    with pytest.raises(ValueError, match="sparsity"):
        M.prune_count(bad, 10, name="fc1")


# ---------------------------------------------------------------- golden cases

def test_seed_example_loses_smallest_first():
    # Background notes: W = [10, -8, 0.1] with y = ReLU(10x0 - 8x1 + 0.1x2): remove 0.1 first.
    w = np.array([10.0, -8.0, 0.1])
    assert prune(w, 1 / 3).masks[None].tolist() == [True, True, False]
    assert prune(w, 2 / 3).masks[None].tolist() == [True, False, False]


# The "3x3 filter example from the course slides" is not in our notes, so this
# is our own hand-checked filter.  |F| = [[.5, 2, 1], [1, 4, 1], [1, .5, 3]].
# Flat indices 0..8 in row-major order.
#   1/3 of 9 = 3 pruned: the two 0.5s (idx 0, 7), then one of the four tied 1.0s
#   (idx 2, 3, 5, 6); ties keep the lower index, so idx 6 goes.
#   2/3 of 9 = 6 pruned: both 0.5s and all four 1.0s; -2, 4 and 3 survive.
FILTER = np.array([[0.5, -2.0, 1.0],
                   [-1.0, 4.0, -1.0],
                   [1.0, -0.5, 3.0]])


def test_hand_checked_3x3_filter():
    keep13 = prune(FILTER, 1 / 3).masks[None]
    assert keep13.astype(int).tolist() == [[0, 1, 1], [1, 1, 1], [0, 0, 1]]
    keep23 = prune(FILTER, 2 / 3).masks[None]
    assert keep23.astype(int).tolist() == [[0, 1, 0], [0, 1, 0], [0, 0, 1]]
    # The same filter as one (1, 1, 3, 3) conv kernel: kernel granularity keeps or drops it whole.
    conv = FILTER.reshape(1, 1, 3, 3)
    assert prune(conv, 0.5, granularity="kernel").masks[None].all()  # 1 unit: round(0.5)=0


def test_ties_keep_lower_index():
    keep = M.select(np.ones(10), 0.3)
    assert keep.tolist() == [True] * 7 + [False] * 3
    keep = M.lowest_k_keep(np.array([[1.0, 2.0, 1.0, 1.0], [5.0, 5.0, 5.0, 0.0]]), 2)
    assert keep.astype(int).tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]


# ---------------------------------------------------------------- exactness

@settings(deadline=None, max_examples=60)
@given(st.integers(1, 6), st.integers(1, 40), st.fractions(0, Fraction(99, 100)),
       st.integers(0, 2**31 - 1))
def test_exact_count_element_with_ties(rows, cols, s, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-3, 4, size=(rows, cols)).astype(np.float64)  # many ties
    keep = prune(w, s).masks[None]
    assert (~keep).sum() == M.prune_count(s, w.size)
    # Every pruned score <= every kept score.
    if (~keep).any() and keep.any():
        assert np.abs(w[~keep]).max() <= np.abs(w[keep]).min()


@settings(deadline=None, max_examples=30)
@given(st.integers(1, 5), st.integers(2, 30), st.fractions(0, Fraction(99, 100)),
       st.integers(0, 2**31 - 1))
def test_exact_count_per_row(rows, cols, s, seed):
    w = np.random.default_rng(seed).standard_normal((rows, cols))
    keep = prune(w, s, scope="row").masks[None]
    assert ((~keep).sum(axis=1) == M.prune_count(s, cols)).all()


@pytest.mark.parametrize("gran, units", [("vector", 4 * 3 * 5), ("kernel", 4 * 3), ("filter", 4),
                                         ("channel", 3), ("block", 4 * 3 * 5 * 2)])
def test_group_granularities_exact(gran, units):
    w = np.random.default_rng(1).standard_normal((4, 3, 5, 6))
    keep = prune(w, 0.5, granularity=gran, block=3).masks[None]
    k = M.prune_count(0.5, units)
    if gran == "vector":
        g = keep.all(axis=3)
        assert (keep.any(axis=3) == g).all()
    elif gran == "kernel":
        g = keep.all(axis=(2, 3))
        assert (keep.any(axis=(2, 3)) == g).all()
    elif gran == "filter":
        g = keep.all(axis=(1, 2, 3))
        assert (keep.any(axis=(1, 2, 3)) == g).all()
    elif gran == "channel":
        g = keep.all(axis=(0, 2, 3))
        assert (keep.any(axis=(0, 2, 3)) == g).all()
    else:
        b = keep.reshape(4, 3, 5, 2, 3)
        g = b.all(axis=-1)
        assert (b.any(axis=-1) == g).all()
    assert (~g).sum() == k


def test_group_norms_l1_l2_linf_rank_differently():
    # Rows: [3, 0, 0], [2, 2, 0], [1.5, 1.5, 1.5]: L1 = 3, 4, 4.5; L2 = 3, 2.83, 2.6; Linf = 3, 2, 1.5.
    w = np.array([[3.0, 0, 0], [2, 2, 0], [1.5, 1.5, 1.5]])
    drop = {p: int(np.flatnonzero(~prune(w, 1 / 3, granularity="row", p=p).masks[None].all(axis=1))[0])
            for p in (1, 2, np.inf)}
    assert drop == {1: 0, 2: 2, np.inf: 2}
    # p = 1.5: norms 3, 3.17, 3.12 -> row 0 dropped.
    assert not prune(w, 1 / 3, granularity="row", p=1.5).masks[None][0].any()


def test_block_tail_is_scored_as_zero_padded():
    # Length 5 in blocks of 2: blocks [0:2], [2:4] and the tail [4:5].
    w = np.array([[1.0, 1.0, 0.5, 0.5, 1.2]])
    keep = prune(w, 1 / 3, granularity="block", block=2, p=1).masks[None]
    # L1: 2.0, 1.0, 1.2 -> the middle block goes.
    assert keep.astype(int).tolist() == [[1, 1, 0, 0, 1]]


def test_global_one_threshold_across_layers():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([0.5, 10.0])
    res = prune({"a": a, "b": b}, 0.5, scope="global")
    assert res.masks["a"].tolist() == [False, False, True, True]
    assert res.masks["b"].tolist() == [False, True]
    # Ties across layers keep the earlier layer (and, inside one, the lower index).
    res = prune({"a": np.ones(3), "b": np.ones(3)}, 1 / 3, scope="global")
    assert res.masks["a"].all() and res.masks["b"].tolist() == [True, False, False]


# ---------------------------------------------------------------- N:M

@settings(deadline=None, max_examples=40)
@given(st.integers(1, 5), st.integers(1, 23), st.sampled_from([(1, 2), (2, 4), (1, 4), (3, 4), (2, 8)]),
       st.integers(0, 2**31 - 1))
def test_nm_valid_and_tail_rule(rows, cols, nm, seed):
    n, m = nm
    w = np.random.default_rng(seed).integers(-2, 3, size=(rows, cols)).astype(float)
    keep = M.nm_mask(np.abs(w), n, m)
    full = (cols // m) * m
    g = keep[:, :full].reshape(rows, -1, m)
    assert (g.sum(axis=-1) == n).all()
    r = cols - full
    if r:
        # Tail rule: the r tail elements keep min(n, r).
        assert (keep[:, full:].sum(axis=1) == min(n, r)).all()
    assert M.check_nm_mask(keep, n, m)


def test_nm_ties_and_axis():
    s = np.array([[1.0, 1.0, 1.0, 1.0, 0.0, 3.0, 3.0, 2.0]])
    assert M.nm_mask(s).astype(int).tolist() == [[1, 1, 0, 0, 0, 1, 1, 0]]
    s2 = s.reshape(8, 1)
    assert (M.nm_mask(s2, axis=0).ravel() == M.nm_mask(s).ravel()).all()
    # Conv weights: groups along the flattened C*R*S (the exporters' matrix view).
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3))
    keep = prune(w, nm="2:4").masks[None]
    assert M.check_nm_mask(keep.reshape(4, 27), 2, 4)
    assert prune(w, nm=(2, 4)).recipe["nm_tail"] == M.NM_TAIL_RULE


def test_transposable_2_4_is_valid_both_ways_and_optimal():
    rng = np.random.default_rng(3)
    s = np.abs(rng.standard_normal((10, 13)))
    keep = M.transposable_nm_mask(s)
    assert M.check_nm_mask(keep, 2, 4, axis=1) and M.check_nm_mask(keep, 2, 4, axis=0)
    # Full 4x4 blocks keep exactly 2 per row and column.
    blk = keep[:8, :12].reshape(2, 4, 3, 4).transpose(0, 2, 1, 3)
    assert (blk.sum(axis=-1) == 2).all() and (blk.sum(axis=-2) == 2).all()
    # Optimality on one block against brute force over all 90 patterns.
    b = s[:4, :4]
    from pruning.transposable import _patterns
    pats, combs = _patterns(2, 4)
    best = max(sum(b[i, combs[p[i]]].sum() for i in range(4)) for p in pats)
    assert np.isclose(b[keep[:4, :4]].sum(), best)
    assert len(pats) == 90


def test_determinism_same_input_same_mask():
    w = np.random.default_rng(7).standard_normal((64, 64)).round(1)  # ties
    a = prune(w, 0.7).masks[None]
    b = prune(w.copy(order="F"), 0.7).masks[None]
    assert (a == b).all()
    r1 = prune(w, 0.5, criterion="random", seed=11).masks[None]
    r2 = prune(w, 0.5, criterion="random", seed=11).masks[None]
    r3 = prune(w, 0.5, criterion="random", seed=12).masks[None]
    assert (r1 == r2).all() and not (r1 == r3).all()


# ---------------------------------------------------------------- review regressions

def test_global_scope_never_removes_a_whole_layer():
    # Review item 5: layer a's scores are all below b's, so one threshold would take all of a.
    w = {"a": np.full((4, 4), 1e-3), "b": np.arange(1, 65, dtype=float).reshape(8, 8)}
    res = prune(w, 0.3, scope="global")
    k = M.prune_count(0.3, 80)
    assert sum(int((~m).sum()) for m in res.masks.values()) == k  # still exact: 24
    assert res.masks["a"].sum() == 1 and res.masks["a"][0, 0]  # keeps its best (lowest index on ties)
    assert (~res.masks["b"]).sum() == k - 15  # the rest comes from b, lowest scores first
    assert not res.masks["b"].ravel()[:k - 15].any() and res.masks["b"].ravel()[k - 15:].all()
    # Group granularity: one filter of each layer survives.
    conv = {"c1": np.full((3, 2, 1, 1), 1e-3), "c2": np.ones((5, 2, 1, 1))}
    keep = prune(conv, 0.75, scope="global", granularity="filter").masks
    assert keep["c1"].reshape(3, -1).all(axis=1).sum() == 1
    assert sum(int((~k.reshape(k.shape[0], -1).all(axis=1)).sum()) for k in keep.values()) == 6


def test_global_scope_raises_when_the_count_needs_a_whole_layer():
    with pytest.raises(ValueError, match="global scope.*at most 0"):
        prune({"a": np.ones(1), "b": np.ones(1)}, 0.5, scope="global")
    with pytest.raises(ValueError, match="at most 2"):
        M.global_select({"a": np.ones(2), "b": np.ones(1), "c": np.ones(2)}, 0.75)


def _greedy_global(scores: dict, k: int) -> dict:
    """Reference: walk units from first-to-prune to last, skip a layer with one unit left."""
    order = sorted(((float(s), -li, -i, name) for li, (name, a) in enumerate(scores.items())
                    for i, s in enumerate(a.ravel())))
    left = {n: a.size for n, a in scores.items()}
    keep = {n: np.ones(a.size, bool) for n, a in scores.items()}
    for _s, _l, negi, name in order:
        if k == 0:
            break
        if left[name] > 1:
            keep[name][-negi] = False
            left[name] -= 1
            k -= 1
    return {n: keep[n].reshape(a.shape) for n, a in scores.items()}


@settings(deadline=None, max_examples=60)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=4), st.fractions(0, Fraction(99, 100)),
       st.integers(0, 2**31 - 1))
def test_global_scope_matches_greedy_reference(sizes, s, seed):
    rng = np.random.default_rng(seed)
    dtype = float if seed % 2 else np.int64  # both selection paths (+inf sentinel / delete)
    scores = {f"l{i}": rng.integers(0, 3, size=n).astype(dtype) for i, n in enumerate(sizes)}
    k = M.prune_count(s, sum(sizes))
    if k > sum(n - 1 for n in sizes):
        with pytest.raises(ValueError, match="global scope"):
            M.global_select(scores, s)
        return
    got = M.global_select(scores, s)
    want = _greedy_global(scores, k)
    assert all(np.array_equal(got[n], want[n]) for n in scores)
    assert all(m.any() for m in got.values())


@pytest.mark.parametrize("call", [
    lambda: M.nm_mask(np.array([np.nan, 1.0, 2.0, 3.0]), name="L"),
    lambda: M.select(np.array([np.nan, np.nan, 1.0, 2.0]), 0.75, name="L"),
    lambda: M.select(np.array([[np.inf, 1.0]]), 0.5, scope="row", name="L"),
    lambda: M.global_select({"K": np.ones(3), "L": np.array([1.0, np.nan])}, 0.5),
    lambda: M.transposable_nm_mask(np.full((4, 4), np.nan), name="L"),
])
def test_non_finite_scores_are_refused(call):
    # Review item 7: NaN compares false with everything and used to give invalid masks.
    with pytest.raises(ValueError, match="layer 'L': scores must be finite"):
        call()


def test_wanda_with_huge_calibration_gives_valid_masks():
    # ||x|| of 1e200 inputs overflowed to inf and |0| * inf = NaN broke the N:M mask.
    w = np.array([[0.0, 0.5, -0.3, 0.2]])
    res = prune(w, nm="2:4", criterion="wanda", inputs=np.full((4, 4), 1e200))
    assert M.check_nm_mask(res.masks[None]) and res.masks[None].tolist() == [[False, True, True, False]]
    w6 = np.array([[0.0, 0.5, -0.3, 0.2, 0.1, 0.0]])
    keep = prune(w6, 0.5, criterion="wanda", inputs=np.full((4, 6), 1e200)).masks[None]
    assert keep.tolist() == [[False, True, True, True, False, False]]


def test_row_scope_needs_two_axes():
    # Review item 8: a 1-D weight silently pruned nothing.
    with pytest.raises(ValueError, match="layer 'v': scope 'row' needs a weight with at least 2 axes"):
        prune({"v": np.array([3.0, 1.0, 2.0, 0.5])}, 0.5, scope="row")


def test_transposable_without_nm_records_2_4():
    # Review item 4: the default N:M was set after the requested sparsities were recorded.
    res = prune({"L": np.random.default_rng(0).standard_normal((8, 8))}, 0.9, transposable=True)
    assert res.requested["L"] == Fraction(1, 2) and res.recipe["sparsity"] == {"L": 0.5}
    assert res.recipe["nm"] == "2:4" and res.achieved() == {"L": 0.5}


def test_transposable_too_many_patterns_names_layer():
    with pytest.raises(ValueError, match="layer 'L': transposable 2:8 has more than"):
        prune({"L": np.ones((8, 8))}, nm="2:8", transposable=True)


def test_conv_nm_axis_minus_one_is_flattened_explicit_axis_is_real():
    # Review item 13: an explicit axis=3 on (K, C, R, S) means S, not C*R*S.
    w = np.random.default_rng(5).standard_normal((4, 3, 3, 8))
    flat = prune(w, nm="2:4").masks[None]
    assert M.check_nm_mask(flat.reshape(4, -1), 2, 4)
    s_axis = prune(w, nm="2:4", axis=3).masks[None]
    assert np.array_equal(s_axis, M.nm_mask(np.abs(w), 2, 4, axis=3))
    assert np.array_equal(prune(w, nm="2:4", axis=np.int64(-1)).masks[None], flat)
    assert np.array_equal(prune(w, nm="2:4", axis=1).masks[None], M.nm_mask(np.abs(w), 2, 4, axis=1))
    # R*S = 9 is not a multiple of 4, so the flattened and per-S groups differ.
    w2 = np.random.default_rng(6).standard_normal((4, 3, 3, 3))
    assert not np.array_equal(prune(w2, nm="2:4").masks[None], prune(w2, nm="2:4", axis=3).masks[None])


def _g3_weights():
    return {"a": np.vstack([np.full(1024, 3.0), np.full(1024, 1.0)]),
            "b": np.vstack([np.full(1024, 2.0), np.full(1024, 0.5)])}


def test_global_obd_filter_overflow_keeps_one_filter_per_layer():
    w = _g3_weights()
    h = {k: np.full(v.shape, 1e308) for k, v in w.items()}
    r = prune(w, 0.5, criterion="obd", hessians=h, scope="global", granularity="filter")
    assert r.masks["a"][:, 0].tolist() == [True, False]
    assert r.masks["b"][:, 0].tolist() == [True, False]


def test_layer_obd_filter_overflow_ranks_correctly():
    w = np.vstack([np.full(1024, 1.0), np.full(1024, 3.0)])
    r = prune({"a": w}, 0.5, criterion="obd", hessians={"a": np.full(w.shape, 1e308)},
              granularity="filter")
    assert r.masks["a"][:, 0].tolist() == [False, True]


@pytest.mark.parametrize("p", [1, 2, 3, np.inf])
def test_group_norm_of_huge_scores_matches_scaled_ranking(p):
    # Scores near the float64 maximum: the unscaled sums overflow; the ranking
    # must equal the ranking of the same scores divided by 2**1000.
    rng = np.random.default_rng(1)
    small = {"x": rng.random((6, 64)), "y": rng.random((5, 64))}
    big = {k: v * 2.0 ** 1020 for k, v in small.items()}
    want = global_select(small, 0.5, granularity="row", p=p)
    got = global_select(big, 0.5, granularity="row", p=p)
    for k in small:
        assert np.array_equal(want[k], got[k])
    assert np.array_equal(select(big["x"], 0.5, granularity="row", p=p),
                          select(small["x"], 0.5, granularity="row", p=p))


def test_global_select_protects_without_inf_sentinel():
    # Every unit ties; the protected (first) unit of each layer survives.
    s = {"a": np.full((3, 4), 7.0), "b": np.full((2, 4), 7.0)}
    m = global_select(s, 0.6, granularity="row")
    assert m["a"][:, 0].tolist() == [True, False, False]
    assert m["b"][:, 0].tolist() == [True, False]
