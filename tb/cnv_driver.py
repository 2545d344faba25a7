"""Drivers of the Cnvlutin bench (tb/bench_cnv.py): the unit's (and the chain's) lane,
weight and output streams, and the encoder's, with what was sent and the golden answer.

:class:`UnitDriver` checks every output against :func:`golden.cnv.unit_window` (sums and
``error`` exactly) and, without stalls, that each group of back-to-back windows sharing a
weight load takes exactly ``Σ steps + latency`` clocks (:func:`golden.cnv.chain_latency`
through the chain's encoders) and that a reload's next window starts the clock after its
``last``.  :class:`EncoderDriver` checks words, ``tlast``, ``error`` and
:func:`golden.cnv.encoder_cycles` clocks.
"""

import numpy as np

from golden import cnv
from golden.bits import byte_width, to_signed
from hw.blocks import get_block

from .axis import Beat
from .bench import block_params
from .transactions import Transaction, TransactionDriver

__all__ = ["STALL", "random_acts", "random_weights", "UnitDriver", "EncoderDriver"]

STALL = 0.3


def random_acts(rng, shape, density, width):
    """Non-zeros uniform over the signed ``width``-bit range without 0, at ``density``."""
    lo, hi = -(1 << (width - 1)), 1 << (width - 1)
    a = rng.integers(lo, hi - 1, shape)
    a[a >= 0] += 1
    a[rng.random(shape) >= density] = 0
    return a


def random_weights(rng, filters, k_len, width):
    return rng.integers(-(1 << (width - 1)), 1 << (width - 1), (filters, k_len))


class UnitDriver(TransactionDriver):
    """The lane, weight and output streams of ``cnv_unit`` and what was sent on them."""

    def __init__(self, env, stall, block="cnv_unit"):
        super().__init__(env)
        self.p = get_block(block).params(block_params())
        self.stall = stall
        # cnv_chain: the lanes take dense bricks through the encoders (ENCODER_LATENCY more)
        self.chain = block == "cnv_chain"
        pause = STALL if stall else 0.0
        L = self.p["lanes"]
        self.lanes = [env.source(f"s_axis_lane{k}", pause) for k in range(L)]
        self.w = env.source("s_axis_w", pause)
        self.out = env.sink("m_axis", pause, side=("error",))
        self.weights = np.zeros((self.p["filters"], 0), dtype=np.int64)
        self.loads = []                  # (K, index of the first window after the load)
        self.beats_sent = [0] * L

    def golden(self, streams):
        p = self.p
        return cnv.unit_window(streams, self.weights, lanes=p["lanes"], brick=p["brick"],
                               value_width=p["value_width"], acc_width=p["acc_width"],
                               overflow=p["overflow"])

    def streams(self, acts, **kw):
        p = self.p
        return cnv.window_streams(acts, lanes=p["lanes"], brick=p["brick"],
                                  value_width=p["value_width"], **kw)

    async def load(self, w):
        """A weight load between windows: sent once the earlier windows' beats are in."""
        for k, lane in enumerate(self.lanes):
            await self.bounded(lane.wait_idle(), f"lane {k} before a weight load")
        words = cnv.weight_words(w, weight_width=self.p["weight_width"])
        self.w.send(Beat(x, i == len(words) - 1) for i, x in enumerate(words))
        self.weights = np.asarray(w, dtype=np.int64)
        self.loads.append((len(words), len(self.transactions)))
        if self.stall or self.chain:
            await self.bounded(self.w.wait_idle(), "weight load")

    def send(self, label, streams, group="", malformed=None, words=None):
        out, err, steps = self.golden(streams)
        if malformed is not None:
            assert err == malformed, f"{label}: golden error {err}, meant {malformed}"
        lane_words = streams if words is None else words
        for k, beats in enumerate(lane_words):
            self.lanes[k].send(Beat(b, i == len(beats) - 1) for i, b in enumerate(beats))
        self.record(Transaction(label, 1, expected=(out, err), malformed=err,
                                ideal_cycles=steps + 8,
                                info={"first": list(self.beats_sent), "steps": steps,
                                      "group": group, "load": len(self.loads) - 1}))
        for k, s in enumerate(lane_words):
            self.beats_sent[k] += len(s)
        return out

    async def phase(self, threshold, dense):
        """cnv_chain: wait for every output so far, then set the encoders' ports (shared
        by all lanes, so they change only between phases)."""
        await self.bounded(self.out.wait_for(self.expected_outputs), "outputs")
        await self.env.cycles(2)
        self.env.dut.threshold.value = threshold
        self.env.dut.dense.value = int(dense)

    def send_dense(self, label, acts, group, *, threshold, dense):
        """cnv_chain: a window as dense bricks; golden: the encoders' words -> the unit."""
        p = self.p
        words = cnv.encoder_words(acts, lanes=p["lanes"], brick=p["brick"],
                                  value_width=p["value_width"])
        streams = [cnv.encoder_output(w, brick=p["brick"], value_width=p["value_width"],
                                      threshold=threshold, dense=dense)[0] for w in words]
        assert streams == self.streams(acts, threshold=threshold, dense=dense)
        return self.send(label, streams, group, words=words)

    def extra_cycles(self):
        return sum(k for k, _ in self.loads)

    def first_beat(self, t):
        return self.lanes[0].sent[t.info["first"][0]]

    async def check(self, sb):
        """Every output against golden; without stalls, exact cycles per group of windows
        sharing a load and a group name, and the reload timing.  Returns {group: cycles}."""
        await self.bounded(self.out.wait_for(self.expected_outputs), "outputs")
        await self.env.cycles(10)
        sb.equal("output count", len(self.out.beats), self.expected_outputs)
        yf, F = byte_width(self.p["acc_width"]), self.p["filters"]
        for t, (beat,) in self.outputs_of(self.out.beats):
            got = [to_signed(beat.data >> (f * yf), yf) for f in range(F)]
            sb.compare(f"{t.label}: sums", got, t.expected[0])
            sb.equal(f"{t.label}: error", beat.side["error"], int(t.expected[1]))
            sb.equal(f"{t.label}: tlast", beat.last, True)
        for k, lane in enumerate(self.lanes):
            sb.equal(f"lane {k}: beats taken", len(lane.sent), self.beats_sent[k])
        figures = {}
        for key in dict.fromkeys((t.info["load"], t.info["group"]) for t in self.transactions):
            idx = [i for i, t in enumerate(self.transactions)
                   if (t.info["load"], t.info["group"]) == key]
            first, last = self.first_beat(self.transactions[idx[0]]), self.out.beats[idx[-1]]
            steps = sum(self.transactions[i].info["steps"] for i in idx)
            latency = (cnv.chain_latency if self.chain else cnv.unit_latency)(self.p["lanes"])
            model = steps + latency
            cycles = last.cycle - first.cycle + 1
            if not self.stall:
                assert idx == list(range(idx[0], idx[-1] + 1)), "groups must be contiguous"
                sb.equal(f"group {key}: cycles first lane beat -> last output", cycles, model)
            figures.setdefault(key[1], []).append((cycles, model, first, last, idx))
        if not self.stall and not self.chain:
            w_last = np.cumsum([k for k, _ in self.loads]) - 1
            for (k_len, at), end in zip(self.loads, w_last):
                if at < len(self.transactions):
                    sb.equal(f"load of K={k_len}: next window's first step after its last",
                             self.first_beat(self.transactions[at]).cycle
                             - self.w.sent[end].cycle, 1)
        sb.summary()
        return figures

    def report(self, group, figures, *, elements, **extra):
        """One make-sim row for a group (summed over its loads)."""
        rows = figures[group]
        cycles = sum(c for c, *_ in rows)
        model = sum(m for _, m, *_ in rows)
        # a group may span several weight loads: its figure is the sum of its runs
        first, last = Beat(0, cycle=0), Beat(0, cycle=cycles - 1)
        return self.env.report(elements=elements, first=first, last=last,
                               bound=None if self.stall else model, group=group,
                               model_cycles=model, lanes=self.p["lanes"], **extra)


class EncoderDriver(TransactionDriver):
    """Dense bricks in (with the threshold and dense ports held per brick), lane words out."""

    def __init__(self, env, stall):
        super().__init__(env)
        self.p = get_block("cnv_encoder").params(block_params())
        self.stall = stall
        pause = STALL if stall else 0.0
        self.src = env.source("s_axis", pause)
        self.sink = env.sink("m_axis", pause, side=("error",))
        self.bricks = 0

    def send(self, label, words, *, threshold=0, dense=False, error=None):
        p = self.p
        beats, err = cnv.encoder_output(words, brick=p["brick"], value_width=p["value_width"],
                                        threshold=threshold, dense=dense)
        if error is not None:
            assert err == error
        side = {"threshold": threshold, "dense": int(dense)}
        self.src.send(Beat(x, i == len(words) - 1, side) for i, x in enumerate(words))
        self.record(Transaction(label, len(beats), expected=beats, malformed=err,
                                ideal_cycles=cnv.encoder_cycles([len(beats)]) + 1,
                                info={"first": self.bricks, "bricks": len(words)}))
        self.bricks += len(words)
        return beats

    async def check(self, sb):
        await self.bounded(self.sink.wait_for(self.expected_outputs), "encoder output")
        await self.env.cycles(10)
        sb.equal("beat count", len(self.sink.beats), self.expected_outputs)
        for t, beats in self.outputs_of(self.sink.beats):
            sb.compare(f"{t.label}: words", [b.data for b in beats], t.expected)
            sb.compare(f"{t.label}: tlast", [b.last for b in beats],
                       [0] * (len(beats) - 1) + [1])
            errs = [b.side["error"] for b in beats]
            if t.malformed:
                sb.equal(f"{t.label}: error at the last beat", errs[-1], 1)
            else:
                sb.compare(f"{t.label}: error", errs, [0] * len(beats))
        total = self.expected_outputs
        first, last = self.src.sent[0], self.sink.beats[-1]
        bound = None
        if not self.stall:
            bound = cnv.encoder_cycles([total])
            sb.equal("cycles first brick -> last beat", last.cycle - first.cycle + 1, bound)
        sb.summary()
        return self.env.report(elements=total, first=first, last=last, bound=bound,
                               bricks=self.bricks)
