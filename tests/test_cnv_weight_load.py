"""The Cnvlutin unit's weight load under bad input, in the Amaranth simulator, against
:func:`golden.cnv.load_weights`: fields that are not ``weight_width``-bit values, more
than ``max_k`` beats, and the recovery at the next clean load.  Loads and windows are
interleaved as a program, with random pauses on every stream; each window's outputs and
``error`` must be golden's exactly (the windows read the weights the last load left)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden import cnv
from hw.cnv_unit import CnvUnit

from cnv_sim import run_program

# 6-bit weights in 8-bit fields, so that a field can hold a value the unit must refuse
P = dict(lanes=2, filters=3, brick=4, value_width=8, weight_width=6, max_k=12)


def _run(program, seed):
    return run_program(CnvUnit(**P), program, seed)


def _golden(program):
    w, bad = np.zeros((P["filters"], 0), dtype=np.int64), False
    want = []
    for kind, item in program:
        if kind == "load":
            w, bad = cnv.load_weights(item, filters=P["filters"],
                                      weight_width=P["weight_width"], max_k=P["max_k"])
        else:
            out, err, _ = cnv.unit_window(item, w, lanes=P["lanes"], brick=P["brick"])
            want.append((list(out), err or bad))
    return want


def _window(rng, k_len):
    a = rng.integers(-128, 128, k_len)
    a[rng.random(k_len) < 0.4] = 0
    return ("window", cnv.window_streams(a, lanes=P["lanes"], brick=P["brick"]))


def _load(rng, k_len, *, spoil):
    """A load of ``k_len`` beats; ``spoil``: one field made too wide for 6 bits."""
    words = cnv.weight_words(rng.integers(-32, 32, (P["filters"], k_len)), weight_width=6)
    if spoil:
        i, f = int(rng.integers(k_len)), int(rng.integers(P["filters"]))
        field = int(rng.choice([32, 100, -33 & 0xFF, 0x80]))
        words[i] = words[i] & ~(0xFF << (8 * f)) | field << (8 * f)
    return ("load", words)


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from(["field", "too_many", "both"]))
def test_bad_load_is_flagged_on_its_windows_and_the_next_load_recovers(seed, fault):
    rng = np.random.default_rng(seed)
    k_len = int(rng.integers(1, P["max_k"] + 1))
    long_len = P["max_k"] + int(rng.integers(1, 5))
    bad_len = long_len if fault != "field" else k_len
    program = [_load(rng, k_len, spoil=False), _window(rng, k_len),
               _load(rng, bad_len, spoil=fault != "too_many"),
               _window(rng, bad_len), _window(rng, min(bad_len, P["max_k"])),
               _load(rng, k_len, spoil=False), _window(rng, k_len)]
    want = _golden(program)
    assert [err for _, err in want] == [False, True, True, False]   # the program's intent
    assert _run(program, seed) == want


def test_a_bad_field_zeroes_its_beat_for_every_filter():
    """Fixed case: beat 1's filter-2 field is 100 (not a 6-bit value); the window's dense
    activations are all 1, so each output is its filter's sum without beat 1."""
    w = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [-1, -2, -3, -4]])
    words = cnv.weight_words(w, weight_width=6)
    words[1] = words[1] & ~(0xFF << 16) | 100 << 16
    acts = np.ones(4, dtype=np.int64)
    program = [("load", words), ("window", cnv.window_streams(acts, lanes=2, brick=4))]
    got = _run(program, seed=1)
    assert got == [([1 + 3 + 4, 5 + 7 + 8, -1 - 3 - 4], True)] == _golden(program)


@pytest.mark.parametrize("beats", [P["max_k"], P["max_k"] + 1])
def test_max_k_beats_fit_and_one_more_is_dropped(beats):
    w = np.arange(beats).reshape(1, beats) % 31 * np.array([[1], [-1], [2]]) % 32
    program = [("load", cnv.weight_words(w, weight_width=6)),
               ("window", cnv.window_streams(np.ones(P["max_k"], dtype=np.int64),
                                             lanes=2, brick=4, dense=True))]
    got = _run(program, seed=beats)
    assert got == _golden(program)
    assert got[0][1] == (beats > P["max_k"])
