"""Tests of golden/cnv.py: stream packing, threshold, exact outputs on valid and malformed
streams, the cycle model, and the link to golden/zfnaf.py and pruning's zfnaf export."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden import cnv, zfnaf
from golden.accumulate import wrap

SETTINGS = settings(deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def windows(draw, max_k=70):
    lanes = draw(st.sampled_from([1, 2, 4, 16]))
    brick = draw(st.sampled_from([2, 4, 16]))
    k_len = draw(st.integers(1, max_k))
    n_f = draw(st.integers(1, 4))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, k_len)
    a[rng.random(k_len) >= density] = 0
    w = rng.integers(-128, 128, (n_f, k_len))
    return lanes, brick, a, w


@SETTINGS
@given(windows(), st.sampled_from(["wrap", "saturate"]), st.integers(16, 32),
       st.integers(0, 100), st.booleans())
def test_valid_window_matches_reference(case, overflow, acc_width, threshold, dense):
    lanes, brick, a, w = case
    streams = cnv.window_streams(a, lanes=lanes, brick=brick, threshold=threshold, dense=dense)
    out, error, steps = cnv.unit_window(streams, w, lanes=lanes, brick=brick,
                                        acc_width=acc_width, overflow=overflow)
    assert not error
    ref = cnv.reference(a, w, lanes=lanes, brick=brick, acc_width=acc_width,
                        overflow=overflow, threshold=threshold, dense=dense)
    np.testing.assert_array_equal(out, ref)
    exact = w @ cnv.apply_threshold(a, threshold)
    if overflow == "wrap":
        np.testing.assert_array_equal(out, wrap(exact, acc_width))
    elif acc_width == 32:        # no product sum of 70 8-bit terms reaches 2**31
        np.testing.assert_array_equal(out, exact)
    assert steps == cnv.window_steps(streams)


@SETTINGS
@given(windows())
def test_dense_equals_zero_skip_and_costs_more(case):
    lanes, brick, a, w = case
    zs = cnv.window_streams(a, lanes=lanes, brick=brick)
    dn = cnv.window_streams(a, lanes=lanes, brick=brick, dense=True)
    o1, e1, s1 = cnv.unit_window(zs, w, lanes=lanes, brick=brick)
    o2, e2, s2 = cnv.unit_window(dn, w, lanes=lanes, brick=brick)
    np.testing.assert_array_equal(o1, o2)
    assert not e1 and not e2 and s1 <= s2
    # cycle model: busiest lane, an all-zero brick costs one beat
    bricks = cnv.lane_bricks(a.size, lanes, brick)
    want = max(max(1, sum(max(1, int(np.count_nonzero(a[j * brick:(j + 1) * brick])))
                          for j in b)) for b in bricks)
    assert s1 == want
    assert s2 == max(max(1, sum(min(brick, a.size - j * brick) for j in b)) for b in bricks)


def test_threshold():
    a = np.array([0, 1, -1, 2, -3, 5, -128, 127])
    np.testing.assert_array_equal(cnv.apply_threshold(a, 2), [0, 0, 0, 2, -3, 5, -128, 127])
    np.testing.assert_array_equal(cnv.apply_threshold(a, 0), a)
    with pytest.raises(ValueError, match="threshold"):
        cnv.apply_threshold(a, -1)


def test_packing_and_brick_check():
    word = cnv.pack_entry(-3, 5, value_width=8, end=True)
    assert word == (0xFD | 5 << 8 | 0x80 << 8)
    assert cnv.unpack_entry(word, 8) == (-3, 5, False, True, True)
    assert cnv.unpack_entry(cnv.pack_entry(0, 0, value_width=8, end=True, empty=True), 8)[2]
    assert cnv.unpack_entry(0x7F, 4)[4] is False          # 127 is not a 4-bit value
    with pytest.raises(ValueError, match="brick"):
        cnv.check_brick(128)
    with pytest.raises(TypeError, match="brick"):
        cnv.check_brick(16.0)


@SETTINGS
@given(windows(max_k=40), st.integers(0, 40), st.booleans())
def test_encoder_model_matches_window_streams(case, threshold, dense):
    lanes, brick, a, _ = case
    words = cnv.encoder_words(a, lanes=lanes, brick=brick)
    want = cnv.window_streams(a, lanes=lanes, brick=brick, threshold=threshold, dense=dense)
    for k in range(lanes):
        got, err = cnv.encoder_output(words[k], brick=brick, threshold=threshold, dense=dense)
        assert got == want[k] and not err


def test_encoder_bad_length():
    word = 0x01 | (17 << (16 * 8))
    beats, err = cnv.encoder_output([word], brick=16)
    assert err and beats == [cnv.pack_entry(1, 0, value_width=8, end=True)]


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 40), st.sampled_from([1, 2, 4]),
       st.integers(0, 2**32 - 1))
def test_zfnaf_link(positions, k_len, lanes, seed):
    """streams_from_zfnaf of golden.zfnaf.encode equals window_streams, and pruning's
    packed entries are the low bits of the lane words."""
    from pruning.formats import encode as fmt_encode
    rng = np.random.default_rng(seed)
    a = rng.integers(-100, 100, (positions, k_len)).astype(np.int8)
    a[rng.random(a.shape) < 0.5] = 0
    enc = zfnaf.encode(a, axis=-1, brick=16)
    arrays, *_ = fmt_encode(a, "zfnaf", 8, axis=-1, brick=16)
    got = cnv.streams_from_zfnaf(enc, k_len, lanes=lanes, entries=arrays["entries"])
    again = cnv.streams_from_zfnaf(enc, k_len, lanes=lanes)
    assert got == again == [cnv.window_streams(a[p], lanes=lanes) for p in range(positions)]


# ------------------------------------------------------------- malformed streams

def _good(lanes=2, k_len=40, brick=16, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(-50, 50, k_len)
    a[rng.random(k_len) < 0.4] = 0
    a[:brick] = np.arange(1, brick + 1)          # brick 0 full
    w = rng.integers(-50, 50, (3, k_len))
    return a, w, cnv.window_streams(a, lanes=lanes, brick=brick)


def _run(streams, w, lanes=2):
    return cnv.unit_window(streams, w, lanes=lanes)


def test_malformed_classes_flag_error_and_drop_only_the_bad_entry():
    a, w, good = _good()
    out, err, _ = _run(good, w)
    assert not err
    # offset outside the brick: last brick of lane 0 is 8 long (K = 40, bricks 0 and 2)
    bad = [list(good[0]), list(good[1])]
    bad[0][-1] = cnv.pack_entry(9, 12, value_width=8, end=True)
    assert _run(bad, w)[1]
    # offsets not strictly increasing (brick 0, entries 3 and 4 swapped)
    bad = [list(good[0]), list(good[1])]
    bad[0][3], bad[0][4] = bad[0][4], bad[0][3]
    o, e, _ = _run(bad, w)
    assert e
    # the 5th entry (offset 3 after offset 4) is dropped; the rest counts
    np.testing.assert_array_equal(o, out - a[3] * w[:, 3])
    # more than B entries in one brick
    bad = [list(good[0]), list(good[1])]
    bad[0].insert(16, cnv.pack_entry(1, 15, value_width=8))
    assert _run(bad, w)[1]
    # tlast without END, and a lane missing its second brick
    bad = [list(good[0]), list(good[1])]
    bad[0] = bad[0][:16]                         # brick 0 only: brick 2 is owed
    assert _run(bad, w)[1]
    bad = [list(good[0]), list(good[1])]
    bad[1][-1] &= ~(cnv.END << 8)
    assert _run(bad, w)[1]
    # EMPTY in the middle of a brick, or without END
    bad = [list(good[0]), list(good[1])]
    bad[0].insert(1, cnv.pack_entry(0, 0, value_width=8, empty=True, end=True))
    assert _run(bad, w)[1]


def test_null_brick_and_no_weights():
    w = np.ones((2, 5), dtype=np.int64)
    streams = cnv.window_streams(np.arange(1, 6), lanes=4)     # one brick: lanes 1..3 null
    out, err, steps = cnv.unit_window(streams, w, lanes=4)
    assert not err and steps == 5 and list(out) == [15, 15]
    # a null brick beyond the first brick of a lane is flagged
    streams[1] = [streams[1][0], streams[1][0]]
    assert cnv.unit_window(streams, w, lanes=4)[1]
    # no weights loaded (K = 0): any entry is outside the window
    out, err, _ = cnv.unit_window(cnv.window_streams([1, 2], lanes=1), np.zeros((2, 0)), lanes=1)
    assert err and list(out) == [0, 0]


def test_saturate_step_grouping():
    """Two lanes' products in one step are summed before the clamp."""
    w = np.array([[100, 100, 100, 100]])
    a = np.array([100, 0, -100, 100])          # lanes 0 and 1 with brick 2
    streams = cnv.window_streams(a, lanes=2, brick=2)
    out, err, _ = cnv.unit_window(streams, w, lanes=2, brick=2, acc_width=14, overflow="saturate")
    # step 0: 10000 + (-10000) = 0; step 1: 10000 -> clamp 8191
    assert not err and out[0] == 8191
    assert cnv.run_cycles([streams], 2) == 2 + cnv.unit_latency(2)


def test_load_weights_reads_back_a_packed_load():
    w = np.array([[1, -2, 31, -32], [0, 5, -6, 7]])
    got, bad = cnv.load_weights(cnv.weight_words(w, weight_width=6), filters=2, weight_width=6)
    assert not bad and np.array_equal(got, w)


def test_load_weights_bad_field_zeroes_the_whole_beat():
    w = np.array([[1, 2, 3], [4, 5, 6]])
    words = cnv.weight_words(w, weight_width=6)
    words[1] |= 0x40 << 8          # filter 1, beat 1: 69 is not a 6-bit value
    got, bad = cnv.load_weights(words, filters=2, weight_width=6)
    assert bad and got.tolist() == [[1, 0, 3], [4, 0, 6]]


def test_load_weights_beyond_max_k_are_dropped():
    words = cnv.weight_words(np.arange(10).reshape(1, 10))
    got, bad = cnv.load_weights(words, filters=1, max_k=8)
    assert bad and got.tolist() == [list(range(8))]
    got, bad = cnv.load_weights(words[:8], filters=1, max_k=8)
    assert not bad and got.shape == (1, 8)


@pytest.mark.parametrize("words, kw, match", [
    ([], {}, "at least one beat"),
    ([1 << 16], dict(filters=2), "16-bit words"),
    ([-1], dict(filters=2), "16-bit words"),
    ([0], dict(filters=0), r"filters must be an integer in \[1, 32\], not 0"),
    ([0], dict(filters=1, max_k=0), "max_k must be"),
])
def test_load_weights_refuses_what_cannot_be_sent(words, kw, match):
    with pytest.raises(ValueError, match=match):
        cnv.load_weights(words, **{"filters": 1, **kw})
