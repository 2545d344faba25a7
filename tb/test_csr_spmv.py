"""cocotb bench of ``csr_spmv``: y = A·x from CSR streams, checked against golden.csr.

The same tests run on every build in :mod:`tb.benches` (wrap / saturate, 1 or 4 lanes);
they read the build's parameters, so the golden model is always asked the same question
as the hardware.  Without stalls each test asserts the cycle bound of README:
Σ max(1, ceil(row length / lanes)) + 1 + pipeline latency, i.e. NNZ + empty rows + 4 for
one lane, for a whole train of back-to-back matrices.
"""

import cocotb
import numpy as np

from golden.csr import CSR, NZStreams, from_dense, row_lengths, spmv, to_signed, to_streams
from hw.blocks import get_block
from hw.csr_spmv import matrix_cycles

from .axis import Beat
from .bench import block_params, start, test_name
from .scoreboard import Scoreboard

STALL = 0.3
DENSITIES = [0.0, 0.01, 0.1, 0.5, 1.0]


def build_params():
    return get_block("csr_spmv").params(block_params())


def random_matrix(rng, shape, density, width):
    lo, hi = -(1 << (width - 1)), 1 << (width - 1)
    a = rng.integers(lo, hi, shape)
    a[a == 0] = 1
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
        self.matrices = []        # (label, nrows, expected y or None, malformed, row lengths)
        self.x_now = None
        self.stall = stall

    async def load_x(self, x):
        """Stream a new x between matrices.

        The x and matrix streams are independent, so their order is the driver's to keep:
        x is sent only once the previous matrices' rows are taken, and under random
        pauses the matrices that need it are sent only once x is in (a pause before x's
        first beat would otherwise let them start on the old x).  Without pauses x and
        the first row arrive together, which checks that a pending x goes first.
        """
        await self.row.wait_idle()
        mask = (1 << len(self.x.tdata)) - 1
        self.x.send(Beat(int(v) & mask, i == len(x) - 1) for i, v in enumerate(x))
        self.x_now = np.asarray(x)
        if self.stall:
            await self.x.wait_idle()

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
        self.matrices.append((label, len(rows), want, malformed, row_lengths(csr), csr.ncols))

    async def check(self, sb, *, stall):
        """Wait for every y, compare them, and report cycles (bound when not stalled)."""
        total = sum(m[1] for m in self.matrices)
        await self.y.wait_for(total)
        await self.env.cycles(10)
        sb.equal("y count", len(self.y.beats), total)
        yf = len(self.y.tdata)
        at = 0
        for label, nrows, want, malformed, _, _ in self.matrices:
            beats = self.y.beats[at:at + nrows]
            at += nrows
            sb.compare(f"{label}: tlast", [b.last for b in beats], [0] * (nrows - 1) + [1])
            got = [to_signed(b.data, yf) for b in beats]
            if malformed:
                sb.equal(f"{label}: error at its last y", beats[-1].side["error"], 1)
            else:
                sb.compare(f"{label}: y", got, want)
                sb.compare(f"{label}: error", [b.side["error"] for b in beats], [0] * nrows)
        sb.summary()
        valid = [m for m in self.matrices if not m[3]]
        nnz = sum(int(np.sum(m[4])) for m in valid)
        lengths = np.concatenate([m[4] for m in self.matrices])
        bound = None if stall or len(valid) != len(self.matrices) else \
            matrix_cycles(lengths, self.p["lanes"])
        dense = sum(m[1] * m[5] for m in valid)       # row-by-row dense baseline, cycles
        return self.env.report(
            elements=nnz, first=self.row.sent[0], last=self.y.beats[-1], bound=bound,
            matrices=len(self.matrices), rows=int(len(lengths)),
            empty_rows=int(np.sum(lengths == 0)), lanes=self.p["lanes"],
            steps=int(sum(max(1, -(-int(n) // self.p["lanes"])) for n in lengths)),
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
    # x reloads wait for the previous matrices: the cycle bound does not apply to the train.
    await drv.check(sb, stall=True)


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
    await drv.check(sb, stall=True)


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def spmv_pruned_weights(dut, stall):
    """Weights from pruning/: magnitude and 2:4 pruned, quantised to the value width."""
    from pruning.api import prune
    from pruning.quant import quantize

    env, drv, sb = await begin(dut, test_name("spmv_pruned_weights", stall=stall), stall)
    p, rng = drv.p, env.rng
    w = rng.normal(size=(48, 64))
    bits = 16 if p["value_width"] >= 16 else 8
    await drv.load_x(random_x(rng, 64, min(p["x_width"], 8)))
    for label, result in (("magnitude 90%", prune({"w": w}, 0.9)),
                          ("2:4", prune({"w": w}, 0.5, nm="2:4"))):
        q = quantize(result.weights["w"], bits=bits, per="row")
        drv.send(f"{label}, int{q.bits} per-row", from_dense(q.q))
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
