"""cocotb benches of the RLC codec: encoder, decoder and encoder->decoder loopback.

Every output is compared with :mod:`golden.rlc`.  Tests are named ``encoder_*``,
``decoder_*`` and ``loopback_*``; :mod:`tb.benches` runs each group on its own top.
Without stalls each test also asserts the cycle bound of README's throughput table.
"""

import cocotb
import numpy as np

from golden import rlc

from .axis import Beat, bursty_ready
from .bench import start, test_name
from .scoreboard import Scoreboard

# Pipeline latency in cycles (README): the cycle bound is N + latency, for any number of
# back-to-back tensors, when neither side stalls.
ENCODER_LATENCY = 2
DECODER_LATENCY = 2
# Loopback: the decoder can only start a word once the encoder has released it: a word
# spans up to 3 * 32 values, and it is held until the next pair (at most 32 values on)
# tells whether it is the final one.  The FIFO between them (2 cycles) keeps that lag
# from growing from tensor to tensor.
WORD_LAG = 4 * (rlc.MAX_RUN + 1)
LOOPBACK_LATENCY = ENCODER_LATENCY + 2 + DECODER_LATENCY + WORD_LAG

DENSITIES = [0.0, 0.01, 0.5, 0.9, 1.0]        # fraction of zeros
RUNS = [30, 31, 32, 33, 62, 63, 64]
STALL = 0.3                                   # idle / not-ready probability when stalling


def random_tensor(rng, n, zero_fraction):
    values = rng.integers(-32768, 32768, n)
    values[values == 0] = 1
    values[rng.random(n) < zero_fraction] = 0
    return values.astype(np.int64)


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


def hang_budget(tensors):
    """Cycles after which a bench gives up waiting: generous even under random stalls."""
    return 10 * sum(len(t) for t in tensors) + 1000


def check_framing(sb, label, beats, sizes):
    """tlast appears exactly at the end of each transaction of ``sizes`` beats."""
    ends = np.cumsum(sizes) - 1
    got = np.flatnonzero([b.last for b in beats])
    sb.compare(f"{label}: tlast positions", got, ends)


# ----------------------------------------------------------------------------- encoder

async def run_encoder(env, tensors, stall):
    dut = env.dut
    sb = Scoreboard(dut._log)
    src = env.source("s_axis", STALL if stall else 0.0)
    sink = env.sink("m_axis", STALL if stall else 0.0)
    codes = [rlc.encode(t) for t in tensors]
    src.send(Beat(int(v) & 0xFFFF, i == len(t) - 1) for t in tensors for i, v in enumerate(t))
    await sink.wait_for(sum(len(c) for c in codes), within=hang_budget(tensors))
    await env.cycles(5)
    sb.equal("word count", len(sink.beats), sum(len(c) for c in codes))
    words = np.array([b.data for b in sink.beats], dtype=np.uint64)
    at = 0
    for k, code in enumerate(codes):
        sb.compare(f"tensor {k} (n={len(tensors[k])}) words", words[at:at + len(code)], code)
        at += len(code)
    check_framing(sb, "encoder", sink.beats, [len(c) for c in codes])
    sb.compare("tlast == bit 63", [b.last for b in sink.beats],
               [(b.data >> 63) & 1 for b in sink.beats])
    sb.summary()
    n = sum(len(t) for t in tensors)
    if not stall:
        assert_back_to_back("encoder input", src.sent)
    env.report(elements=n, first=src.sent[0], last=sink.beats[-1],
               bound=None if stall else n + ENCODER_LATENCY, tensors=len(tensors))


@cocotb.test()
@cocotb.parametrize(zeros=DENSITIES, stall=[False, True])
async def encoder_density(dut, zeros, stall):
    env = await start(dut, test_name("encoder_density", zeros=zeros, stall=stall))
    tensors = [random_tensor(env.rng, int(env.rng.integers(1, 400)), zeros) for _ in range(6)]
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


def assert_back_to_back(label, beats):
    """Every beat transferred in the cycle after the previous one: no bubble at all."""
    gaps = np.flatnonzero(np.diff([b.cycle for b in beats]) != 1)
    assert not gaps.size, f"{label}: bubble after beat {gaps[0]} (cycles " \
                          f"{beats[gaps[0]].cycle} -> {beats[gaps[0] + 1].cycle})"


async def run_decoder(env, cases, stall, *, cycle_bound=True):
    """``cases``: list of (words, n) — valid or not; expectations from decode_lenient."""
    dut = env.dut
    sb = Scoreboard(dut._log)
    src = env.source("s_axis", STALL if stall else 0.0)
    sink = env.sink("m_axis", STALL if stall else 0.0)
    error = env.sampler(dut.error)
    expected = [rlc.decode_lenient(words, n) for words, n in cases]
    first_beats = []
    for words, n in cases:
        beats = [Beat(int(w), i == len(words) - 1, {"length": n}) for i, w in enumerate(words)]
        first_beats.append(beats[0])
        src.send(beats)
    total = sum(n for _, n in cases)
    await sink.wait_for(total, within=hang_budget([np.zeros(n) for _, n in cases]) +
                        sum(len(w) for w, _ in cases))
    await src.wait_idle(within=1000)
    await env.cycles(8)
    sb.equal("value count", len(sink.beats), total)
    values = np.array([b.data for b in sink.beats], dtype=np.int64)
    at = 0
    for k, ((words, n), (want, _)) in enumerate(zip(cases, expected)):
        sb.compare(f"tensor {k} (n={n}, {len(words)} words) values", values[at:at + n], want)
        at += n
    check_framing(sb, "decoder", sink.beats, [n for _, n in cases if n])
    flags = errors_per_tensor(error.samples, [b.cycle for b in first_beats])
    for k, (flag, (_, want_error)) in enumerate(zip(flags, expected)):
        sb.equal(f"tensor {k} error flag", flag, want_error)
    sb.summary()
    if not stall and cycle_bound and all(n for _, n in cases):
        assert_back_to_back("decoder output", sink.beats)
    env.report(elements=total, first=src.sent[0], last=sink.beats[-1] if total else None,
               bound=total + DECODER_LATENCY if not stall and cycle_bound else None,
               tensors=len(cases), errors=int(sum(flags)))


@cocotb.test()
@cocotb.parametrize(zeros=DENSITIES, stall=[False, True])
async def decoder_density(dut, zeros, stall):
    env = await start(dut, test_name("decoder_density", zeros=zeros, stall=stall))
    tensors = [random_tensor(env.rng, int(env.rng.integers(1, 400)), zeros) for _ in range(6)]
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
                word |= (run | ((level & 0xFFFF) << rlc.RUN_BITS)) << (rlc.PAIR_BITS * k)
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


def mutate(rng, words, n):
    """A random corruption of a valid code, aimed at every class the validator knows
    (about one in eight cases is left valid, and some corruptions are still valid)."""
    words = words.copy()
    kind = int(rng.integers(0, 8))
    w = int(rng.integers(0, len(words)))
    if kind == 0:                                         # flip one bit
        words[w] ^= np.uint64(1) << np.uint64(rng.integers(0, 64))
    elif kind == 1:                                       # a pair (r, 0): padding / non-canonical
        k = int(rng.integers(0, rlc.PAIRS_PER_WORD))
        shift = np.uint64(rlc.PAIR_BITS * k)
        words[w] &= ~(np.uint64((1 << rlc.PAIR_BITS) - 1) << shift)
        words[w] |= np.uint64(rng.integers(0, 32)) << shift
    elif kind == 2 and len(words) > 1:                    # drop a word
        words = np.delete(words, w)
    elif kind == 3:                                       # duplicate a word
        words = np.insert(words, w, words[w])
    elif kind == 4:                                       # move the final-word bit
        words[-1] &= ~np.uint64(1 << 63)
        words[w] |= np.uint64(1 << 63)
    elif kind == 5:                                       # append a random word
        words = np.append(words, np.uint64(rng.integers(0, 2**63)) * np.uint64(2))
    elif kind == 6:                                       # wrong length
        n = max(0, n + int(rng.integers(-40, 41)))
    return words, n


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def decoder_fuzz(dut, stall):
    """Random corruptions of random codes, back to back: the hardware must match
    decode_lenient value for value and error flag for error flag."""
    env = await start(dut, test_name("decoder_fuzz", stall=stall))
    cases = []
    for _ in range(120):
        t = random_tensor(env.rng, int(env.rng.integers(0, 120)), env.rng.random())
        cases.append(mutate(env.rng, rlc.encode(t), len(t)))
    bad = sum(rlc.decode_lenient(c, n)[1] for c, n in cases)
    env.dut._log.info("%d of %d fuzz cases are malformed", bad, len(cases))
    await run_decoder(env, cases, stall, cycle_bound=False)


# ---------------------------------------------------------------------------- loopback

@cocotb.test()
@cocotb.parametrize(length=[1, 2, 3, 4, 31, 32, 33, 64, 97, 500], stall=[False, True])
async def loopback(dut, length, stall):
    """Values -> encoder -> decoder -> values, through the ``rlc_loopback`` top."""
    env = await start(dut, test_name("loopback", length=length, stall=stall))
    sb = Scoreboard(dut._log)
    dut.length.value = length
    src = env.source("s_axis", STALL if stall else 0.0)
    sink = env.sink("m_axis", STALL if stall else 0.0)
    error = env.sampler(dut.error)
    tensors = [random_tensor(env.rng, length, z) for z in (0.0, 0.5, 0.9, 1.0, 0.97, 0.3)]
    src.send(Beat(int(v) & 0xFFFF, i == length - 1) for t in tensors for i, v in enumerate(t))
    total = length * len(tensors)
    await sink.wait_for(total, within=hang_budget(tensors))
    await env.cycles(5)
    values = np.array([b.data for b in sink.beats], dtype=np.uint16).astype(np.int16)
    sb.compare("values", values, np.concatenate(tensors))
    check_framing(sb, "loopback", sink.beats, [length] * len(tensors))
    sb.equal("error ever raised", any(v for _, v in error.samples), False)
    sb.summary()
    env.report(elements=total, first=src.sent[0], last=sink.beats[-1],
               bound=None if stall else total + LOOPBACK_LATENCY, tensors=len(tensors))


@cocotb.test()
@cocotb.parametrize(length=[5, 300])
async def loopback_long_stalls(dut, length):
    """Output stalls of up to 400 cycles: the FIFO between encoder and decoder fills, the
    encoder's input is pushed back, and nothing is lost or reordered."""
    env = await start(dut, test_name("loopback_long_stalls", length=length))
    sb = Scoreboard(dut._log)
    dut.length.value = length
    src = env.source("s_axis")
    sink = env.sink("m_axis", ready=bursty_ready(env.rng, 400))
    input_ready = env.sampler(dut.s_axis_tready)
    groups = max(8, 600 // length)          # enough words to overflow the 64-word FIFO
    tensors = [random_tensor(env.rng, length, z)
               for z in (0.0, 0.2, 0.0, 0.95, 0.0, 0.5) * groups]
    src.send(Beat(int(v) & 0xFFFF, i == length - 1) for t in tensors for i, v in enumerate(t))
    total = length * len(tensors)
    await sink.wait_for(total, within=hang_budget(tensors) * 10)
    values = np.array([b.data for b in sink.beats], dtype=np.uint16).astype(np.int16)
    sb.compare("values", values, np.concatenate(tensors))
    check_framing(sb, "loopback", sink.beats, [length] * len(tensors))
    pushed_back = sum(1 for _, v in input_ready.samples if not v)
    assert pushed_back, "the output stalls never filled the FIFO: the test proved nothing"
    sb.summary()
    env.report(elements=total, first=src.sent[0], last=sink.beats[-1], bound=None,
               tensors=len(tensors), input_backpressure_cycles=pushed_back)
