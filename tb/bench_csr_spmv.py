"""cocotb bench of ``csr_spmv``: y = A·x from CSR streams, checked against golden.csr.

The same tests run on every build in :mod:`tb.benches` (wrap / saturate, 1, 2 or 4 lanes,
a small build near its limits); they read the build's parameters (value widths included),
so the golden model is always asked the same question as the hardware.  Valid matrices
are compared with :func:`golden.csr.spmv` and must keep ``error`` low; malformed streams
are compared y and ``error`` beat for beat with the golden stream model
(:func:`golden.csr.spmv_lenient`, x as :func:`golden.csr.load_x` stores it).  Without
stalls each test asserts the cycle bound of README, ``CSRSpMV.cycles`` (Σ max(1,
ceil(row length / lanes)) + 1 + latency, i.e. NNZ + empty rows + 4 for one lane) for
every train of back-to-back matrices sharing one x, and that each x reload between
trains costs exactly ncols + 1 cycles.  Every wait on the DUT is bounded
(:class:`tb.transactions.TransactionDriver`), so a hang fails the test instead of the
regression.
"""

import cocotb
import numpy as np

from golden.csr import (CSR, NZStreams, XMemory, from_dense, load_x, nz_field_widths,
                        row_lengths, spmv, spmv_lenient, steps, to_signed, to_streams)
from hw.blocks import get_block
from hw.csr_spmv import CSRSpMV

from .axis import Beat, bursty_ready
from .bench import block_params, start, test_name
from .scoreboard import Scoreboard
from .transactions import Transaction, TransactionDriver

STALL = 0.3
DENSITIES = [0.0, 0.01, 0.1, 0.5, 1.0]


def build_params():
    return get_block("csr_spmv").params(block_params())


def random_matrix(rng, shape, density, width):
    """Non-zeros uniform over the ``width``-bit signed range without 0 (for width 1 that
    leaves only -1), at the given density."""
    lo, hi = -(1 << (width - 1)), 1 << (width - 1)
    a = rng.integers(lo, hi - 1, shape)
    a[a >= 0] += 1
    a[rng.random(shape) >= density] = 0
    return a


def random_x(rng, n, width):
    return rng.integers(-(1 << (width - 1)), 1 << (width - 1), n)


class SpMVDriver(TransactionDriver):
    """The four streams of the block; one :class:`Transaction` per matrix, whose ``info``
    holds its row lengths (``lengths``), its stream words (``rows``, ``nz``) and the
    index of the x load it uses (``x``)."""

    def __init__(self, env, stall, y_ready=None):
        super().__init__(env)
        self.p = build_params()
        self.latency = CSRSpMV.latency_of(self.p["lanes"])
        pause = STALL if stall else 0.0
        self.x = env.source("s_axis_x", pause)
        self.row = env.source("s_axis_row", pause)
        self.nz = env.source("s_axis_nz", pause)
        self.y = env.sink("m_axis_y", pause, side=("error",), ready=y_ready)
        self.x_loads = []         # words of each x load, in order
        self.x_now = XMemory.EMPTY
        self.stall = stall

    def extra_cycles(self):
        return sum(len(words) + 1 for words in self.x_loads)

    async def load_x(self, x=None, *, words=None):
        """Stream a new x (values, or raw stream ``words``) between matrices.

        The x and matrix streams are independent, so their order is the driver's to keep:
        x is sent only once the previous matrices' rows are taken, and under random
        pauses the matrices that need it are sent only once x is in (a pause before x's
        first beat would otherwise let them start on the old x).  Without pauses x and
        the first row arrive together, which checks that a pending x goes first.
        """
        await self.bounded(self.row.wait_idle(), "rows before an x load")
        mask = (1 << len(self.x.tdata)) - 1
        words = [int(v) & mask for v in (x if words is None else words)]
        self.x.send(Beat(w, i == len(words) - 1) for i, w in enumerate(words))
        self.x_now = load_x(words, x_width=self.p["x_width"], max_cols=self.p["max_cols"])
        self.x_loads.append(words)
        if self.stall:
            await self.bounded(self.x.wait_idle(), "x load")

    def pack(self, csr, *, check=True):
        p = self.p
        return to_streams(csr, value_width=p["value_width"], col_width=p["col_width"],
                          row_width=p["row_width"], lanes=p["lanes"], check=check)

    def send(self, label, csr=None, *, malformed=False, streams=None):
        """Send a matrix (``csr`` packed, or raw ``streams``).  A valid one expects
        :func:`golden.csr.spmv`; a ``malformed`` one the golden stream model's answer."""
        p = self.p
        streams = streams or self.pack(csr, check=not malformed)
        rows, nz = streams.rows, streams.nz
        self.row.send(Beat(r, i == len(rows) - 1) for i, r in enumerate(rows))
        self.nz.send(Beat(w, i == len(nz) - 1) for i, w in enumerate(nz))
        if malformed:
            expected = spmv_lenient(rows, nz, self.x_now, lanes=p["lanes"],
                                    value_width=p["value_width"], acc_width=p["acc_width"],
                                    overflow=p["overflow"], max_rows=p["max_rows"],
                                    col_width=p["col_width"])
        else:
            y = spmv(csr, self.x_now.values, value_width=p["value_width"],
                     x_width=p["x_width"], acc_width=p["acc_width"], overflow=p["overflow"],
                     lanes=p["lanes"])
            expected = (y.tolist(), [False] * len(rows))
        lengths = row_lengths(csr) if csr is not None else np.array(rows)
        self.record(Transaction(
            label, outputs=len(rows), expected=expected, malformed=malformed,
            ideal_cycles=CSRSpMV.cycles(np.clip(lengths, 0, None), p["lanes"]),
            info={"lengths": lengths, "ncols": self.x_now.ncols if csr is None else csr.ncols,
                  "x": len(self.x_loads) - 1}))

    def steps(self, lengths):
        return steps(np.clip(lengths, 0, None), self.p["lanes"])

    def check_trains(self, sb):
        """No stalls: each train of matrices sharing an x, from its first row transfer to
        its last y, takes exactly Σ steps + 1 + latency cycles (x loads excluded), and each
        x reload costs exactly ncols + 1 cycles: x's first element is taken in the cycle
        after the previous matrix's final step (its last y minus the latency), and the
        next matrix's first row in the cycle after x's last element.  Returns the whole
        run's cycle figure (None if some x went unused, whose cost is not modelled)."""
        ts, latency = self.transactions, self.latency
        row_at = np.cumsum([0] + [t.outputs for t in ts])
        x_at = np.cumsum([0] + [len(w) for w in self.x_loads])
        total, prev_final, whole = 0, None, True
        for g, words in enumerate(self.x_loads):
            ncols = len(words)
            idx = [i for i, t in enumerate(ts) if t.info["x"] == g]
            if not idx:               # x replaced before any matrix used it: no figure
                prev_final, whole = None, False
                continue
            first = self.row.sent[row_at[idx[0]]].cycle
            last = self.y.beats[row_at[idx[-1] + 1] - 1].cycle
            n_steps = sum(self.steps(ts[i].info["lengths"]) for i in idx)
            sb.equal(f"x #{g} train: cycles, first row to last y", last - first + 1,
                     n_steps + 1 + latency)
            total += n_steps
            if prev_final is not None:
                x_first, x_last = (self.x.sent[x_at[g]].cycle,
                                   self.x.sent[x_at[g + 1] - 1].cycle)
                sb.equal(f"x #{g} reload: x[0] after the final step", x_first - prev_final, 1)
                sb.equal(f"x #{g} reload: first row after x's last", first - x_last, 1)
                sb.equal(f"x #{g} reload cost (ncols + 1 = {ncols + 1})", first - prev_final,
                         ncols + 1)
                total += ncols + 1
            prev_final = last - latency
        return total + 1 + latency if whole else None

    async def check(self, sb, *, stall):
        """Wait (bounded) for every y, compare y and error beat for beat, and report cycles
        (with the bound when not stalled and every matrix is valid)."""
        total = self.expected_outputs
        await self.y.wait_for(total, within=self.budget())
        await self.env.cycles(10)
        sb.equal("y count", len(self.y.beats), total)
        yf = len(self.y.tdata)
        for t, beats in self.outputs_of(self.y.beats):
            want_y, want_err = t.expected
            sb.compare(f"{t.label}: tlast", [b.last for b in beats],
                       [0] * (t.outputs - 1) + [1])
            sb.compare(f"{t.label}: y", [to_signed(b.data, yf) for b in beats], want_y)
            sb.compare(f"{t.label}: error", [b.side["error"] for b in beats],
                       [int(e) for e in want_err])
            if t.malformed:
                sb.equal(f"{t.label}: error at its last y", beats[-1].side["error"], 1)
        valid = [t for t in self.transactions if not t.malformed]
        whole = len(valid) == len(self.transactions)
        bound = None if stall or not whole else self.check_trains(sb)
        sb.summary()
        lengths = np.concatenate([t.info["lengths"] for t in self.transactions])
        return self.env.report(
            elements=sum(int(np.sum(t.info["lengths"])) for t in valid),
            first=self.row.sent[0], last=self.y.beats[-1], bound=bound,
            matrices=len(self.transactions), rows=int(len(lengths)),
            empty_rows=int(np.sum(lengths == 0)), lanes=self.p["lanes"],
            steps=self.steps(lengths), x_loads=len(self.x_loads),
            dense_cycles=sum(t.outputs * t.info["ncols"] for t in valid))


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
        a = random_matrix(rng, (int(rng.integers(20, 40)), ncols), density, p["value_width"])
        drv.send(f"mostly empty rows {k} {a.shape}", from_dense(a))
    await drv.check(sb, stall=True)   # y stalls: no bound here
