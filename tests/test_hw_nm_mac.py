"""amaranth.sim tests of hw/nm_mac.py against golden/nm_mac.py: every result and flag, the
exact cycle count without stalls, random pauses on both inputs and the output, parameter
checks.  (The cocotb bench tb/bench_nm_mac.py runs the Verilator builds.)"""
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden import sparse24
from golden.nm_mac import (DENSE, dense_beats, mac_beats, pack_acts, pack_dense,
                           pack_dense_fallback, pack_sparse, to_signed)
from hw.nm_mac import LATENCY, DenseMAC, SparseMAC, latency_of, tree_stages


def nm_dense(rng, cfg, k):
    w = rng.integers(-(1 << (cfg.width - 1)), 1 << (cfg.width - 1), (k // cfg.m, cfg.m))
    for row in w:
        row[rng.permutation(cfg.m)[:cfg.m - int(rng.integers(0, cfg.n + 1))]] = 0
    return w.reshape(-1)


def sparse_frame(rng, cfg, k):
    w, a = nm_dense(rng, cfg, k), rng.integers(-(1 << (cfg.width - 1)), 1 << (cfg.width - 1), k)
    values, meta = sparse24.compress(w, n=cfg.n, m=cfg.m)
    words = sparse24.pack_meta(meta[None], m=cfg.m, word_bits=cfg.meta_word_bits)[0]
    return w, a, pack_sparse(values, words, cfg), pack_acts(a, cfg)


def run(dut, frames, *, pause=0.0, seed=0, max_cycles=5000):
    """Drive ``frames`` [(w words, a words)] back to back; returns results [(value, error,
    cycle)] and the cycle of the first w transfer (cycle c = the transfer at clock edge c)."""
    rng = random.Random(seed)
    out, first = [], []
    ws = [(wd, i == len(f[0]) - 1) for f in frames for i, wd in enumerate(f[0])]
    acts = [(x, False) for f in frames for x in f[1]]

    def source(port, items, with_last):
        async def bench(ctx):
            c = 0
            for data, last in items:
                while pause and rng.random() < pause:
                    await ctx.tick()
                    c += 1
                ctx.set(port.payload.data, data)
                if with_last:
                    ctx.set(port.payload.last, last)
                ctx.set(port.valid, 1)
                while c < max_cycles:       # ready sampled at the edge, all inputs set
                    _, _, ready = await ctx.tick().sample(port.ready)
                    c += 1
                    if ready:
                        break
                if with_last and not first:
                    first.append(c)
                ctx.set(port.valid, 0)
        return bench

    async def sink(ctx):
        for c in range(1, max_cycles):
            ready = not (pause and rng.random() < pause)
            ctx.set(dut.o.ready, ready)
            _, _, valid, data, err, last = await ctx.tick().sample(
                dut.o.valid, dut.o.payload.data, dut.error, dut.o.payload.last)
            if ready and valid:
                assert last, "every result is a one-beat packet"
                out.append((to_signed(data, dut.cfg.o_width), err, c))
            if len(out) == len(frames):
                return

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source(dut.w, ws, True))
    sim.add_testbench(source(dut.a, acts, False))
    sim.add_testbench(sink)
    sim.run()
    assert len(out) == len(frames), f"{len(out)} of {len(frames)} results: the DUT hangs"
    return out, first[0]


CONFIGS = [dict(), dict(groups=1, overflow="saturate"), dict(n=1, m=4, groups=2, width=16,
                                                             acc_width=40),
           dict(n=2, m=8, groups=2, acc_width=18, overflow="saturate"),
           dict(groups=16, overflow="saturate")]     # 32 products: a third tree stage


@pytest.mark.parametrize("params", CONFIGS, ids=str)
@pytest.mark.parametrize("pause", [0.0, 0.3])
def test_sparse_and_fallback_frames(params, pause):
    dut = SparseMAC(**params)
    cfg, rng = dut.cfg, np.random.default_rng(1)
    frames, want = [], []
    for i in range(12):
        k = int(rng.integers(0, 5)) * cfg.span + cfg.m * int(rng.integers(0, cfg.groups))
        w, a, wb, ab = sparse_frame(rng, cfg, k)
        if i % 3 == 2:                                  # dense fallback on the same data
            wb = pack_dense_fallback(w, cfg)
        frames.append((wb, ab))
        want.append(mac_beats(wb, ab, cfg))
    out, first = run(dut, frames, pause=pause, seed=3)
    assert [(v, bool(e)) for v, e, _ in out] == want
    if not pause:
        beats = sum(len(f[0]) for f in frames)
        assert out[-1][2] - first + 1 == beats + dut.latency


def test_tree_stages_and_latency():
    """At most two adder levels between registers: 2 stages up to 16 products, one more
    per 4× beyond; the latency follows, and every default-sized build keeps LATENCY."""
    assert [tree_stages(p) for p in (1, 2, 8, 16, 32, 64, 128)] == [2, 2, 2, 2, 3, 3, 4]
    assert SparseMAC().latency == DenseMAC().latency == LATENCY == latency_of("dsp", 8) == 5
    assert SparseMAC(groups=16).latency == latency_of("dsp", 32) == 6
    assert DenseMAC(groups=16).latency == latency_of("dsp", 64) == 6
    assert SparseMAC(groups=16, multipliers="lut").latency == 8
    with pytest.raises(ValueError, match="products"):
        tree_stages(0)


def test_malformed_metadata_and_mode_change_recover():
    dut = SparseMAC()
    cfg, rng = dut.cfg, np.random.default_rng(2)
    frames = []
    for bad in ("dup", "order", "mode"):
        w, a, wb, ab = sparse_frame(rng, cfg, 2 * cfg.span)
        if bad == "mode":
            wb[1] |= DENSE << cfg.mode_at
        else:
            field = (1 | 1 << 2) if bad == "dup" else (3 | 0 << 2)
            wb[0] = wb[0] & ~(0xF << (cfg.meta_at + 4)) | field << (cfg.meta_at + 4)
        frames.append((wb, ab))
        frames.append(sparse_frame(rng, cfg, cfg.span)[2:])
    out, _ = run(dut, frames)
    want = [mac_beats(wb, ab, cfg) for wb, ab in frames]
    assert [(v, bool(e)) for v, e, _ in out] == want
    assert [e for _, e in want] == [True, False] * 3


def test_dense_twin_agrees():
    dut = DenseMAC()
    cfg, rng = dut.cfg, np.random.default_rng(4)
    frames, sparse_want = [], []
    for _ in range(6):
        w, a, wb, ab = sparse_frame(rng, cfg, int(rng.integers(1, 4)) * cfg.span)
        frames.append((pack_dense(w, cfg), ab))
        sparse_want.append(mac_beats(wb, ab, cfg))
    out, first = run(dut, frames)
    assert [(v, bool(e)) for v, e, _ in out] == [dense_beats(*f, cfg) for f in frames] \
        == sparse_want
    assert out[-1][2] - first + 1 == sum(len(f[0]) for f in frames) + LATENCY


@pytest.mark.parametrize("width", [8, 16])
def test_extreme_products_both_units(width):
    """Most negative x most negative and x most positive in every slot, in both units,
    through every stage of the pipelined adder tree, with the exact cycle count."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    sparse = SparseMAC(width=width, acc_width=2 * width + 8)
    dense = DenseMAC(width=width, acc_width=2 * width + 8)
    cfg = sparse.cfg
    k = 3 * cfg.span
    rows = [(np.tile([lo, 0, lo, 0], k // 4), np.full(k, lo)),
            (np.tile([lo, 0, hi, 0], k // 4), np.resize([hi, lo, lo, hi], k)),
            (np.tile([0, hi, 0, hi], k // 4), np.full(k, hi))]
    s_frames, d_frames = [], []
    for w, a in rows:
        values, meta = sparse24.compress(w, n=cfg.n, m=cfg.m)
        words = sparse24.pack_meta(meta[None], m=cfg.m, word_bits=cfg.meta_word_bits)[0]
        s_frames.append((pack_sparse(values, words, cfg), pack_acts(a, cfg)))
        d_frames.append((pack_dense(w, cfg), pack_acts(a, cfg)))
    want = [(int(np.dot(w, a)), False) for w, a in rows]
    assert [mac_beats(*f, cfg) for f in s_frames] == want
    for dut, frames in ((sparse, s_frames), (dense, d_frames)):
        out, first = run(dut, frames)
        assert [(v, bool(e)) for v, e, _ in out] == want
        assert out[-1][2] - first + 1 == sum(len(f[0]) for f in frames) + LATENCY


@pytest.mark.parametrize("kw, msg", [

    (dict(m=6), "m must be a power of two"), (dict(n=0), "n must be an integer in"),
    (dict(n=3, m=8), "n must divide m"), (dict(groups=3), "groups must be a power of two"),
    (dict(width=12), "width must be 8 or 16"), (dict(acc_width=8), "acc_width must be"),
    (dict(overflow="clip"), "overflow must be")])
def test_parameters_checked_up_front(kw, msg):
    with pytest.raises(ValueError, match=msg):
        SparseMAC(**kw)
    if "n" not in kw:
        with pytest.raises(ValueError, match=msg):
            DenseMAC(**kw)
