"""The driver of the ``csr_spmv`` bench (:mod:`tb.bench_csr_spmv`): its four streams, the
matrices sent as :class:`tb.transactions.Transaction` records, and the checks against the
golden model, the golden stream model and the cycle model (``CSRSpMV.cycles``).
"""

import numpy as np

from golden.csr import row_lengths, spmv, steps, to_signed, to_streams
from golden.csr_lenient import XMemory, load_x, spmv_lenient
from hw.blocks import get_block
from hw.csr_spmv import CSRSpMV

from .axis import Beat
from .bench import block_params
from .transactions import Transaction, TransactionDriver

__all__ = ["STALL", "build_params", "random_matrix", "random_x", "SpMVDriver"]

STALL = 0.3


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
        self.latency = CSRSpMV.latency_of(self.p["lanes"], multipliers=self.p["multipliers"],
                                          x_width=self.p["x_width"])
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
            ideal_cycles=CSRSpMV.cycles(np.clip(lengths, 0, None), p["lanes"],
                                        multipliers=p["multipliers"], x_width=p["x_width"]),
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
