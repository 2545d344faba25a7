"""cocotb bench of ``csr_spmv``: y = A·x from CSR streams, checked against golden.csr.

The same tests run on every build in :mod:`tb.benches` (wrap / saturate, 1, 2 or 4 lanes,
a small build near its limits); they read the build's parameters (value widths included),
so the golden model is always asked the same question as the hardware.  Valid matrices
are compared with :func:`golden.csr.spmv` and must keep ``error`` low; malformed streams
are compared y and ``error`` beat for beat with the golden stream model
(:func:`golden.csr_lenient.spmv_lenient`, x as :func:`golden.csr_lenient.load_x` stores it).  Without
stalls each test asserts the cycle bound of README, ``CSRSpMV.cycles`` (Σ max(1,
ceil(row length / lanes)) + 1 + latency, i.e. NNZ + empty rows + 5 for one lane, default build) for
every train of back-to-back matrices sharing one x, and that each x reload between
trains costs exactly ncols + 1 cycles.  Every wait on the DUT is bounded
(:class:`tb.transactions.TransactionDriver`), so a hang fails the test instead of the
regression.
"""

import cocotb
import numpy as np

from golden.csr import CSR, NZStreams, from_dense, nz_field_widths

from .axis import bursty_ready
from .bench import start, test_name
from .csr_spmv_driver import SpMVDriver, random_matrix, random_x
from .scoreboard import Scoreboard

DENSITIES = [0.0, 0.01, 0.1, 0.5, 1.0]


async def begin(dut, name, stall, y_ready=None):
    env = await start(dut, name)
    return env, SpMVDriver(env, stall, y_ready), Scoreboard(dut._log)


@cocotb.test()
@cocotb.parametrize(density=DENSITIES, stall=[False, True])
async def spmv_density(dut, density, stall):
    """Back-to-back random matrices sharing one x, at each density."""
    env, drv, sb = await begin(dut, test_name("spmv_density", density=density, stall=stall),
                               stall)
    p, ncols = drv.p, 64
    await drv.load_x(random_x(env.rng, ncols, p["x_width"]))
    for k in range(4):
        a = random_matrix(env.rng, (int(env.rng.integers(1, 48)), ncols), density,
                          p["value_width"])
        drv.send(f"matrix {k} {a.shape}", from_dense(a))
    await drv.check(sb, stall=stall)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_shapes(dut, stall):
    """1×N, N×1, tall, wide, one huge row, many empty rows, all-empty rows, NNZ = 0."""
    env, drv, sb = await begin(dut, test_name("spmv_shapes", stall=stall), stall)
    vw, xw, rng = drv.p["value_width"], drv.p["x_width"], env.rng
    groups = {
        40: [("1xN", random_matrix(rng, (1, 40), 0.5, vw)),
             ("tall", random_matrix(rng, (120, 40), 0.05, vw)),
             ("wide", random_matrix(rng, (3, 40), 0.8, vw))],
        1: [("Nx1", random_matrix(rng, (40, 1), 0.5, vw))],
        200: [("huge row", random_matrix(rng, (1, 200), 1.0, vw)),
              ("huge row among empties", np.r_[np.zeros((3, 200), int),
                                               random_matrix(rng, (1, 200), 0.9, vw),
                                               np.zeros((2, 200), int)])],
        16: [("mostly empty rows", random_matrix(rng, (64, 16), 0.02, vw)),
             ("all rows empty", np.zeros((10, 16), int)),
             ("one empty row", np.zeros((1, 16), int))],
    }
    for ncols, mats in groups.items():
        await drv.load_x(random_x(rng, ncols, xw))
        for label, a in mats:
            drv.send(f"{label} {a.shape}", from_dense(a))
    # Without stalls: the bound per x train, and the reload cost between trains.
    await drv.check(sb, stall=stall)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_extremes(dut, stall):
    """Most negative × most negative, and sums that overflow the accumulator."""
    env, drv, sb = await begin(dut, test_name("spmv_extremes", stall=stall), stall)
    p = drv.p
    vmin, xmin = -(1 << (p["value_width"] - 1)), -(1 << (p["x_width"] - 1))
    vmax, xmax = -vmin - 1, -xmin - 1
    ncols = 32
    x = np.full(ncols, xmin)
    x[1::2] = xmax
    await drv.load_x(x)
    a = np.full((6, ncols), vmin)
    a[1] = vmax                       # large negative sums
    a[2, 1::2] = vmax                 # alternating: overflow then back
    a[3, :] = 0
    a[3, 0] = vmin                    # a single extreme product
    a[4, ::3] = vmax
    a[5] = -a[5]                      # (not representable: clip to vmax)
    a[5] = np.clip(a[5], vmin, vmax)
    drv.send("extreme values", from_dense(a))
    drv.send("extreme, transposed pattern", from_dense(np.flipud(a)))
    await drv.check(sb, stall=stall)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_x_reuse(dut, stall):
    """One x serves several matrices; a new x replaces it only between matrices."""
    env, drv, sb = await begin(dut, test_name("spmv_x_reuse", stall=stall), stall)
    p, rng = drv.p, env.rng
    mats = [from_dense(random_matrix(rng, (int(rng.integers(1, 20)), 24), 0.3,
                                     p["value_width"])) for _ in range(3)]
    for x_round in range(3):
        await drv.load_x(random_x(rng, 24, p["x_width"]))
        for k, a in enumerate(mats):
            drv.send(f"x #{x_round}, matrix {k}", a)
    await drv.check(sb, stall=stall)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_pruned_weights(dut, stall):
    """Weights from pruning/: magnitude and 2:4 pruned, quantised to the value width (int16
    or int8; below 8 bits int8 clipped to the value range, which keeps the pattern)."""
    from pruning.api import prune
    from pruning.quant import quantize

    env, drv, sb = await begin(dut, test_name("spmv_pruned_weights", stall=stall), stall)
    p, rng = drv.p, env.rng
    w = rng.normal(size=(48, 64))
    vw = p["value_width"]
    bits = 16 if vw >= 16 else 8
    await drv.load_x(random_x(rng, 64, min(p["x_width"], 8)))
    for label, result in (("magnitude 90%", prune({"w": w}, 0.9)),
                          ("2:4", prune({"w": w}, 0.5, nm="2:4"))):
        q = quantize(result.weights["w"], bits=bits, per="row")
        a, how = q.q, f"int{q.bits}"
        if vw < bits:
            a = np.clip(a.astype(np.int64), -(1 << (vw - 1)), (1 << (vw - 1)) - 1)
            how += f" clipped to {vw} bits"
            dut._log.info("value_width %d < 8: %s weights clipped to the value range", vw, label)
        drv.send(f"{label}, {how} per-row", from_dense(a))
    await drv.check(sb, stall=stall)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_unbalanced(dut, stall):
    """Heavy-tailed row lengths: how close a P-lane build gets to P non-zeros per clock."""
    env, drv, sb = await begin(dut, test_name("spmv_unbalanced", stall=stall), stall)
    p, rng, ncols = drv.p, env.rng, 128
    await drv.load_x(random_x(rng, ncols, p["x_width"]))
    lengths = np.minimum(rng.zipf(1.6, 96), ncols)
    a = np.zeros((len(lengths), ncols), dtype=int)
    for i, n in enumerate(lengths):
        cols = rng.choice(ncols, n, replace=False)
        a[i, cols] = random_matrix(rng, (n,), 1.0, p["value_width"])
    drv.send(f"zipf rows {a.shape}", from_dense(a))
    await drv.check(sb, stall=stall)


def malformed_matrices(ncols):
    """(label, CSR) pairs, one per class of bad CSR the block must flag."""
    return [
        ("col_idx >= ncols", CSR([0, 2, 3], [1, ncols + 3, 0], [10, 20, 30], (2, ncols))),
        # the boundary itself: a `>` written for `>=` reads x past ncols unflagged
        ("col_idx == ncols", CSR([0, 2, 3], [ncols - 1, ncols, 0], [10, 20, 30], (2, ncols))),
        ("decreasing row_ptr", CSR([0, 3, 1, 4], [0, 1, 2, 3], [1, 1, 1, 1], (3, ncols))),
        ("row_ptr not starting at 0", CSR([1, 2, 3], [0, 1, 2], [1, 1, 1], (2, ncols))),
        ("more non-zeros than announced", CSR([0, 1, 2], [0, 1, 2, 3, 4], [1, 2, 3, 4, 5],
                                              (2, ncols))),
        ("row longer than ncols", CSR([0, ncols + 1, ncols + 1], list(range(ncols)) + [0],
                                      [1] * (ncols + 1), (2, ncols))),
        # Framing: to_streams sends the null beat for NNZ = 0 and the surplus otherwise;
        # the block must take exactly this matrix's frame, never the next one's.
        ("NNZ = 0, rows announce non-zeros", CSR([0, 2, 3], [], [], (2, ncols))),
        ("NNZ = 0, decreasing row_ptr", CSR([0, 0, -1], [], [], (2, ncols))),
        ("all rows empty, surplus non-zeros", CSR([0, 0, 0], [1, 2], [5, 6], (2, ncols))),
    ]


def malformed_streams(p):
    """(label, NZStreams) pairs of bad streams that no CSR packs to."""
    # An all-empty matrix whose frame is longer than the null beat: surplus null beats
    # (with one lane they are zeros at column 0, so only the framing can tell).
    return [("all rows empty, surplus null beats", NZStreams([0, 0], [0, 0])),
            ("one empty row, three null beats", NZStreams([0], [0, 0, 0]))]


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_malformed(dut, stall):
    """Every bad-CSR class, and bad streams: y and error beat for beat as the golden stream
    model says (error at the matrix's last y), exactly one y per announced row, tlast, and
    a correct next matrix (error low)."""
    env, drv, sb = await begin(dut, test_name("spmv_malformed", stall=stall), stall)
    p, rng, ncols = drv.p, env.rng, 8
    await drv.load_x(random_x(rng, ncols, p["x_width"]))

    def good_after(label):
        good = from_dense(random_matrix(rng, (int(rng.integers(1, 6)), ncols), 0.5,
                                        p["value_width"]))
        drv.send(f"valid after '{label}'", good)

    for label, bad in malformed_matrices(ncols):
        drv.send(label, bad, malformed=True)
        good_after(label)
    for label, streams in malformed_streams(p):
        drv.send(label, malformed=True, streams=streams)
        good_after(label)
    # Fewer non-zeros than announced: the nz stream ends (last) inside row 0.
    short = from_dense(random_matrix(rng, (3, ncols), 1.0, p["value_width"]))
    streams = drv.pack(short)
    streams = NZStreams(streams.rows, streams.nz[:1])
    drv.send("fewer non-zeros than announced", short, malformed=True, streams=streams)
    drv.send("valid after 'fewer'", from_dense(random_matrix(rng, (2, ncols), 0.5,
                                                             p["value_width"])))
    await drv.check(sb, stall=True)   # bad input costs extra cycles: no bound here


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_unused_slots_junk(dut, stall):
    """lanes > 1: the unused slots of a row's last beat hold junk (in-range columns with
    non-zero values, out-of-range columns, too-wide values); they must be ignored: exact
    y, error low.  (With one lane there are no unused slots: the matrices are plain.)"""
    env, drv, sb = await begin(dut, test_name("spmv_unused_slots_junk", stall=stall), stall)
    p, rng, ncols = drv.p, env.rng, min(12, drv.p["max_cols"])
    lanes, cf = p["lanes"], p["col_width"]
    vf, _ = nz_field_widths(p["value_width"], cf)
    await drv.load_x(random_x(rng, ncols, p["x_width"]))
    for k in range(4):
        a = random_matrix(rng, (int(rng.integers(3, 9)), ncols), (0.3, 0.6, 1.0, 0.1)[k],
                          p["value_width"])
        a[0, :] = 0
        a[0, :min(ncols, lanes + 1)] = 1              # row 0 leaves lanes - 1 slots unused
        csr = from_dense(a)
        s = drv.pack(csr)
        nz, it = [], iter(s.nz)
        for n in s.rows:
            beats = [next(it) for _ in range(-(-n // lanes))]
            if beats and n % lanes:
                junk = 0
                for slot in range(n % lanes, lanes):
                    col = int(rng.integers(0, ncols)) if slot % 2 else (1 << cf) - 1
                    val = int(rng.integers(1, 1 << (vf - 1)))
                    junk |= (col << vf | val) << (slot * (vf + cf))
                beats[-1] |= junk
            nz += beats
        nz = nz or s.nz
        drv.send(f"matrix {k} {a.shape}, junk in unused slots", csr,
                 streams=NZStreams(s.rows, nz))
    await drv.check(sb, stall=stall)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_limit_bad_x(dut, stall):
    """A bad x, then its recovery: one element wider than x_width (when the x field is
    wider than x_width), then max_cols + 1 elements; every matrix using such an x gets
    error on every y (y as the golden stream model says: the wide element stored as 0,
    the extra one dropped); a good x after it gives exact y with error low."""
    env, drv, sb = await begin(dut, test_name("spmv_limit_bad_x", stall=stall), stall)
    p, rng = drv.p, env.rng
    ncols, xw, xf = min(16, p["max_cols"]), p["x_width"], len(drv.x.tdata)
    a = from_dense(random_matrix(rng, (5, ncols), 0.6, p["value_width"]))
    if xf > xw:
        wide = random_x(rng, ncols, xw)
        wide[ncols // 2] = 1 << (xw - 1)              # needs x_width + 1 bits
        await drv.load_x(wide)
        drv.send("x with an element wider than x_width", a, malformed=True)
    else:
        dut._log.info("x_width %d fills its field: no wider element can be sent", xw)
    await drv.load_x(random_x(rng, p["max_cols"] + 1, xw))
    drv.send("x longer than max_cols", a, malformed=True)
    drv.send("x longer than max_cols, again", a, malformed=True)
    await drv.load_x(random_x(rng, ncols, xw))
    drv.send("good x after bad ones", a)
    await drv.check(sb, stall=True)   # bad input: no bound here


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_limit_rows(dut, stall):
    """Exactly max_rows rows (valid), then max_rows + 3 rows: the rows beyond the limit
    are flagged and answered as empty, one y each; the next matrix is exact."""
    env, drv, sb = await begin(dut, test_name("spmv_limit_rows", stall=stall), stall)
    p, rng, ncols = drv.p, env.rng, 8
    await drv.load_x(random_x(rng, ncols, p["x_width"]))
    full = from_dense(random_matrix(rng, (p["max_rows"], ncols), 0.2, p["value_width"]))
    drv.send(f"max_rows = {p['max_rows']} rows", full)
    over = from_dense(random_matrix(rng, (p["max_rows"] + 3, ncols), 0.2, p["value_width"]))
    drv.send("max_rows + 3 rows", over, malformed=True)
    drv.send("valid after too many rows",
             from_dense(random_matrix(rng, (4, ncols), 0.5, p["value_width"])))
    await drv.check(sb, stall=True)   # bad input: no bound here


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_empty_rows_backpressure(dut, stall):
    """Runs of empty rows (one step each, any lanes) while y stalls in long bursts, so the
    y queue fills: no y may be lost or duplicated."""
    env = await start(dut, test_name("spmv_empty_rows_backpressure", stall=stall))
    drv = SpMVDriver(env, stall, y_ready=bursty_ready(env.rng, 40))
    sb = Scoreboard(dut._log)
    p, rng, ncols = drv.p, env.rng, 8
    await drv.load_x(random_x(rng, ncols, p["x_width"]))
    for k, density in enumerate((0.0, 0.02, 0.1, 0.0)):
        nrows = min(p["max_rows"], int(rng.integers(20, 40)))
        a = random_matrix(rng, (nrows, ncols), density, p["value_width"])
        drv.send(f"mostly empty rows {k} {a.shape}", from_dense(a))
    await drv.check(sb, stall=True)   # y stalls: no bound here
