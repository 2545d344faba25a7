"""cocotb bench of ``csr_spmv``: y = A·x from CSR streams, checked against golden.csr.

The same tests run on every build in :mod:`tb.benches` (wrap / saturate, 1 or 4 lanes);
they read the build's parameters (value widths included), so the golden model is always
asked the same question as the hardware.  Without stalls each test asserts the cycle
bound of README: Σ max(1, ceil(row length / lanes)) + 1 + pipeline latency, i.e. NNZ +
empty rows + 4 for one lane, for every train of back-to-back matrices sharing one x, and
that each x reload between trains costs exactly ncols + 1 cycles.  Every wait on the DUT
is bounded, so a hang fails the test instead of the regression.
"""

import cocotb
import numpy as np
from cocotb.triggers import SimTimeoutError, with_timeout

from golden.csr import CSR, NZStreams, from_dense, row_lengths, spmv, to_signed, to_streams
from hw.blocks import get_block
from hw.csr_spmv import matrix_cycles, pipeline_latency

from .axis import Beat
from .bench import block_params, start, test_name
from .scoreboard import Scoreboard

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


class SpMVDriver:
    """The four streams of the block and what was sent on them, per matrix."""

    def __init__(self, env, stall):
        self.env = env
        self.p = build_params()
        pause = STALL if stall else 0.0
        self.x = env.source("s_axis_x", pause)
        self.row = env.source("s_axis_row", pause)
        self.nz = env.source("s_axis_nz", pause)
        self.y = env.sink("m_axis_y", pause, side=("error",))
        self.matrices = []        # (label, nrows, expected y, malformed, row lengths, ncols, x#)
        self.x_loads = []         # ncols of each x load, in order
        self.x_now = None
        self.stall = stall

    def budget(self):
        """Cycles everything sent so far may take, generously: 20× the no-stall figure."""
        lengths = [n for m in self.matrices for n in m[4]]
        ideal = matrix_cycles(np.clip(lengths, 0, None), self.p["lanes"]) if lengths else 0
        return 20 * (ideal + sum(n + 1 for n in self.x_loads)) + 2000

    async def bounded(self, wait, what):
        """Await ``wait`` (a coroutine), failing after :meth:`budget` cycles."""
        cycles = self.budget()
        try:
            await with_timeout(wait, cycles * self.env.period, "step")
        except SimTimeoutError:
            raise AssertionError(f"{what} not done after {cycles} cycles: the DUT hangs") from None

    async def load_x(self, x):
        """Stream a new x between matrices.

        The x and matrix streams are independent, so their order is the driver's to keep:
        x is sent only once the previous matrices' rows are taken, and under random
        pauses the matrices that need it are sent only once x is in (a pause before x's
        first beat would otherwise let them start on the old x).  Without pauses x and
        the first row arrive together, which checks that a pending x goes first.
        """
        await self.bounded(self.row.wait_idle(), "rows before an x load")
        mask = (1 << len(self.x.tdata)) - 1
        self.x.send(Beat(int(v) & mask, i == len(x) - 1) for i, v in enumerate(x))
        self.x_now = np.asarray(x)
        self.x_loads.append(len(x))
        if self.stall:
            await self.bounded(self.x.wait_idle(), "x load")

    def send(self, label, csr, *, malformed=False, streams=None):
        p = self.p
        if streams is None:
            streams = to_streams(csr, value_width=p["value_width"], col_width=p["col_width"],
                                 row_width=p["row_width"], lanes=p["lanes"],
                                 check=not malformed)
        rows, nz = streams.rows, streams.nz
        self.row.send(Beat(r, i == len(rows) - 1) for i, r in enumerate(rows))
        self.nz.send(Beat(w, i == len(nz) - 1) for i, w in enumerate(nz))
        want = None if malformed else spmv(
            csr, self.x_now, value_width=p["value_width"], x_width=p["x_width"],
            acc_width=p["acc_width"], overflow=p["overflow"], lanes=p["lanes"])
        self.matrices.append((label, len(rows), want, malformed, row_lengths(csr), csr.ncols,
                              len(self.x_loads) - 1))

    def steps(self, lengths):
        lanes = self.p["lanes"]
        return int(sum(max(1, -(-int(n) // lanes)) for n in lengths))

    def check_trains(self, sb):
        """No stalls: each train of matrices sharing an x, from its first row transfer to
        its last y, takes exactly Σ steps + 1 + latency cycles (x loads excluded), and each
        x reload costs exactly ncols + 1 cycles: x's first element is taken in the cycle
        after the previous matrix's final step (its last y minus the latency), and the
        next matrix's first row in the cycle after x's last element.  Returns the whole
        run's cycle figure (None if some x went unused, whose cost is not modelled)."""
        latency = pipeline_latency(self.p["lanes"])
        row_at = np.cumsum([0] + [m[1] for m in self.matrices])
        x_at = np.cumsum([0] + self.x_loads)
        total, prev_final, whole = 0, None, True
        for g, ncols in enumerate(self.x_loads):
            idx = [i for i, m in enumerate(self.matrices) if m[6] == g]
            if not idx:               # x replaced before any matrix used it: no figure
                prev_final, whole = None, False
                continue
            first = self.row.sent[row_at[idx[0]]].cycle
            last = self.y.beats[row_at[idx[-1] + 1] - 1].cycle
            steps = sum(self.steps(self.matrices[i][4]) for i in idx)
            sb.equal(f"x #{g} train: cycles, first row to last y", last - first + 1,
                     steps + 1 + latency)
            total += steps
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
        """Wait (bounded) for every y, compare them, and report cycles (with the bound when
        not stalled and every matrix is valid)."""
        total = sum(m[1] for m in self.matrices)
        await self.y.wait_for(total, within=self.budget())
        await self.env.cycles(10)
        sb.equal("y count", len(self.y.beats), total)
        yf = len(self.y.tdata)
        at = 0
        for label, nrows, want, malformed, *_ in self.matrices:
            beats = self.y.beats[at:at + nrows]
            at += nrows
            sb.compare(f"{label}: tlast", [b.last for b in beats], [0] * (nrows - 1) + [1])
            got = [to_signed(b.data, yf) for b in beats]
            if malformed:
                sb.equal(f"{label}: error at its last y", beats[-1].side["error"], 1)
            else:
                sb.compare(f"{label}: y", got, want)
                sb.compare(f"{label}: error", [b.side["error"] for b in beats], [0] * nrows)
        valid = [m for m in self.matrices if not m[3]]
        bound = None if stall or len(valid) != len(self.matrices) else self.check_trains(sb)
        sb.summary()
        nnz = sum(int(np.sum(m[4])) for m in valid)
        lengths = np.concatenate([m[4] for m in self.matrices])
        dense = sum(m[1] * m[5] for m in valid)       # row-by-row dense baseline, cycles
        return self.env.report(
            elements=nnz, first=self.row.sent[0], last=self.y.beats[-1], bound=bound,
            matrices=len(self.matrices), rows=int(len(lengths)),
            empty_rows=int(np.sum(lengths == 0)), lanes=self.p["lanes"],
            steps=self.steps(lengths), x_loads=len(self.x_loads),
            dense_cycles=dense)


async def begin(dut, name, stall):
    env = await start(dut, name)
    return env, SpMVDriver(env, stall), Scoreboard(dut._log)


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


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_malformed(dut, stall):
    """Every bad-CSR class: error at the matrix's last y, exactly one y per announced row,
    tlast, and a correct next matrix (error low)."""
    env, drv, sb = await begin(dut, test_name("spmv_malformed", stall=stall), stall)
    p, rng, ncols = drv.p, env.rng, 8
    await drv.load_x(random_x(rng, ncols, p["x_width"]))
    for label, bad in malformed_matrices(ncols):
        drv.send(label, bad, malformed=True)
        good = from_dense(random_matrix(rng, (int(rng.integers(1, 6)), ncols), 0.5,
                                        p["value_width"]))
        drv.send(f"valid after '{label}'", good)
    # Fewer non-zeros than announced: the nz stream ends (last) inside row 0.
    short = from_dense(random_matrix(rng, (3, ncols), 1.0, p["value_width"]))
    streams = to_streams(short, value_width=p["value_width"], col_width=p["col_width"],
                         row_width=p["row_width"], lanes=p["lanes"])
    streams = NZStreams(streams.rows, streams.nz[:1])
    drv.send("fewer non-zeros than announced", short, malformed=True, streams=streams)
    drv.send("valid after 'fewer'", from_dense(random_matrix(rng, (2, ncols), 0.5,
                                                             p["value_width"])))
    await drv.check(sb, stall=True)   # bad input costs extra cycles: no bound here
