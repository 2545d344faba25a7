"""cocotb soak tests: long random runs of every block, checked against golden chunk by chunk.

One test per top (``soak_<top>``; ``sparse_mac`` and ``dense_mac`` share ``soak_mac``).
Each reuses its bench's driver (:mod:`tb.bench_rlc`, :mod:`tb.csr_spmv_driver`,
:mod:`tb.cnv_driver`, :mod:`tb.bench_nm_mac`) and loops: send a chunk of random
transactions (random shapes, densities, values and modes), wait for every output (every
wait bounded by the driver's cycle budget, so a hang fails), compare everything with
golden, check nothing is lost or extra, then forget the chunk, so memory stays flat however
long the run.  Before each chunk every stream gets a new random backpressure pattern: a
pause / not-ready probability in [0, 0.7], or bursts of up to 60 stalled cycles.

What a job does comes from ``SOAK_JOB`` (JSON, set by :mod:`tb.soak`): ``elements`` to
reach, ``malformed`` (the probability that a transaction is replaced by a malformed one,
where the block has bad input) and ``chunk`` (elements per chunk).  The test records one
metrics row with ``soak: true``: elements, simulated cycles, transactions, malformed ones
(as golden judges them), items compared and chunks.
"""

import json
import os
import time

import cocotb
import numpy as np
from cocotb.simtime import get_sim_time

from golden import cnv, rlc
from golden.csr import NZStreams, from_dense
from golden.nm_mac import pack_dense_fallback, pack_sparse
from golden.rlc_mutate import mutate
from golden import sparse24

from .axis import AxisSink, AxisSource, SignalSampler, bursty_ready, random_pauses, random_ready
from .bench import record_metrics, start
from .scoreboard import Scoreboard

# The bench modules are imported by the soak test of their own block only (inside the
# test): a bench may read its build's parameters when imported, which another top lacks.

MAC_KINDS = ("duplicate indices", "out-of-order indices", "mode change (sparse frame)",
             "mode change (dense frame)")


def log_uniform(rng, lo, hi):
    """An integer in [lo, hi], log-uniform: short and long shapes equally often."""
    return int(min(hi, max(lo, round(np.exp(rng.uniform(np.log(lo), np.log(hi + 1)))))))


def density(rng):
    """Fraction of non-zeros: the extremes 0 and 1 a fifth of the time each, else uniform."""
    pick = rng.random()
    return 0.0 if pick < 0.2 else 1.0 if pick < 0.4 else float(rng.random())


def _agents(driver):
    """Every stream agent and sampler a driver holds (directly or in a list)."""
    for value in vars(driver).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (AxisSource, AxisSink, SignalSampler)):
                yield item


class Soak:
    """The chunk loop shared by every soak test, and its figures."""

    def __init__(self, env, driver, samplers=()):
        spec = json.loads(os.environ.get("SOAK_JOB", "{}"))
        self.env, self.driver, self.rng = env, driver, env.rng
        self.target = int(spec.get("elements", 2000))
        self.rate = float(spec.get("malformed", 0.0))
        self.chunk = int(spec.get("chunk", 1000))
        self.samplers = list(samplers)
        self.sb = Scoreboard(env.dut._log)
        self.elements = self.transactions = self.malformed = self.chunks = 0
        self.started = time.monotonic()     # for the simulation rate only, never asserted

    def bad(self):
        """Whether the next transaction is to be malformed (at the job's rate)."""
        return self.rate > 0 and self.rng.random() < self.rate

    def add(self, elements):
        self.elements += int(elements)

    def shuffle_backpressure(self):
        for agent in _agents(self.driver):
            bursty = self.rng.random() < 0.15
            p = float(self.rng.uniform(0.0, 0.7))
            if isinstance(agent, AxisSource):
                agent.pauses = (bursty_ready(self.rng, 60) if bursty
                                else random_pauses(self.rng, p))
            elif isinstance(agent, AxisSink):
                agent.ready = bursty_ready(self.rng, 60) if bursty else random_ready(self.rng, p)

    def forget(self):
        """Drop the checked chunk: transactions, sent and received beats, samples."""
        d = self.driver
        self.transactions += len(d.transactions)
        self.malformed += sum(bool(t.malformed) for t in d.transactions)
        d.transactions.clear()
        for agent in list(_agents(d)) + self.samplers:
            for name in ("sent", "beats", "samples"):
                if isinstance(getattr(agent, name, None), list):
                    getattr(agent, name).clear()

    async def run(self, fill, check):
        """Chunks until ``elements`` are reached: ``fill(budget)`` sends a chunk (and
        counts its elements with :meth:`add`), ``check()`` waits and compares it."""
        while self.elements < self.target:
            self.shuffle_backpressure()
            await fill(min(self.chunk, self.target - self.elements))
            await check()
            self.forget()
            self.chunks += 1
        period = self.env.period
        record_metrics(self.env.name, soak=True, elements=self.elements,
                       cycles=get_sim_time("step") // period, transactions=self.transactions,
                       malformed=self.malformed, items=self.sb.items, checks=self.sb.checks,
                       chunks=self.chunks, mismatches=0,
                       wall_s=round(time.monotonic() - self.started, 3))
        self.env.dut._log.info("soak: %d elements, %d transactions (%d malformed), %d chunks, "
                               "%d items compared, all equal", self.elements,
                               self.transactions, self.malformed, self.chunks, self.sb.items)


# ============================================================================ RLC

def rlc_tensor(rng):
    from . import bench_rlc
    return bench_rlc.random_tensor(rng, log_uniform(rng, 1, 3000), 1.0 - density(rng))


@cocotb.test()
async def soak_rlc_encoder(dut):
    """Random tensors (no input is malformed: every 16-bit value is valid)."""
    from . import bench_rlc
    env = await start(dut, "soak_rlc_encoder")
    drv = bench_rlc.EncoderDriver(env, True)
    soak = Soak(env, drv)
    drv.sb = soak.sb

    async def fill(budget):
        while budget > 0:
            t = rlc_tensor(env.rng)[:budget]
            drv.send(soak.transactions + len(drv.transactions), t)
            soak.add(len(t))
            budget -= len(t)
    await soak.run(fill, drv.check)


@cocotb.test()
async def soak_rlc_decoder(dut):
    """Codes of random tensors; at the job's rate a code is corrupted by
    :func:`golden.rlc_mutate.mutate` (values and error judged by decode_lenient)."""
    from . import bench_rlc
    env = await start(dut, "soak_rlc_decoder")
    drv = bench_rlc.DecoderDriver(env, True)
    soak = Soak(env, drv, [drv.error])
    drv.sb = soak.sb

    async def fill(budget):
        while budget > 0:
            t = rlc_tensor(env.rng)[:budget]
            code, n = rlc.encode(t), len(t)
            if soak.bad():
                code, n = mutate(env.rng, code, n)
            drv.send(soak.transactions + len(drv.transactions), code, n)
            soak.add(n)
            budget -= len(t)

    async def check():
        await drv.check(cycle_bound=False)
    await soak.run(fill, check)


@cocotb.test()
async def soak_rlc_loopback(dut):
    """Values -> encoder -> FIFO -> decoder -> values, a new random tensor length per
    chunk (set on the ``length`` port between chunks); error must never rise."""
    from . import bench_rlc
    env = await start(dut, "soak_rlc_loopback")
    length = log_uniform(env.rng, 1, 3000)
    drv = bench_rlc.LoopbackDriver(env, True, length)
    error = env.sampler(dut.error)
    soak = Soak(env, drv, [error])
    drv.sb = soak.sb

    async def fill(budget):
        drv.length = log_uniform(env.rng, 1, 3000)
        dut.length.value = drv.length
        for k in range(max(1, budget // drv.length)):
            drv.send(k, bench_rlc.random_tensor(env.rng, drv.length, 1.0 - density(env.rng)))
            soak.add(drv.length)

    async def check():
        await drv.collect()
        await env.cycles(5)
        drv.check_values()
        soak.sb.equal("error raised", any(v for _, v in error.samples), False)
    await soak.run(fill, check)


# ======================================================================= CSR SpMV

@cocotb.test()
async def soak_csr_spmv(dut):
    """Per chunk a new x (1..256 columns), then random matrices (1..64 rows, any density);
    at the job's rate a matrix is replaced by a malformed one of the bench's classes
    (when x has at least 8 columns); once per chunk at that rate, an x longer than
    max_cols is loaded and used (every y flagged) before the good one, and at that rate
    again a matrix of more than max_rows rows and one with fewer non-zeros than its rows
    announce follow the good x."""
    from .bench_csr_spmv import malformed_matrices, malformed_streams
    from .csr_spmv_driver import SpMVDriver, random_matrix, random_x
    env = await start(dut, "soak_csr_spmv")
    drv = SpMVDriver(env, True)
    soak = Soak(env, drv)
    p, rng = drv.p, env.rng

    def bad_kinds(ncols):
        return malformed_matrices(ncols) + [(label, None, s) for label, s in malformed_streams(p)]

    async def fill(budget):
        ncols = log_uniform(rng, 1, min(256, p["max_cols"]))
        a = random_matrix(rng, (log_uniform(rng, 1, 64), ncols), density(rng), p["value_width"])
        if soak.bad():
            await drv.load_x(random_x(rng, p["max_cols"] + 1, p["x_width"]))
            drv.send("matrix on an x longer than max_cols", from_dense(a), malformed=True)
        await drv.load_x(random_x(rng, ncols, p["x_width"]))
        if soak.bad():
            bad_shapes(ncols)
        while budget > 0:
            if ncols >= 8 and soak.bad():
                kinds = bad_kinds(ncols)
                label, csr, *streams = kinds[rng.integers(0, len(kinds))]
                drv.send(label, csr, malformed=True, streams=streams[0] if streams else None)
                continue
            a = random_matrix(rng, (log_uniform(rng, 1, 64), ncols), density(rng),
                              p["value_width"])
            csr = from_dense(a)
            drv.send(f"matrix {a.shape}", csr)
            soak.add(csr.nnz)
            budget -= max(1, csr.nnz)

    def bad_shapes(ncols):
        """More rows than max_rows (the extra ones flagged, answered as empty), and a nz
        stream that ends inside row 0 (fewer non-zeros than announced)."""
        rows = p["max_rows"] + int(rng.integers(1, 4))
        a = random_matrix(rng, (rows, ncols), 0.01, p["value_width"])
        drv.send(f"{rows} rows > max_rows", from_dense(a), malformed=True)
        short = from_dense(random_matrix(rng, (3, ncols), 1.0, p["value_width"]))
        s = drv.pack(short)
        drv.send("fewer non-zeros than announced", short, malformed=True,
                 streams=NZStreams(s.rows, s.nz[:1]))

    async def check():
        await drv.check(soak.sb, stall=True)
    await soak.run(fill, check)


# ======================================================================= Cnvlutin

def cnv_mode(rng):
    """(group, threshold, dense) for a window: zero-skip, dense or a threshold T."""
    pick = int(rng.integers(0, 3))
    return [("zero-skip", 0, False), ("dense", 0, True),
            ("threshold", int(rng.integers(1, 100)), False)][pick]


async def new_weights(drv, rng):
    """A chunk's weight load (K = 1..max_k, log-uniform) on a :class:`UnitDriver` whose
    last chunk was checked and forgotten; returns K."""
    from .cnv_driver import random_weights
    p = drv.p
    k_len = log_uniform(rng, 1, p["max_k"])
    drv.loads.clear()
    await drv.load(random_weights(rng, p["filters"], k_len, p["weight_width"]))
    drv.beats_sent = [0] * p["lanes"]       # the lanes' sent beats were forgotten
    return k_len


@cocotb.test()
async def soak_cnv_unit(dut):
    """Per chunk new weights (K = 1..max_k), then windows at random densities in random
    modes; at the job's rate a window is one of the bench's malformed variants (chunks
    with K >= B·(lanes + 1), so that every variant applies)."""
    from .bench_cnv import malformed_windows
    from .cnv_driver import UnitDriver, random_acts
    env = await start(dut, "soak_cnv_unit")
    drv = UnitDriver(env, True)
    soak = Soak(env, drv)
    p, rng = drv.p, env.rng

    async def fill(budget):
        k_len = await new_weights(drv, rng)
        while budget > 0:
            if k_len >= p["brick"] * (p["lanes"] + 1) and soak.bad():
                _, variants = malformed_windows(drv, rng, k_len)
                label, streams = variants[rng.integers(0, len(variants))]
                drv.send(label, streams, "bad")
            else:
                group, T, dense = cnv_mode(rng)
                a = random_acts(rng, k_len, density(rng), p["value_width"])
                drv.send(f"window K={k_len} {group}", drv.streams(a, threshold=T, dense=dense),
                         group)
            soak.add(k_len)
            budget -= k_len

    await soak.run(fill, lambda: drv.check(soak.sb))


@cocotb.test()
async def soak_cnv_chain(dut):
    """Dense bricks through the encoders into the unit: per chunk new weights and one
    phase (threshold and dense ports, shared by all lanes); no malformed input (the
    chain's only bad input, a brick length above B, is soaked on cnv_encoder)."""
    from .cnv_driver import UnitDriver, random_acts
    env = await start(dut, "soak_cnv_chain")
    dut.threshold.value = 0
    dut.dense.value = 0
    drv = UnitDriver(env, True, "cnv_chain")
    soak = Soak(env, drv)
    p, rng = drv.p, env.rng

    async def fill(budget):
        k_len = await new_weights(drv, rng)
        group, T, dense = cnv_mode(rng)
        await drv.phase(T, dense)
        while budget > 0:
            a = random_acts(rng, k_len, density(rng), p["value_width"])
            drv.send_dense(f"window K={k_len} {group}", a, group, threshold=T, dense=dense)
            soak.add(k_len)
            budget -= k_len

    async def check():
        await drv.check(soak.sb)
        soak.sb.equal("enc_error", int(dut.enc_error.value), 0)
    await soak.run(fill, check)


@cocotb.test()
async def soak_cnv_encoder(dut):
    """One lane's words of random windows (1, 2 or 4 lanes, K up to 5 bricks), random T and
    mode per window; at the job's rate a brick's length field is above B (flagged)."""
    from .cnv_driver import EncoderDriver as CnvEncoderDriver, random_acts
    env = await start(dut, "soak_cnv_encoder")
    dut.threshold.value = 0
    dut.dense.value = 0
    drv = CnvEncoderDriver(env, True)
    soak = Soak(env, drv)
    p, rng = drv.p, env.rng
    B, vf = p["brick"], (p["value_width"] + 7) // 8 * 8

    async def fill(budget):
        while budget > 0:
            k_len = log_uniform(rng, 1, 5 * B)
            lanes = int(rng.choice([1, 2, 4]))
            a = random_acts(rng, k_len, density(rng), p["value_width"])
            for words in cnv.encoder_words(a, lanes=lanes, brick=B, value_width=p["value_width"]):
                _, T, dense = cnv_mode(rng)
                if soak.bad():
                    w = int(rng.integers(0, len(words)))
                    words[w] = (words[w] & ((1 << (B * vf)) - 1)) | int(rng.integers(B + 1, 256)) << (B * vf)
                drv.send(f"window K={k_len} T={T}", words, threshold=T, dense=dense)
            soak.add(k_len)
            budget -= k_len

    async def check():
        await drv.check(soak.sb)
        drv.bricks = 0
    await soak.run(fill, check)


# ============================================================== N:M MAC and twin

def mac_bad_words(rng, cfg, w):
    """Valid beats of the dense row ``w`` with one random bad-input class applied (None
    when the class cannot apply, e.g. index order with n = 1)."""
    from .bench_nm_mac import corrupt
    kind = MAC_KINDS[int(rng.integers(0, len(MAC_KINDS)))]
    if kind == "mode change (dense frame)":
        return kind, corrupt(pack_dense_fallback(w, cfg), cfg, kind)
    values, meta = sparse24.compress(w, n=cfg.n, m=cfg.m)
    words = pack_sparse(values, sparse24.pack_meta(meta[None], m=cfg.m,
                                                   word_bits=cfg.meta_word_bits)[0], cfg)
    return kind, corrupt(words, cfg, kind)


@cocotb.test()
async def soak_mac(dut):
    """Dot products of random length (1..64 groups), N:M-pruned rows in sparse mode or
    unpruned rows in dense fallback; on sparse_mac, at the job's rate, a row carries one
    of the bench's bad-input classes (the twin has no metadata: nothing to malform)."""
    from .bench_nm_mac import MACDriver, acts, nm_weights
    env = await start(dut, "soak_mac")
    drv = MACDriver(env, True)
    soak = Soak(env, drv)
    cfg, rng = drv.cfg, env.rng

    async def fill(budget):
        while budget > 0:
            k = cfg.m * log_uniform(rng, 1, 64)
            dense = bool(rng.random() < 0.3)
            w = acts(rng, cfg, k) if dense else nm_weights(rng, cfg, k, extreme=rng.random())
            kind, words = None, None
            if not drv.twin and k >= 2 * cfg.span and soak.bad():
                w = nm_weights(rng, cfg, k)
                kind, words = mac_bad_words(rng, cfg, w)
            if words is not None:
                drv.send(kind, w, acts(rng, cfg, k), words=words, malformed=True)
            else:
                drv.send(f"{'dense' if dense else 'sparse'} row k={k}", w, acts(rng, cfg, k),
                         mode="dense" if dense else "sparse")
            macs = drv.transactions[-1].info["macs"]
            soak.add(macs)
            budget -= macs

    async def check():
        await drv.check(soak.sb)
    await soak.run(fill, check)
