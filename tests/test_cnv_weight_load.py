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
from golden.bits import to_signed
from hw.cnv_unit import CnvUnit

from amaranth_sim import StreamSim

# 6-bit weights in 8-bit fields, so that a field can hold a value the unit must refuse
P = dict(lanes=2, filters=3, brick=4, value_width=8, weight_width=6, max_k=12)
MAX_CYCLES = 6000


def _run(program, seed):
    """Drive ``program`` (("load", words) and ("window", lane streams) items, in order)
    into a fresh unit; returns [(outputs, error)] of its windows.  A load is offered only
    once every earlier window's beats are in, a window only once every earlier load is."""
    dut = CnvUnit(**P)
    sim = StreamSim(dut, seed=seed)
    L, F = P["lanes"], P["filters"]
    loads_done, lanes_done = set(), [set() for _ in range(L)]
    n_windows = sum(kind == "window" for kind, _ in program)
    got = []

    async def wait_for(ctx, ready):
        for _ in range(MAX_CYCLES):
            if ready():
                return
            await ctx.tick()
        raise AssertionError("the program's order cannot advance: the unit hangs")

    def lane_tb(k):
        async def tb(ctx):
            for i, (kind, item) in enumerate(program):
                if kind == "load":
                    await wait_for(ctx, lambda i=i: i in loads_done)
                    continue
                beats = item[k]
                for j, beat in enumerate(beats):
                    await sim.put(ctx, getattr(dut, f"lane{k}"), beat, j == len(beats) - 1,
                                  pause=0.3)
                lanes_done[k].add(i)
        return tb

    async def w_tb(ctx):
        for i, (kind, words) in enumerate(program):
            if kind != "load":
                continue
            await wait_for(ctx, lambda i=i: all(
                j in done for done in lanes_done
                for j, (kd, _) in enumerate(program[:i]) if kd == "window"))
            for j, word in enumerate(words):
                await sim.put(ctx, dut.w, word, j == len(words) - 1, pause=0.3)
            loads_done.add(i)

    async def out_tb(ctx):
        for _ in range(MAX_CYCLES):
            taken, _, data, _, err, _ = await sim.get(ctx, dut.out, ready=sim.wants(0.7),
                                                      sample=(dut.error,))
            if taken:
                got.append(([to_signed(data >> (32 * f), 32) for f in range(F)], bool(err)))
                if len(got) == n_windows:
                    return
        raise AssertionError(f"{len(got)} of {n_windows} outputs: the unit hangs")

    sim.run(out_tb, background=[w_tb] + [lane_tb(k) for k in range(L)])
    return got


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
