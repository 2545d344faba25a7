"""cocotb bench of ``sparse_mac`` (N:M sparse MAC with dense fallback) and ``dense_mac``
(its dense twin), checked against golden.nm_mac.

The same tests run on every build in :mod:`tb.benches`; they read the top's name and
parameters, so golden is asked exactly what the hardware computes.  Workloads depend only
on the seed and the test name (which carries the workload's N:M pattern ``n``, a test
parameter: see :func:`patterns`), so the sparse unit and the twin get the same dot products
(in their own packing) and record a digest of their results: ``tests/test_nm_mac_twins.py``
and ``make bench`` compare the digests of the two tops.  Without stalls every test asserts
that back-to-back dot products take exactly (w beats + the build's ``latency``) cycles
from the first w transfer to the last result.  Every wait is bounded.
"""

import hashlib
import json
import tempfile
from pathlib import Path

import cocotb
import numpy as np

from golden import sparse24
from golden.nm_mac import (DENSE, NMConfig, dense_beats, mac_beats, pack_acts, pack_dense,
                           pack_dense_fallback, pack_sparse, to_signed)
from hw.blocks import get_block

from .axis import Beat
from .bench import block_params, start, test_name
from .scoreboard import Scoreboard
from .transactions import Transaction, TransactionDriver

STALL = 0.3


def config(top, n=None):
    """The :class:`NMConfig` of this build's workloads: the sparse unit's own, or, for the
    twin (which has no ``n``), that of the sparse unit with pattern ``n`` it stands in for
    (default ``m/2``: 2:4 for the defaults)."""
    p = get_block(top).params(block_params())
    own = p.pop("n", None)
    return NMConfig.of_build({**p, "n": own or n or p["m"] // 2})


def patterns():
    """The values of the workload tests' ``n`` parameter on this build.  A sparse build runs
    its own pattern only; the dense twin, one unit for every sparse unit with its ``m``, G
    and widths, runs each pattern such a unit can have (every ``n`` dividing ``m``), so a
    comparison picks the twin's tests of its sparse build by name (``.../n=1``, see
    bench/bench_nm_mac.py).  The build is known when cocotb imports this module; imported
    outside a simulation (by tb.soak_cocotb) no test runs, and the default pattern stands."""
    top = getattr(cocotb, "top", None)
    if top is None:
        return [None]
    p = get_block(top._name).params(block_params())
    return [p["n"]] if "n" in p else [n for n in range(1, p["m"]) if p["m"] % n == 0]


WORKLOAD = dict(stall=[False, True], n=patterns())   # every workload test's parameters


class MACDriver(TransactionDriver):
    """The w and a sources, the o sink, and one transaction per dot product."""

    def __init__(self, env, stall, n=None):
        super().__init__(env)
        self.top = env.dut._name
        self.twin = self.top == "dense_mac"
        self.cfg = config(self.top, n)
        block = get_block(self.top)
        self.latency = block.make(**block.params(block_params())).latency
        pause = STALL if stall else 0.0
        self.w = env.source("s_axis_w", pause)
        self.a = env.source("s_axis_a", pause)
        self.o = env.sink("m_axis_o", pause, side=("error",))
        self.stall = stall

    def send(self, label, dense_w, acts, *, mode="sparse", words=None, malformed=False):
        """One dot product of ``dense_w · acts``: the sparse unit gets ``words`` (w beats
        from an export or deliberately bad) or the golden packing for ``mode``; the twin
        always gets the dense weights."""
        cfg = self.cfg
        a = pack_acts(acts, cfg)
        if self.twin:
            w = pack_dense(dense_w, cfg)
            want = dense_beats(w, a, cfg)
        else:
            if words is None and mode == "sparse":
                values, meta = sparse24.compress(dense_w, n=cfg.n, m=cfg.m)
                words = pack_sparse(values, sparse24.pack_meta(
                    meta[None], m=cfg.m, word_bits=cfg.meta_word_bits)[0], cfg)
            w = words if words is not None else pack_dense_fallback(dense_w, cfg)
            want = mac_beats(w, a, cfg)
        assert want[1] == malformed, f"{label}: golden flags {want[1]}, expected {malformed}"
        self.w.send(Beat(x, i == len(w) - 1) for i, x in enumerate(w))
        self.a.send(Beat(x) for x in a)
        self.record(Transaction(label, 1, want, malformed, len(w),
                                {"beats": len(w), "macs": len(a) * cfg.span}))

    async def check(self, sb):
        await self.bounded(self.o.wait_for(self.expected_outputs), "results")
        await self.env.cycles(10)
        sb.equal("result count", len(self.o.beats), self.expected_outputs)
        results = []
        for t, beats in self.outputs_of(self.o.beats):
            got = (to_signed(beats[0].data, self.cfg.o_width), bool(beats[0].side["error"]))
            sb.equal(f"{t.label}: (result, error)", got, t.expected)
            sb.equal(f"{t.label}: tlast", beats[0].last, True)
            results.append(got)
        beats = sum(t.info["beats"] for t in self.transactions)
        cycles_exact = None
        if not self.stall:
            first, last = self.w.sent[0].cycle, self.o.beats[-1].cycle
            sb.equal("cycles, first w to last result (w beats + latency)", last - first + 1,
                     beats + self.latency)
            cycles_exact = beats + self.latency
        sb.summary()
        digest = hashlib.sha256(json.dumps(results).encode()).hexdigest()[:16]
        lanes = self.cfg.span if self.twin else self.cfg.lanes
        return self.env.report(
            elements=sum(t.info["macs"] for t in self.transactions), first=self.w.sent[0],
            last=self.o.beats[-1], bound=cycles_exact, dot_products=len(self.transactions),
            w_beats=beats, multipliers=lanes, latency=self.latency, digest=digest, top=self.top)


async def begin(dut, name, stall, n=None):
    """Env, driver and scoreboard of one test; ``n``: the workload's N:M pattern (see
    :func:`patterns`)."""
    env = await start(dut, name)
    return env, MACDriver(env, stall, n), Scoreboard(dut._log)


def nm_weights(rng, cfg, k, extreme=0.1):
    """A dense row pruned N:M by construction: each group keeps 0..n non-zeros (evenly)."""
    lo, hi = -(1 << (cfg.width - 1)), 1 << (cfg.width - 1)
    w = rng.integers(lo, hi, (k // cfg.m, cfg.m))
    for g, row in enumerate(w):
        row[rng.permutation(cfg.m)[:cfg.m - g % (cfg.n + 1)]] = 0
    w[rng.random(w.shape) < extreme] *= 0
    return w.reshape(-1)


def acts(rng, cfg, k):
    return rng.integers(-(1 << (cfg.width - 1)), 1 << (cfg.width - 1), k)


def exported_rows(rng, cfg, rows, cols):
    """Float weights pruned ``n:m`` and exported by ``python -m pruning`` (its CLI entry
    point, called in-process), then loaded from the export with pruning's checked loader.
    Returns ``[(dense row, values, meta_words)]``; for 2:4 the values and packed metadata
    are the sparse24 export's own arrays, for other N:M (which the exporter's sparse24
    format does not cover) the dense export compressed by golden.sparse24."""
    from pruning.cli import main
    from pruning.loader import load_export

    nm24 = (cfg.n, cfg.m) == (2, 4)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "float.npz", fc=rng.normal(size=(rows, cols)))
        assert main(["prune", str(tmp / "float.npz"), "-o", str(tmp / "pruned.npz"),
                     "--nm", f"{cfg.n}:{cfg.m}"]) == 0
        assert main(["export", str(tmp / "pruned.npz"), "-o", str(tmp / "out"), "--format",
                     "sparse24" if nm24 else "dense", "--bits", str(cfg.width)]) == 0
        loaded = load_export(tmp / "out" / "fc.json")
    arrays = loaded["arrays"]
    out = []
    for r in range(rows):
        if nm24:
            values, words = arrays["values"][r], arrays["meta_words"][r]
            dense = sparse24.decompress(values[None], arrays["meta"][r][None],
                                        (1, values.shape[0] * 4))[0]
        else:
            dense = np.asarray(loaded["q"][r], dtype=np.int64)
            values, meta = sparse24.compress(dense, n=cfg.n, m=cfg.m)
            words = sparse24.pack_meta(meta[None], m=cfg.m, word_bits=cfg.meta_word_bits)[0]
        out.append((dense.astype(np.int64), values, words))
    return out


@cocotb.test()
@cocotb.parametrize(**WORKLOAD)
async def mac_pruned_export(dut, stall, n):
    """Rows of a layer pruned N:M and exported by pruning/, as back-to-back dot products."""
    env, drv, sb = await begin(dut, test_name("mac_pruned_export", stall=stall, n=n), stall, n)
    cfg = drv.cfg
    for r, (dense, values, words) in enumerate(exported_rows(env.rng, cfg, 8, 4 * cfg.span)):
        w = None if drv.twin else pack_sparse(values, words, cfg)
        drv.send(f"exported row {r}", dense, acts(env.rng, cfg, len(dense)), words=w)
    await drv.check(sb)


@cocotb.test()
@cocotb.parametrize(**WORKLOAD)
async def mac_groups(dut, stall, n):
    """Groups with 0..n non-zeros, lengths from one group to several beats (partial last
    beats padded), an all-zero row, one-beat dot products back to back."""
    env, drv, sb = await begin(dut, test_name("mac_groups", stall=stall, n=n), stall, n)
    cfg, rng = drv.cfg, env.rng
    lengths = [cfg.m, cfg.span, 3 * cfg.span + cfg.m, 1, 5 * cfg.span] + [cfg.span] * 6
    for i, k in enumerate(lengths):
        k = -(-k // cfg.m) * cfg.m
        w = nm_weights(rng, cfg, k) if i != 3 else np.zeros(k, np.int64)
        drv.send(f"row {i} ({k} weights)", w, acts(rng, cfg, k))
    await drv.check(sb)


@cocotb.test()
@cocotb.parametrize(**WORKLOAD)
async def mac_extremes(dut, stall, n):
    """Most negative × most negative in every slot, long enough to overflow the
    accumulator (wrap or saturate, whichever the build does); then short extreme rows."""
    env, drv, sb = await begin(dut, test_name("mac_extremes", stall=stall, n=n), stall, n)
    cfg = drv.cfg
    lo = -(1 << (cfg.width - 1))
    per_beat = cfg.lanes * lo * lo                    # one beat's step, all slots extreme
    beats = (1 << (cfg.acc_width - 1)) // per_beat + 2
    k = beats * cfg.span
    w = np.tile([lo] * cfg.n + [0] * (cfg.m - cfg.n), k // cfg.m)
    drv.send("min x min, overflowing", w, np.full(k, lo))
    drv.send("single extreme product", w[:cfg.m], np.full(cfg.m, lo))
    drv.send("min x max, mixed signs", w[:4 * cfg.span],
             np.resize([lo, -lo - 1, -lo - 1], 4 * cfg.span))
    await drv.check(sb)


@cocotb.test()
@cocotb.parametrize(**WORKLOAD)
async def mac_fallback(dut, stall, n):
    """Dense (unpruned) rows in dense-fallback mode mixed with sparse rows: the mode
    switches between dot products; partial final chunks.  The twin runs the same rows."""
    env, drv, sb = await begin(dut, test_name("mac_fallback", stall=stall, n=n), stall, n)
    cfg, rng = drv.cfg, env.rng
    for i in range(10):
        k = cfg.span * int(rng.integers(1, 4)) + (cfg.m if i % 4 == 1 else 0)
        dense = i % 2 == 0
        w = acts(rng, cfg, k) if dense else nm_weights(rng, cfg, k)
        drv.send(f"{'dense' if dense else 'sparse'} row {i}", w, acts(rng, cfg, k),
                 mode="dense" if dense else "sparse")
    lo = -(1 << (cfg.width - 1))
    k = cfg.span * 2
    drv.send("dense, extreme", np.full(k, lo), np.full(k, lo), mode="dense")
    await drv.check(sb)


@cocotb.test()
@cocotb.parametrize(**WORKLOAD)
async def mac_dense_rows(dut, stall, n):
    """Unpruned rows only, in dense-fallback mode on the sparse unit (the twin's own mode):
    the shape of mac_pruned_export, so make bench compares the two rates."""
    env, drv, sb = await begin(dut, test_name("mac_dense_rows", stall=stall, n=n), stall, n)
    cfg = drv.cfg
    for r in range(8):
        k = 4 * cfg.span
        drv.send(f"dense row {r}", acts(env.rng, cfg, k), acts(env.rng, cfg, k), mode="dense")
    await drv.check(sb)


def corrupt(words, cfg, kind):
    """``words`` (valid sparse beats, at least two) with one bad-input class applied."""
    words = list(words)
    field = cfg.n * cfg.b
    at = cfg.meta_at + (cfg.groups - 1) * field        # the beat's last group
    if kind in ("duplicate indices", "out-of-order indices"):
        if cfg.n == 1:
            return None                  # a single index per group is never out of order
        idx = [1] * cfg.n if kind == "duplicate indices" else list(range(cfg.n))[::-1]
        packed = sum(v << (cfg.b * j) for j, v in enumerate(idx))
        words[0] = words[0] & ~(((1 << field) - 1) << at) | packed << at
    else:                                               # the mode bit flips mid-frame
        words[1] ^= DENSE << cfg.mode_at
    return words


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def mac_malformed(dut, stall):
    """Each bad-input class raises error on its own result; the next dot product is
    exact with error low (sparse unit only: the twin has no metadata)."""
    env, drv, sb = await begin(dut, test_name("mac_malformed", stall=stall), stall)
    cfg, rng = drv.cfg, env.rng
    assert not drv.twin, "mac_malformed runs on sparse_mac only"
    k = 2 * cfg.span
    for kind in ("duplicate indices", "out-of-order indices", "mode change (sparse frame)",
                 "mode change (dense frame)"):
        w, a = nm_weights(rng, cfg, k), acts(rng, cfg, k)
        if kind == "mode change (dense frame)":
            words = corrupt(pack_dense_fallback(w, cfg), cfg, kind)
        else:
            values, meta = sparse24.compress(w, n=cfg.n, m=cfg.m)
            words = corrupt(pack_sparse(values, sparse24.pack_meta(
                meta[None], m=cfg.m, word_bits=cfg.meta_word_bits)[0], cfg), cfg, kind)
        if words is None:
            continue
        drv.send(kind, w, a, words=words, malformed=True)
        drv.send(f"valid after {kind}", nm_weights(rng, cfg, k), acts(rng, cfg, k))
    await drv.check(sb)
