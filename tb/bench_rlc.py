"""cocotb benches of the RLC codec: encoder, decoder and encoder->decoder loopback.

Every output is compared with :mod:`golden.rlc`.  Tests are named ``encoder_*``,
``decoder_*`` and ``loopback_*``; :mod:`tb.benches` runs each group on its own top.
Without stalls each test also asserts the cycle bound N + latency, with the latency each
block states (``RLCEncoder.latency``, ``RLCDecoder.latency``, ``RLCLoopback.latency``).
Each driver records one :class:`tb.transactions.Transaction` per tensor sent.
"""

import cocotb
import numpy as np

from golden import rlc
from golden.rlc_mutate import mutate
from hw.blocks import get_block
from hw.rlc import RLCDecoder, RLCEncoder, RLCLoopback

from .axis import Beat, bursty_ready
from .bench import block_params, start, test_name
from .scoreboard import Scoreboard
from .transactions import Transaction, TransactionDriver

DENSITIES = [0.0, 0.01, 0.5, 0.9, 1.0]        # fraction of zeros
RUNS = [30, 31, 32, 33, 62, 63, 64]
STALL = 0.3                                   # idle / not-ready probability when stalling
LEVEL_MASK = (1 << rlc.LEVEL_BITS) - 1


def random_tensor(rng, n, zero_fraction):
    values = rng.integers(-32768, 32768, n)
    values[values == 0] = 1
    values[rng.random(n) < zero_fraction] = 0
    return values.astype(np.int64)


def density_tensors(rng, zero_fraction):
    """Six back-to-back tensors of random lengths 1..399."""
    return [random_tensor(rng, int(rng.integers(1, 400)), zero_fraction) for _ in range(6)]


def edge_tensors(rng):
    """The cases earlier implementations got wrong, and the small ones."""
    t = []
    for n in (1, 2, 3, 4):
        t += [random_tensor(rng, n, 0.5), np.zeros(n, np.int64), random_tensor(rng, n, 0.0)]
    for r in RUNS:
        v = int(rng.integers(1, 32768))
        t += [np.r_[np.zeros(r, np.int64), v],            # run before a level
              np.r_[v, np.zeros(r, np.int64)],            # trailing zeros
              np.zeros(r, np.int64),                      # nothing but zeros
              np.r_[np.zeros(r, np.int64), -v, np.zeros(r, np.int64), v]]
    for pairs in range(1, 8):                             # pair counts not a multiple of 3
        t.append(np.r_[np.zeros(5, np.int64), rng.integers(1, 100, pairs)])
    t.append(np.array([-1, -32768, 0, 0, 32767, 0, -2], np.int64))
    t.append(np.zeros(300, np.int64))
    return t


def check_framing(sb, label, beats, sizes):
    """tlast appears exactly at the end of each transaction of ``sizes`` beats."""
    ends = np.cumsum(sizes) - 1
    got = np.flatnonzero([b.last for b in beats])
    sb.compare(f"{label}: tlast positions", got, ends)


def assert_back_to_back(label, beats):
    """Every beat transferred in the cycle after the previous one: no bubble at all."""
    gaps = np.flatnonzero(np.diff([b.cycle for b in beats]) != 1)
    assert not gaps.size, f"{label}: bubble after beat {gaps[0]} (cycles " \
                          f"{beats[gaps[0]].cycle} -> {beats[gaps[0] + 1].cycle})"


class CodecDriver(TransactionDriver):
    """The block's two streams, ``s_axis`` in and ``m_axis`` out, with random pauses on
    both when ``stall`` (or the ``ready`` pattern on the output)."""

    def __init__(self, env, stall, *, ready=None):
        super().__init__(env)
        pause = STALL if stall else 0.0
        self.stall = stall
        self.src = env.source("s_axis", pause)
        self.sink = env.sink("m_axis", pause, ready=ready)
        self.sb = Scoreboard(env.dut._log)

    def send_values(self, label, values, expected, outputs):
        """A tensor of 16-bit values, ``last`` on its final one."""
        self.record(Transaction(label, outputs=outputs, expected=expected,
                                ideal_cycles=len(values), info={"values": len(values)}))
        self.src.send(Beat(int(v) & LEVEL_MASK, i == len(values) - 1)
                      for i, v in enumerate(values))

    @property
    def elements(self):
        """Values in the tensors sent so far with :meth:`send_values`."""
        return sum(t.info["values"] for t in self.transactions)

    async def collect(self):
        """Wait (bounded by the budget) for every expected output beat."""
        await self.sink.wait_for(self.expected_outputs, within=self.budget())


# ----------------------------------------------------------------------------- encoder

class EncoderDriver(CodecDriver):
    """Tensors in; each must come back as exactly its code words."""

    def send(self, k, values):
        code = rlc.encode(values)
        self.send_values(f"tensor {k} (n={len(values)})", values, code, len(code))

    async def check(self):
        sb, sink = self.sb, self.sink
        await self.collect()
        await self.env.cycles(5)
        sb.equal("word count", len(sink.beats), self.expected_outputs)
        words = np.array([b.data for b in sink.beats], dtype=np.uint64)
        for t, got in self.outputs_of(words):
            sb.compare(f"{t.label} words", got, t.expected)
        check_framing(sb, "encoder", sink.beats, [t.outputs for t in self.transactions])
        sb.compare("tlast == bit 63", [b.last for b in sink.beats],
                   [(b.data >> rlc.LAST_BIT) & 1 for b in sink.beats])
        sb.summary()
        n = self.elements
        if not self.stall:
            assert_back_to_back("encoder input", self.src.sent)
        self.env.report(elements=n, first=self.src.sent[0], last=sink.beats[-1],
                        bound=None if self.stall else n + RLCEncoder.latency,
                        tensors=len(self.transactions))


async def run_encoder(env, tensors, stall):
    driver = EncoderDriver(env, stall)
    for k, t in enumerate(tensors):
        driver.send(k, t)
    await driver.check()


@cocotb.test()
@cocotb.parametrize(zeros=DENSITIES, stall=[False, True])
async def encoder_density(dut, zeros, stall):
    env = await start(dut, test_name("encoder_density", zeros=zeros, stall=stall))
    tensors = density_tensors(env.rng, zeros)
    await run_encoder(env, tensors, stall)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def encoder_edges(dut, stall):
    env = await start(dut, test_name("encoder_edges", stall=stall))
    await run_encoder(env, edge_tensors(env.rng), stall)


# ----------------------------------------------------------------------------- decoder

def errors_per_tensor(samples, starts):
    """Whether ``error`` was raised for each tensor, checking that it is sticky.

    The flag is registered: a tensor whose first word is taken at cycle a owns the samples
    of cycles a+1 .. (next tensor's a); the last tensor owns every later sample (the bench
    samples for a while after the last value and the last input word).  Once the flag is
    up inside a tensor's window it must stay up to the window's end.
    """
    bounds = list(starts[1:]) + [samples[-1][0]]
    flags = []
    for k, (a, b) in enumerate(zip(starts, bounds)):
        window = [v for c, v in samples if a < c <= b]
        raised = window.index(1) if 1 in window else None
        if raised is not None:
            assert all(window[raised:]), (
                f"tensor {k}: error fell again before the next tensor started: {window}")
        flags.append(raised is not None)
    return flags


class DecoderDriver(CodecDriver):
    """Codes in (valid or not), each with its ``length``; the values and the ``error`` flag
    of each tensor must be :func:`golden.rlc.decode_lenient`'s."""

    def __init__(self, env, stall):
        super().__init__(env, stall)
        self.error = env.sampler(env.dut.error)

    def send(self, k, words, n):
        want, malformed = rlc.decode_lenient(words, n)
        beats = [Beat(int(w), i == len(words) - 1, {"length": n}) for i, w in enumerate(words)]
        self.record(Transaction(f"tensor {k} (n={n}, {len(words)} words)", outputs=n,
                                expected=want, malformed=malformed,
                                ideal_cycles=max(n, len(words)), info={"first": beats[0]}))
        self.src.send(beats)

    async def check(self, *, cycle_bound):
        """``cycle_bound``: assert N + latency (no stalls, well-formed codes only)."""
        sb, sink, sent = self.sb, self.sink, self.transactions
        total = self.expected_outputs
        await self.collect()
        await self.src.wait_idle(within=1000)
        await self.env.cycles(8)
        sb.equal("value count", len(sink.beats), total)
        values = np.array([b.data for b in sink.beats], dtype=np.int64)
        for t, got in self.outputs_of(values):
            sb.compare(f"{t.label} values", got, t.expected)
        check_framing(sb, "decoder", sink.beats, [t.outputs for t in sent if t.outputs])
        flags = errors_per_tensor(self.error.samples, [t.info["first"].cycle for t in sent])
        for t, flag in zip(sent, flags):
            sb.equal(f"{t.label} error flag", flag, t.malformed)
        sb.summary()
        timed = not self.stall and cycle_bound
        if timed and all(t.outputs for t in sent):
            assert_back_to_back("decoder output", sink.beats)
        self.env.report(elements=total, first=self.src.sent[0],
                        last=sink.beats[-1] if total else None,
                        bound=total + RLCDecoder.latency if timed else None,
                        tensors=len(sent), errors=int(sum(flags)))


async def run_decoder(env, cases, stall, *, cycle_bound=True):
    """``cases``: list of (words, n) — valid or not; expectations from decode_lenient."""
    driver = DecoderDriver(env, stall)
    for k, (words, n) in enumerate(cases):
        driver.send(k, words, n)
    await driver.check(cycle_bound=cycle_bound)
    return driver


@cocotb.test()
@cocotb.parametrize(zeros=DENSITIES, stall=[False, True])
async def decoder_density(dut, zeros, stall):
    env = await start(dut, test_name("decoder_density", zeros=zeros, stall=stall))
    tensors = density_tensors(env.rng, zeros)
    await run_decoder(env, [(rlc.encode(t), len(t)) for t in tensors], stall)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def decoder_edges(dut, stall):
    env = await start(dut, test_name("decoder_edges", stall=stall))
    await run_decoder(env, [(rlc.encode(t), len(t)) for t in edge_tensors(env.rng)], stall)


def malformed_cases(rng):
    """One or more codes of every malformed class, each followed by a valid tensor so
    that recovery is checked too."""
    def words(*pairs_per_word, last=True):
        out = []
        for w, pairs in enumerate(pairs_per_word):
            word = 0
            for k, (run, level) in enumerate(pairs):
                word |= (run | ((level & LEVEL_MASK) << rlc.RUN_BITS)) << (rlc.PAIR_BITS * k)
            if last and w == len(pairs_per_word) - 1:
                word |= 1 << rlc.LAST_BIT
            out.append(word)
        return np.array(out, dtype=np.uint64)

    full = [(0, 5), (1, 6), (2, 7)]
    bad = [   # (code, length, malformed?)
        (words([(0, 5), (3, 0), (0, 9)]), 6, True),                 # non-canonical pair
        (words([(0, 5), (0, 0), (0, 9)], full), 12, True),          # padding before final
        (words([(0, 5), (0, 0), (1, 9)]), 10, True),                # pair after padding
        (words(full, [(0, 0), (0, 0), (0, 0)]), 6, True),           # empty final word
        (words(full, full), 7, True),                               # more than N (levels)
        (words([(10, 3)]), 5, True),                                # more than N (zeros)
        (words(full, full, last=False), 12, True),                  # no final word
        (np.r_[words(full), words(full)], 6, True),                 # words after final
        (np.r_[words(full), words(full)], 9, True),                 # ... and zero-fill
        (words([(0, 1)]), 40, True),                                # > 31 trailing zeros
        (words([(0, 1)]), 0, True),                                 # length 0 with a code
        (words([]), 0, False),                                      # length 0, canonical
        (words([(31, 0), (31, 0), (4, 0)]), 80, True),              # (4, 0) mid-code
    ]
    cases = []
    for code, n, malformed in bad:
        cases.append((code, n, malformed))
        t = random_tensor(rng, int(rng.integers(1, 50)), 0.7)
        cases.append((rlc.encode(t), len(t), False))
    return cases


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def decoder_malformed(dut, stall):
    env = await start(dut, test_name("decoder_malformed", stall=stall))
    cases = malformed_cases(env.rng)
    # Each case must be what it claims, or the hardware check below would prove nothing.
    for k, (code, n, malformed) in enumerate(cases):
        assert rlc.decode_lenient(code, n)[1] == malformed, f"case {k} mislabelled"
    # Draining and error cycles cost extra time: no cycle bound here.
    await run_decoder(env, [(code, n) for code, n, _ in cases], stall, cycle_bound=False)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def decoder_fuzz(dut, stall):
    """Random corruptions (:func:`golden.rlc_mutate.mutate`) of random codes, back to back:
    the hardware must match decode_lenient value for value and error flag for error flag."""
    env = await start(dut, test_name("decoder_fuzz", stall=stall))
    cases = []
    for _ in range(120):
        t = random_tensor(env.rng, int(env.rng.integers(0, 120)), env.rng.random())
        cases.append(mutate(env.rng, rlc.encode(t), len(t)))
    bad = sum(rlc.decode_lenient(c, n)[1] for c, n in cases)
    env.dut._log.info("%d of %d fuzz cases are malformed", bad, len(cases))
    await run_decoder(env, cases, stall, cycle_bound=False)


# ---------------------------------------------------------------------------- loopback

class LoopbackDriver(CodecDriver):
    """Tensors of the set ``length`` in; the same values must come back, with no error."""

    def __init__(self, env, stall, length, *, ready=None):
        super().__init__(env, stall, ready=ready)
        self.length = length
        env.dut.length.value = length

    def send(self, k, values):
        assert len(values) == self.length, "the loopback's length port is set once"
        self.send_values(f"tensor {k}", values, values, len(values))

    def check_values(self):
        values = np.array([b.data for b in self.sink.beats], dtype=np.uint16).astype(np.int16)
        self.sb.compare("values", values, np.concatenate([t.expected for t in self.transactions]))
        check_framing(self.sb, "loopback", self.sink.beats, [self.length] * len(self.transactions))


def loopback_latency():
    """The loopback's stall-free latency for the depth this model was built with, or None
    when the FIFO is too shallow for it to hold (see :class:`hw.rlc.RLCLoopback`)."""
    depth = get_block("rlc_loopback").params(block_params())["fifo_depth"]
    return RLCLoopback.latency if depth >= RLCLoopback.FULL_RATE_DEPTH else None


@cocotb.test()
@cocotb.parametrize(length=[1, 2, 3, 4, 31, 32, 33, 64, 97, 500], stall=[False, True])
async def loopback(dut, length, stall):
    """Values -> encoder -> decoder -> values, through the ``rlc_loopback`` top."""
    env = await start(dut, test_name("loopback", length=length, stall=stall))
    driver = LoopbackDriver(env, stall, length)
    error = env.sampler(dut.error)
    for k, z in enumerate((0.0, 0.5, 0.9, 1.0, 0.97, 0.3)):
        driver.send(k, random_tensor(env.rng, length, z))
    await driver.collect()
    await env.cycles(5)
    driver.check_values()
    driver.sb.equal("error ever raised", any(v for _, v in error.samples), False)
    driver.sb.summary()
    total, latency = driver.elements, loopback_latency()
    env.report(elements=total, first=driver.src.sent[0], last=driver.sink.beats[-1],
               bound=None if stall or latency is None else total + latency,
               tensors=len(driver.transactions))


@cocotb.test()
@cocotb.parametrize(length=[5, 300])
async def loopback_long_stalls(dut, length):
    """Output stalls of up to 400 cycles: the FIFO between encoder and decoder fills, the
    encoder's input is pushed back, and nothing is lost or reordered."""
    env = await start(dut, test_name("loopback_long_stalls", length=length))
    driver = LoopbackDriver(env, False, length, ready=bursty_ready(env.rng, 400))
    input_ready = env.sampler(dut.s_axis_tready)
    groups = max(8, 600 // length)          # enough words to overflow the 64-word FIFO
    for k, z in enumerate((0.0, 0.2, 0.0, 0.95, 0.0, 0.5) * groups):
        driver.send(k, random_tensor(env.rng, length, z))
    await driver.collect()
    driver.check_values()
    pushed_back = sum(1 for _, v in input_ready.samples if not v)
    assert pushed_back, "the output stalls never filled the FIFO: the test proved nothing"
    driver.sb.summary()
    env.report(elements=driver.elements, first=driver.src.sent[0], last=driver.sink.beats[-1],
               bound=None, tensors=len(driver.transactions), input_backpressure_cycles=pushed_back)
