"""cocotb bench of ``cnv_encoder``, ``cnv_unit`` and ``cnv_chain`` (Cnvlutin), against golden.cnv.

Every output is compared with :mod:`golden.cnv` (the unit's sums and ``error`` exactly,
malformed windows included; the encoder's words, ``tlast`` and ``error``).  Without
stalls every group of back-to-back windows takes exactly ``Σ steps + latency`` clocks
(:func:`golden.cnv.run_cycles`) and a weight reload's next window starts the clock after
the load's ``last``; the encoder emits one beat per clock (:func:`golden.cnv.encoder_cycles`).
Real data: the digits MLP's first hidden ReLU layer (128 units = the channel axis),
exported with ``python -m pruning export --format zfnaf`` and read back from the files.
The same tests run on each build of :mod:`tb.benches` (they read the build's parameters).
"""

import cocotb
import numpy as np

from golden import cnv

from . import cnv_data
from .bench import start, test_name
from .cnv_driver import EncoderDriver, UnitDriver, random_acts, random_weights
from .scoreboard import Scoreboard

DENSITIES = [0.0, 0.1, 0.56, 0.5, 0.9, 1.0]   # 0.56: Cnvlutin's average 44 % zeros

# ====================================================================== the unit

async def unit_begin(dut, name, stall):
    env = await start(dut, name)
    return env, UnitDriver(env, stall), Scoreboard(dut._log)


@cocotb.test()
@cocotb.parametrize(density=DENSITIES, stall=[False, True])
async def unit_density(dut, density, stall):
    """Back-to-back windows at each density, zero-skip then the same windows dense: the
    outputs agree and each mode's cycles equal the model exactly."""
    env, drv, sb = await unit_begin(dut, test_name("unit_density", density=density,
                                                   stall=stall), stall)
    p, rng = drv.p, env.rng
    k_len = min(100, p["max_k"])                # 100: not a multiple of the brick
    await drv.load(random_weights(rng, p["filters"], k_len, p["weight_width"]))
    acts = random_acts(rng, (6, k_len), density, p["value_width"])
    zs = [drv.send(f"window {i} zero-skip", drv.streams(a), "zero-skip")
          for i, a in enumerate(acts)]
    dn = [drv.send(f"window {i} dense", drv.streams(a, dense=True), "dense")
          for i, a in enumerate(acts)]
    if p["overflow"] == "wrap" or p["lanes"] == 1:   # same step sums up to zeros
        sb.compare("dense == zero-skip (golden)", np.concatenate(dn), np.concatenate(zs))
    fig = await drv.check(sb)
    dense_cycles = sum(c for c, *_ in fig["dense"])
    zs_cycles = sum(c for c, *_ in fig["zero-skip"])
    measured = round(float(np.count_nonzero(acts) / acts.size), 4)
    drv.report("zero-skip", fig, elements=acts.size, density=measured, requested=density,
               dense_cycles=dense_cycles, speedup=round(dense_cycles / zs_cycles, 3),
               ideal=round(1 / measured, 3) if measured else None)
    drv.report("dense", fig, elements=acts.size, density=measured, requested=density)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def unit_edges(dut, stall):
    """All-zero and full bricks, K not a multiple of B, K below one brick per lane (null
    bricks), lanes with very different non-zero counts, extreme values and accumulator
    overflow, in both modes."""
    env, drv, sb = await unit_begin(dut, test_name("unit_edges", stall=stall), stall)
    p, rng = drv.p, env.rng
    B, L, F, VW, WW = p["brick"], p["lanes"], p["filters"], p["value_width"], p["weight_width"]
    vmin, wmin = -(1 << (VW - 1)), -(1 << (WW - 1))
    cases = []
    k_len = min(8 * B, p["max_k"])
    w = random_weights(rng, F, k_len, WW)
    imbalance = np.zeros(k_len, dtype=np.int64)
    imbalance[:B] = random_acts(rng, B, 1.0, VW)                 # lane 0's first brick full
    mixed = random_acts(rng, k_len, 0.5, VW)
    mixed[B:3 * B] = 0                                           # all-zero bricks
    cases.append(("sizes", w, [
        ("all zero", np.zeros(k_len, dtype=np.int64)),
        ("all full", random_acts(rng, k_len, 1.0, VW)),
        ("one lane busy", imbalance),
        ("all-zero bricks inside", mixed),
    ]))
    for k_len in (1, 5, B + 3, min(p["max_k"], 3 * B * L + 7)):
        w = random_weights(rng, F, k_len, WW)
        cases.append((f"K={k_len}", w, [(f"K={k_len}", random_acts(rng, k_len, 0.6, VW))]))
    k_len = p["max_k"]
    w = np.full((F, k_len), wmin)
    w[1::2] = -wmin - 1
    a_neg = np.full(k_len, vmin)
    a_alt = a_neg.copy()
    a_alt[::2] = -vmin - 1
    cases.append(("extremes", w, [("most negative", a_neg), ("alternating", a_alt),
                                  ("sparse extremes", np.where(rng.random(k_len) < 0.3,
                                                               a_neg, 0))]))
    for name, w, windows in cases:
        await drv.load(w)
        z = [drv.send(f"{name}/{label} zero-skip", drv.streams(a), "zero-skip")
             for label, a in windows]
        d = [drv.send(f"{name}/{label} dense", drv.streams(a, dense=True), "dense")
             for label, a in windows]
        if p["overflow"] == "wrap" or L == 1:
            sb.compare(f"{name}: dense == zero-skip (golden)", d, z)
    acc_max = (1 << (p["acc_width"] - 1)) - 1
    overflow = any(np.any(np.abs(cases[-1][1].astype(object) @ a.astype(object)) > acc_max)
                   for _, a in cases[-1][2])
    dut._log.info("extreme windows overflow the %d-bit accumulator: %s", p["acc_width"], overflow)
    fig = await drv.check(sb)
    drv.report("zero-skip", fig, elements=len(drv.transactions) // 2, overflowed=overflow)
    drv.report("dense", fig, elements=len(drv.transactions) // 2)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def unit_reload(dut, stall):
    """Weights reused across back-to-back windows, then reloaded (other K) between windows."""
    env, drv, sb = await unit_begin(dut, test_name("unit_reload", stall=stall), stall)
    p, rng = drv.p, env.rng
    for r, k_len in enumerate((40, 70, 40)):
        await drv.load(random_weights(rng, p["filters"], k_len, p["weight_width"]))
        for i in range(3):
            drv.send(f"load {r} window {i}", drv.streams(
                random_acts(rng, k_len, 0.5, p["value_width"])), "zero-skip")
    fig = await drv.check(sb)
    drv.report("zero-skip", fig, elements=len(drv.transactions), loads=len(drv.loads))


def malformed_windows(drv, rng, k_len):
    """(label, lane streams) for each class of bad input (golden must flag each)."""
    p = drv.p
    VW, B = p["value_width"], p["brick"]
    a = random_acts(rng, k_len, 0.6, VW)
    a[:B] = random_acts(rng, B, 1.0, VW)                         # brick 0 full (lane 0)
    good = drv.streams(a)
    out = []

    def variant(label, lane, edit):
        s = [list(x) for x in good]
        edit(s[lane])
        out.append((label, s))

    entry = lambda v, o, end=False: cnv.pack_entry(v, o, value_width=VW, end=end)  # noqa: E731
    last_lane = (-(-k_len // B) - 1) % p["lanes"]               # owns the short last brick
    short = k_len % B or B

    def outside(s):
        s[-1] = entry(7, short, end=True)
    variant("offset outside the last (short) brick", last_lane, outside)
    variant("offset >= B", 0, lambda s: s.__setitem__(2, entry(5, B if B < 64 else 63)))
    variant("offsets not increasing", 0, lambda s: s.__setitem__(slice(3, 5), s[4:2:-1]))
    variant("more than B entries", 0, lambda s: s.insert(B - 1, entry(3, B - 1)))
    variant("EMPTY inside a brick", 0,
            lambda s: s.insert(1, cnv.pack_entry(0, 0, value_width=VW, end=True, empty=True)))
    variant("tlast without END", 0, lambda s: s.__setitem__(-1, s[-1] & ~(cnv.END << (
        (VW + 7) // 8 * 8))))
    variant("a brick beyond the window", 0, lambda s: s.extend([entry(9, 0, end=True)]))
    variant("a lane's brick missing", 0, lambda s: s.__delitem__(slice(B, None)))
    return good, out


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def unit_malformed(dut, stall):
    """Each bad-input class: error with that window's output (sums exactly as golden), and
    the next window is correct; a window before any weight load is flagged too."""
    env, drv, sb = await unit_begin(dut, test_name("unit_malformed", stall=stall), stall)
    p, rng = drv.p, env.rng
    k_len = min(4 * p["brick"] * p["lanes"] - 5, p["max_k"])
    a = random_acts(rng, k_len, 0.5, p["value_width"])
    drv.send("before any weight load", drv.streams(a), "bad", malformed=True)
    await drv.load(random_weights(rng, p["filters"], k_len, p["weight_width"]))
    good, bad = malformed_windows(drv, rng, k_len)
    drv.send("valid", good, "bad", malformed=False)
    for label, streams in bad:
        drv.send(label, streams, "bad", malformed=True)
        drv.send(f"valid after '{label}'", good, "bad", malformed=False)
    fig = await drv.check(sb)
    drv.report("bad", fig, elements=len(drv.transactions))


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def unit_relu(dut, stall):
    """Real data: the digits MLP's ReLU activations from pruning's zfnaf export files,
    zero-skip, dense and with a threshold T (70 % activation sparsity on the images)."""
    env, drv, sb = await unit_begin(dut, test_name("unit_relu", stall=stall), stall)
    p = drv.p
    q, windows, w, T = cnv_data.relu_case(12, filters=p["filters"], lanes=p["lanes"],
                                          brick=p["brick"])
    await drv.load(w)
    for i, s in enumerate(windows):
        drv.send(f"image {i} from the export files", s, "zero-skip", malformed=False)
    for i, a in enumerate(q):
        drv.send(f"image {i} dense", drv.streams(a, dense=True), "dense", malformed=False)
    for i, a in enumerate(q):
        drv.send(f"image {i} T={T}", drv.streams(a, threshold=T), "threshold", malformed=False)
    fig = await drv.check(sb)
    exact = [t.expected[0] for t in drv.transactions[:len(q)]]
    if p["overflow"] == "wrap" and p["acc_width"] >= 32:
        sb.compare("zero-skip sums == w @ a", np.concatenate(exact), (w @ q.T).T.reshape(-1))
    cyc = {g: sum(c for c, *_ in fig[g]) for g in fig}
    n = len(q)
    with_t = np.concatenate([t.expected[0] for t in drv.transactions[2 * n:]])
    sb.equal(f"T={T} changes the sums", bool(np.any(with_t != np.concatenate(exact))), T > 1)
    sb.equal(f"T={T} saves cycles", cyc["threshold"] < cyc["zero-skip"], T > 1)
    density = float(np.count_nonzero(q) / q.size)
    drv.report("zero-skip", fig, elements=q.size, density=round(density, 4),
               dense_cycles=cyc["dense"], speedup=round(cyc["dense"] / cyc["zero-skip"], 3))
    drv.report("threshold", fig, elements=q.size, threshold=T,
               density=round(float(np.count_nonzero(cnv.apply_threshold(q, T)) / q.size), 4),
               speedup=round(cyc["dense"] / cyc["threshold"], 3))
    drv.report("dense", fig, elements=q.size)


# =================================================================== the encoder

async def encoder_begin(dut, name, stall):
    env = await start(dut, name)
    dut.threshold.value = 0
    dut.dense.value = 0
    return env, EncoderDriver(env, stall), Scoreboard(dut._log)


@cocotb.test()
@cocotb.parametrize(density=DENSITIES, stall=[False, True])
async def encoder_density(dut, density, stall):
    """Random windows (K not a multiple of B, null bricks), random T, both modes."""
    env, drv, sb = await encoder_begin(dut, test_name("encoder_density", density=density,
                                                      stall=stall), stall)
    p, rng = drv.p, env.rng
    for i in range(8):
        k_len = int(rng.integers(1, 5 * p["brick"]))
        lanes = int(rng.choice([1, 2, 4]))
        a = random_acts(rng, k_len, density, p["value_width"])
        for k, words in enumerate(cnv.encoder_words(a, lanes=lanes, brick=p["brick"],
                                                    value_width=p["value_width"])):
            T = int(rng.choice([0, 0, 1, 20, 100]))
            drv.send(f"window {i} (K={k_len}) lane {k}/{lanes} T={T}", words, threshold=T,
                     dense=bool(rng.random() < 0.3), error=False)
    await drv.check(sb)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def encoder_bad_length(dut, stall):
    """A brick length above B raises error for its window; the next window is clean."""
    env, drv, sb = await encoder_begin(dut, test_name("encoder_bad_length", stall=stall), stall)
    p, rng = drv.p, env.rng
    B, vf = p["brick"], (p["value_width"] + 7) // 8 * 8
    for n in (B + 1, 255):
        a = random_acts(rng, 2 * B, 0.5, p["value_width"])
        words = cnv.encoder_words(a, lanes=1, brick=B, value_width=p["value_width"])[0]
        words[0] = (words[0] & ((1 << (B * vf)) - 1)) | n << (B * vf)
        drv.send(f"length {n}", words, error=True)
        drv.send(f"valid after length {n}", cnv.encoder_words(
            a, lanes=1, brick=B, value_width=p["value_width"])[0], error=False)
    await drv.check(sb)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def encoder_relu(dut, stall):
    """Real ReLU activations through the encoder (with and without T) equal the lane
    streams built from pruning's exported zfnaf files: the encoder -> files -> unit chain."""
    env, drv, sb = await encoder_begin(dut, test_name("encoder_relu", stall=stall), stall)
    p, lanes = drv.p, 4
    q, scale, _, acts_f = cnv_data.relu_data(images=6)
    _, windows = cnv_data.export_zfnaf(acts_f, lanes=lanes, brick=p["brick"])
    T = cnv_data.threshold_levels(acts_f, scale, 0.7)
    for i, a in enumerate(q):
        words = cnv.encoder_words(a, lanes=lanes, brick=p["brick"], value_width=p["value_width"])
        for k in range(lanes):
            beats = drv.send(f"image {i} lane {k}", words[k], error=False)
            sb.compare(f"image {i} lane {k}: golden encoder == export files", beats,
                       windows[i][k])
            drv.send(f"image {i} lane {k} T={T}", words[k], threshold=T, error=False)
    await drv.check(sb)


# ==================================================================== the chain

async def chain_begin(dut, name, stall):
    env = await start(dut, name)
    dut.threshold.value = 0
    dut.dense.value = 0
    return env, UnitDriver(env, stall, "cnv_chain"), Scoreboard(dut._log)


@cocotb.test()
@cocotb.parametrize(density=[0.0, 0.56, 1.0], stall=[False, True])
async def chain_density(dut, density, stall):
    """Dense bricks -> encoders -> unit, zero-skip, dense and thresholded phases: sums as
    golden, and each phase Σ steps + chain_latency clocks from its first brick."""
    env, drv, sb = await chain_begin(dut, test_name("chain_density", density=density,
                                                    stall=stall), stall)
    p, rng = drv.p, env.rng
    k_len = min(100, p["max_k"])
    await drv.load(random_weights(rng, p["filters"], k_len, p["weight_width"]))
    acts = random_acts(rng, (5, k_len), density, p["value_width"])
    for group, T, dense in (("zero-skip", 0, False), ("dense", 0, True),
                            ("threshold", 60, False)):
        await drv.phase(T, dense)
        for i, a in enumerate(acts):
            drv.send_dense(f"{group} window {i}", a, group, threshold=T, dense=dense)
    fig = await drv.check(sb)
    sb.equal("enc_error", int(dut.enc_error.value), 0)
    for group in fig:
        drv.report(group, fig, elements=acts.size)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def chain_relu(dut, stall):
    """The digits ReLU activations (int8, from pruning's export files) as dense bricks
    through the whole chain, without and with the threshold T."""
    env, drv, sb = await chain_begin(dut, test_name("chain_relu", stall=stall), stall)
    p = drv.p
    q, windows, w, T = cnv_data.relu_case(8, filters=p["filters"], lanes=p["lanes"],
                                          brick=p["brick"])
    await drv.load(w)
    for group, thr in (("zero-skip", 0), ("threshold", T)):
        await drv.phase(thr, False)
        for i, a in enumerate(q):
            drv.send_dense(f"image {i} T={thr}", a, group, threshold=thr, dense=False)
    # what the encoders must feed the unit (golden.cnv.encoder_output, checked equal in
    # send_dense) is exactly what the export files describe
    for i, a in enumerate(q):
        sb.equal(f"image {i}: lane streams == export files", drv.streams(a), windows[i])
    fig = await drv.check(sb)
    for group in fig:
        drv.report(group, fig, elements=q.size, threshold=T if group == "threshold" else 0)
