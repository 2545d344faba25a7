"""Cnvlutin unit: ``L`` lanes take one ZFNAf beat per clock each and feed ``F`` filters.

Bit-exact model: :func:`golden.cnv.unit_window` (packing, bad input, step grouping);
cycle model: :func:`golden.cnv.run_cycles`.

Ports (AXI names at the top: ``s_axis_lane<k>_*``, ``s_axis_w_*``, ``m_axis_*``)
-------------------------------------------------------------------------------
==============  ===  ===================================================================
member          dir  meaning
==============  ===  ===================================================================
``lane<k>``     in   lane ``k``'s ZFNAf words, ``VF + 8`` bits (:mod:`golden.cnv`):
                     value, offset, EMPTY, END; ``last`` on the window's final beat.
                     Lane ``k`` carries bricks ``k, k+L, ...`` of the window
``w``           in   weight load, one beat per activation index ``i``: ``w[f][i]`` at
                     bits ``[f·WF, (f+1)·WF)`` (``WF = byte_width(weight_width)``),
                     ``last`` on ``i = K-1``; the beats loaded set ``K``
``out``         out  one beat per window: filter ``f``'s sum at bits ``[f·YF, (f+1)·YF)``
                     (``YF = byte_width(acc_width)``, sign-extended), ``last`` always 1
``error``       out  the offered (else the last taken) output's window had bad input
==============  ===  ===================================================================

Operation and throughput
------------------------
Lanes move in lock step, one *step* per clock: a step takes one beat from every lane
that has not had its ``last`` in this window, so it fires when all those lanes are valid
(``lane<k>.ready`` depends on the other lanes' ``valid``).  Each entry reads its lane's
weight bank (lane ``k`` holds the weights of its own bricks, so every bank has one read
port) at ``brick_base + offset`` for all ``F`` filters, the products are registered, summed
over the lanes (a registered adder tree when ``L > 1``) and accumulated per filter (wrap
or saturate after every step).  A window costs its busiest lane's beats (lanes wait for
each other per *window*, not per brick); an all-zero brick costs exactly one clock (its
EMPTY beat); back-to-back windows have no bubble.  Latency: a window's output is
transferred :func:`golden.cnv.unit_latency` clocks (10 for ``L = 1``: taken beats registered,
address register, read, weight register in the RAM and the fabric, two product stages,
accumulate, the sums' register, the output queue, output register slice; plus ``log2(L)``,
the lane adder tree: 12 for ``L = 4``) after its final step; so a run of windows takes
``Σ steps + latency`` clocks from the first lane transfer to the last output.  A step acts
one clock after its beats transfer (:meth:`CnvUnit._steps`; :class:`hw.axis.TwoEntryFIFO`).

Dense mode is a property of the input, not a second datapath: the encoder's ``dense``
port (or :func:`golden.cnv.window_streams` with ``dense=True``) sends every activation,
zeros included, and this same unit then takes one activation per clock per lane.

Weights and backpressure
------------------------
Weights are reused by every window until the next load, which is accepted only between
windows; a pending load (``w.valid`` when a window would start) goes first, and the next
window's first step comes the clock after ``w``'s ``last``.  More than ``max_k`` weight
beats are dropped, and a beat with a field that is not a sign extension of ``weight_width``
bits is stored as 0 whole (every filter); both are reported with every window using it.
Outputs wait in a queue of ``max(8, latency + 2)`` entries, then a register slice; a step
needs a free queue entry, so a stalled ``out`` stops the lanes, never drops a result, and
the queue never stalls a step when ``out`` is always ready.  ``out`` holds valid and
payload until taken.

Bad input (the window still yields its one output beat, then the next window is clean):
see :func:`golden.cnv.unit_window`.  A bad entry contributes 0 (the weight word it reads,
always inside its bank, is ignored); brick counters stop at the window's end so a flood of
bricks cannot wrap.

Multipliers: the ``L·F`` products (64 by default) are built from radix-4 partial products
(multiplexers over each lane's registered ``a, 3a, -a``) and adders
(:func:`hw.datapath.radix4_terms`), since an ECP5 25F has 28 DSPs; a product takes two
clocks, one adder level each (for weights up to 8 bits).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.cnv import OFFSET_FIELD, check_brick, unit_latency

from .axis import RegisterSlice, stream_payload
from .cnv_weights import weight_bank, weight_load
from .datapath import (OVERFLOW_MODES, CheckedFirst, CreditQueue, Credits, accumulate_next,
                       byte_width, choice_param, copy_enables, fits_signed, incr, int_param,
                       credit_depth, lt_var, radix4_multiples, radix4_terms, sum_stage)

__all__ = ["CnvUnit", "unit_streams"]

MULTIPLE_COPIES = 4  # copies of each lane's radix-4 multiples, one per group of filters
# the output queue: hw.datapath.credit_depth(latency) entries (8 at least)


def unit_streams(lanes=4):
    """The AXI prefix of every stream member of a ``lanes``-lane unit."""
    return {**{f"lane{k}": f"s_axis_lane{k}" for k in range(lanes)},
            "w": "s_axis_w", "out": "m_axis"}


class CnvUnit(CheckedFirst, wiring.Component):
    """``L``-lane Cnvlutin unit; see the module docstring for ports and protocol.

    Parameters (keyword only)
    -------------------------
    lanes : 1, 2, 4, 8 or 16 (default 4)
    filters : int, 1..32 (default 16)
    brick : power of two in [2, 64] (default 16)
    value_width, weight_width : int, 2..16 (default 8), signed
    acc_width : int, value_width + weight_width .. 64 (default 32)
    overflow : "wrap" or "saturate"
    max_k : int, 1..4096 (default 256): weights per filter the buffer holds
    """

    @staticmethod
    def check_params(*, lanes, filters, brick, value_width, weight_width, acc_width,
                     overflow, max_k):
        """Raise ValueError naming the first bad parameter (before the object exists:
        :class:`hw.datapath.CheckedFirst`)."""
        try:
            int_param("lanes", lanes, 1, 16)
            if lanes & (lanes - 1):
                raise ValueError(f"lanes must be a power of two (1, 2, 4, 8 or 16), not {lanes}")
            int_param("filters", filters, 1, 32)
            check_brick(brick)
            int_param("value_width", value_width, 2, 16)
            int_param("weight_width", weight_width, 2, 16)
            int_param("acc_width", acc_width, value_width + weight_width, 64)
            choice_param("overflow", overflow, OVERFLOW_MODES)
            int_param("max_k", max_k, 1, 4096)
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None

    def __init__(self, *, lanes=4, filters=16, brick=16, value_width=8, weight_width=8,
                 acc_width=32, overflow="wrap", max_k=256):
        self.lanes, self.filters, self.brick = int(lanes), int(filters), check_brick(brick)
        self.value_width, self.weight_width = int(value_width), int(weight_width)
        self.acc_width, self.overflow, self.max_k = int(acc_width), overflow, int(max_k)
        self.vf, self.wf, self.yf = (byte_width(value_width), byte_width(weight_width),
                                     byte_width(acc_width))
        bricks = -(-max_k // brick)
        self.depth = max(2, -(-bricks // lanes) * brick)       # words per lane bank
        self.latency = unit_latency(lanes)
        members = {f"lane{k}": In(stream.Signature(stream_payload(self.vf + 8)))
                   for k in range(lanes)}
        members.update({
            "w": In(stream.Signature(stream_payload(filters * self.wf))),
            "out": Out(stream.Signature(stream_payload(filters * self.yf))),
            "error": Out(1),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        banks = [weight_bank(m, self, k) for k in range(self.lanes)]
        k_len, w_bad, in_window, w_block, rd_addr = weight_load(m, self, banks,
                                                                   Signal(name="in_window"))
        # no bubble: the queue covers the round trip from a step to its entry's release
        credits = Credits(credit_depth(self.latency))
        fire, final, step, step_bad, values = self._steps(m, k_len, w_block, in_window,
                                                          rd_addr, credits.ok)
        # the load's error as of the step's decision: no beat of a load is taken in the
        # clock of a step, so w_bad one clock on is still that value
        w_bad_s0 = Signal(name="s0_w_bad")
        m.d.sync += w_bad_s0.eq(w_bad)
        tag, products = self._multiply(m, step, step_bad | w_bad_s0, values,
                                       [bank.data for bank in banks])
        tag, sums = self._lane_sum(m, tag, products)
        self._accumulate(m, tag, sums, credits, fire & final)
        return m

    # ------------------------------------------------------------------ weight load
    def _lane(self, m, k, beat, k_len, rd_addr):
        """Lane ``k``'s decode of its beat taken in the clock before (``beat``, its
        payload registered): (check terms, value, update); :meth:`_verdict` combines the
        terms into ok and bad once they are registered.

        Brick ``j = k + n·L`` of the window starts at ``j·B``, i.e. the bit fields
        ``{n, k, 0}``, and at ``n·B`` = ``{n, 0}`` in the lane's bank, so an entry's
        addresses are concatenations with its offset, not sums."""
        B, L, VF, VW = self.brick, self.lanes, self.vf, self.value_width
        lb, ll = B.bit_length() - 1, L.bit_length() - 1
        rounds = -(-(-(-self.max_k // B)) // L)
        n = Signal(range(rounds + 2), name=f"round{k}")           # lane brick count
        n1 = Signal(range(rounds + 2), init=1, name=f"round_next{k}")
        first = Signal(init=1, name=f"first{k}")            # next beat starts a brick
        first_brick = Signal(init=1, name=f"first_brick{k}")   # no END yet in the window
        prev = Signal(OFFSET_FIELD, name=f"prev{k}")
        data = beat.data
        value = data[:VF]
        off = data[VF:VF + OFFSET_FIELD]
        empty, end = data[VF + 6], data[VF + 7]
        lane_bits = [Const(k, ll)] if ll else []
        base = Cat(Const(0, lb), *lane_bits, n)             # j·B
        base_next = Cat(Const(0, lb), *lane_bits, n1)       # (j + L)·B
        addr = Cat(off[:lb], *lane_bits, n)                 # j·B + offset
        exists = lt_var(base, k_len)
        ends = end | empty
        terms = {"empty": empty, "end": end, "last": beat.last, "first": first,
                 "first_brick": first_brick, "exists": exists,
                 "off_ok": ~off[lb:].any() if lb < OFFSET_FIELD else Const(1),
                 "fits": fits_signed(value, VW), "addr_ok": lt_var(addr, k_len),
                 "rises": off > prev, "more": lt_var(base_next, k_len)}
        bank_addr = Cat(off[:lb], n)
        # No check on the address path: a bad entry reads a word inside the bank (its low
        # address bits) and contributes 0 all the same.
        m.d.comb += rd_addr[k].eq(bank_addr[:len(rd_addr[k])])

        def update(take):
            with m.If(take):
                with m.If(beat.last):
                    m.d.sync += [n.eq(0), n1.eq(1), first.eq(1), first_brick.eq(1),
                                 prev.eq(0)]
                with m.Elif(ends):
                    # past the window's end the count stops (the checks only ask >= K)
                    m.d.sync += [first.eq(1), first_brick.eq(0), prev.eq(0)]
                    with m.If(exists):
                        m.d.sync += [n.eq(n1), n1.eq(incr(n1, 1))]
                with m.Else():
                    m.d.sync += [first.eq(0), prev.eq(off)]
        return terms, value[:VW].as_signed(), update

    @staticmethod
    def _verdict(t):
        """(ok, bad) of a lane's beat from its check terms (:meth:`_lane`): an entry is
        ok when in its brick, inside K, above the previous offset and in range; an EMPTY
        beat is bad unless it is the END of an existing brick (or the window's first); a
        ``last`` is bad unless it ends a brick and no brick of the lane is left."""
        entry_ok = ~t["empty"] & t["off_ok"] & t["addr_ok"] & (t["first"] | t["rises"]) \
            & t["fits"]
        empty_bad = t["empty"] & ~(t["end"] & t["first"] & (t["exists"] | t["first_brick"]))
        last_bad = t["last"] & (~(t["end"] | t["empty"]) | t["more"])
        return entry_ok, (~t["empty"] & ~entry_ok) | empty_bad | last_bad

    def _steps(self, m, k_len, w_block, in_window, rd_addr, credit_ok):
        """Lock-step issue: a step fires when every lane not yet done offers a beat.

        The step is decided from the lanes' ``valid`` and ``last``, their ``done``, the
        credits and the window alone: a small loop of registers that the take closes in
        one clock.  Everything else the take moves (the lanes' brick counters and checks,
        the bank addresses, the datapath) acts one clock later, on the taken beats and
        the take registered: the decision's net then ends at a few flip-flops, not at
        lane logic spread over the die next to each lane's data (timing: that net held
        ``cnv_chain`` to 132 MHz on ECP5).  Fed by a :class:`~hw.axis.TwoEntryFIFO` (as
        in ``cnv_chain``), the take reaches three flip-flops of each lane's FIFO and
        none of its data.  Returns (fire, final, the step as it enters the datapath one
        clock on, its lanes' error, values)."""
        L = self.lanes
        lanes = [getattr(self, f"lane{k}") for k in range(L)]
        done = [Signal(name=f"done{k}") for k in range(L)]
        # The decision in two LUT levels: the gate (credits, window, load) and each pair
        # of lanes' "done or valid" as nets of their own (kept, so that synthesis does
        # not fold them into a deeper tree), then their AND, with each lane's take
        # beside it.  No "all lanes done" term: a step that is not final leaves a lane
        # that had neither its last nor was done, and a final one clears every done, so
        # the lanes are never all done.
        keep = {"keep": 1}
        gate = Signal(name="step_gate", attrs=keep)
        m.d.comb += gate.eq(credit_ok & (in_window | ~w_block))
        pairs = []
        for j in range(0, L, 2):
            pair = Signal(name=f"lanes_ready{j}", attrs=keep)
            m.d.comb += pair.eq(Cat(d | ln.valid for d, ln in
                                    zip(done[j:j + 2], lanes[j:j + 2])).all())
            pairs.append(pair)
        fire = Signal()
        final = Signal()
        m.d.comb += [
            fire.eq(gate & Cat(pairs).all()),
            final.eq(Cat(d | ln.payload.last for d, ln in zip(done, lanes)).all()),
        ]
        with m.If(fire):
            m.d.sync += in_window.eq(~final)
        # The step one clock on: its taken beats (every lane's offered beat, registered
        # every clock, no enable) and which lanes took one
        step = (Signal(name="step_valid"), Signal(name="step_final"))
        m.d.sync += [step[0].eq(fire), step[1].eq(fire & final)]
        beats, taken = [], Signal(L, name="step_take")
        for k, lane in enumerate(lanes):
            take = fire & ~done[k]
            m.d.comb += lane.ready.eq(take)
            with m.If(fire):
                m.d.sync += done[k].eq(~final & (done[k] | lane.payload.last))
            beat = Signal.like(lane.payload, name=f"step_beat{k}")
            m.d.sync += [beat.eq(lane.payload), taken[k].eq(take)]
            beats.append(beat)
        decoded = [self._lane(m, k, beats[k], k_len, rd_addr) for k in range(L)]
        # Each lane's check terms (the compares with K and the previous offset, the
        # flags) and its take are registered apart and combined one stage on (here and
        # in :meth:`_multiply`): the compares end at flip-flops, not at the verdict and
        # the datapath's tags (timing)
        step_bad = Signal(name="s0_step_bad")
        s0_bad, s0_ok, s0_take = (Signal(L, name=f"s0_lane_{n}") for n in ("bad", "ok", "take"))
        values = []
        for k, (terms, value, update) in enumerate(decoded):
            update(taken[k])
            held = {name: Signal(name=f"s0_{name}{k}") for name in terms}
            m.d.sync += [held[name].eq(term) for name, term in terms.items()]
            ok, bad = self._verdict(held)
            m.d.sync += s0_take[k].eq(taken[k])
            m.d.comb += [s0_bad[k].eq(bad), s0_ok[k].eq(ok)]
            values.append((value, s0_ok[k] & s0_take[k]))
        m.d.comb += step_bad.eq((s0_bad & s0_take).any())
        return fire, final, step, step_bad, values

    # ------------------------------------------------------------ datapath stages
    def _widths(self):
        """(partial product width, product register width, accumulator operand width):
        products are exact at ``VW + WW`` bits and registered at the width their consumer
        adds (the lane tree's, or the accumulator's for one lane), so every adder has
        equal operands."""
        tree = self.value_width + self.weight_width + (self.lanes - 1).bit_length()
        aw = max(self.acc_width, tree)
        return self.value_width + self.weight_width, (aw if self.lanes == 1 else tree), aw

    @staticmethod
    def _tag(m, prev, stage):
        """The step's (valid, final, err), registered into stage ``stage``."""
        tag = [Signal(name=f"{stage}_{n}") for n in ("valid", "final", "err")]
        m.d.sync += [a.eq(b) for a, b in zip(tag, prev)]
        return tag

    def _multiply(self, m, step, err, values, reads):
        """Stage 0: value and whether it counts registered while the bank's address is
        (:func:`hw.cnv_weights.weight_bank`).  Stage 1: value (0 if it does not count) registered while the bank
        is read.  Stage 2: the bank's word registered straight out of the memory (the
        block RAM's own output register on ECP5, :mod:`fpga.pack`).  Stage 3: the word
        again in the fabric, next to the multipliers it feeds (from the RAM to all ``F``
        filters' partial products was the unit's critical path), and the value's multiples
        ``a, 3a, -a``.  Stages 4-5: each product from its radix-4 partial products
        (:func:`hw.datapath.radix4_terms`: multiplexers and adders, since ``L·F``
        multipliers do not fit the DSPs of a small device), one adder level per clock up to
        8-bit weights (two beyond)."""
        F, WW = self.filters, self.weight_width
        pw, qw, _ = self._widths()
        s0 = [Signal(name="s0_valid"), Signal(name="s0_final"), Signal(name="s0_err")]
        # ``err`` (the lanes' checks) is already a stage-0 register; the load flag joins it
        m.d.sync += [s0[0].eq(step[0]), s0[1].eq(step[1])]
        m.d.comb += s0[2].eq(err)
        # The window's error so far (this step's included), accumulated here, one clock
        # after the step: the lane checks (compares with K) then end at a register
        # instead of running on into the accumulation (timing)
        err_acc, window_err = Signal(name="err_acc"), Signal(name="s0_window_err")
        m.d.comb += window_err.eq(err_acc | s0[2])
        with m.If(s0[0]):
            m.d.sync += err_acc.eq(window_err & ~s0[1])
        s1 = self._tag(m, [s0[0], s0[1], window_err], "s1")
        # two bits wider than the values: 3a fits (hw.datapath.radix4_multiples)
        s0_val, s1_val = ([Signal(signed(self.value_width + 2), name=f"s{i}_val{k}")
                           for k in range(self.lanes)] for i in (0, 1))
        # The multiples feed every filter's partial products (F × digits multiplexers per
        # bit): one copy per group of filters, so that no register drives loads all over
        # the unit (timing; copies kept apart as hw.datapath.copy_enables explains), and
        # one copy of the value before them per group too, each next to its multiples.
        copies = min(F, MULTIPLE_COPIES)
        val_enables = copy_enables(s1[0], s0[0], step[0])[:copies]
        s2_val = [[Signal(signed(self.value_width + 2), name=f"s2_val{k}_c{c}")
                   for c in range(copies)] for k in range(self.lanes)]
        for k, (value, use) in enumerate(values):
            # ``use`` (taken and passing its checks) comes from stage-0 registers
            # (:meth:`_steps`); the value is zeroed one stage after the step (timing)
            m.d.sync += [s0_val[k].eq(value), s1_val[k].eq(Mux(use, s0_val[k], 0))]
            for copy, en in zip(s2_val[k], val_enables):
                with m.If(Const(1) if en is None else en):
                    m.d.sync += copy.eq(s1_val[k])
        s2 = self._tag(m, s1, "s2")
        s3 = self._tag(m, s2, "s3")
        enables = copy_enables(s2[0], s1[0], s0[0])[:copies]
        mults = [[radix4_multiples(m, s2_val[k][c], pw, name=f"s3_a{k}_c{c}", enable=en)
                  for c, en in enumerate(enables)] for k in range(self.lanes)]
        # reset-less: ECP5's block RAM holds it as its output register (fpga.pack)
        s2_w = [Signal(len(reads[k]), name=f"s2_w{k}", reset_less=True)
                for k in range(self.lanes)]
        s3_w = [Signal(len(reads[k]), name=f"s3_w{k}", reset_less=True)
                for k in range(self.lanes)]
        m.d.sync += [r.eq(rd) for r, rd in zip(s2_w, reads)]
        m.d.sync += [r.eq(w) for r, w in zip(s3_w, s2_w)]
        s5 = self._tag(m, self._tag(m, s3, "s4"), "s5")
        digits = -(-WW // 2)
        size = 2 if digits <= 4 else 4
        products = []
        for k in range(self.lanes):
            row = []
            for f in range(F):
                copy = mults[k][f * len(enables) // F]
                terms = radix4_terms(m, copy, s3_w[k][f * WW:(f + 1) * WW], pw,
                                     name=f"pp{k}_{f}")
                groups = sum_stage(m, terms, pw, name=f"s4_p{k}_{f}", size=size)
                # at the lane sums' width: every adder after it has equal operands
                (p,) = sum_stage(m, groups, pw, name=f"s5_p{k}_{f}", out_width=qw, size=size)
                row.append(p)
            products.append(row)
        return s5, products

    def _lane_sum(self, m, tag, products):
        """Per filter, the lanes' products summed, one registered adder level per clock
        (none for L = 1; ``log2(L)`` clocks, part of :func:`golden.cnv.unit_latency`)."""
        _, qw, aw = self._widths()
        sums, stages = [], 0
        for f in range(self.filters):
            terms = [products[k][f] for k in range(self.lanes)]
            stages = 0
            while len(terms) > 1:
                stages += 1
                terms = sum_stage(m, terms, qw if stages == 1 else aw,
                                  name=f"t{stages}_sum{f}", out_width=aw)
            sums.append(terms[0])
        for stage in range(stages):
            tag = self._tag(m, tag, f"t{stage + 1}")
        return tag, sums

    def _accumulate(self, m, tag, sums, credits, reserve):
        """Per filter accumulator; a window's final step queues its ``F`` sums."""
        valid, final, err = tag
        _, _, aw = self._widths()
        # A window's final step puts its sums in registers of their own (`y<f>`), and the
        # queue is written from them the clock after (`done`): the queue's storage then
        # sees registers only, not the adders' carry chains, while the accumulators
        # restart from 0 as before (timing; one clock of latency).
        done, done_err = Signal(), Signal()
        m.d.sync += [done.eq(valid & final), done_err.eq(err)]
        words = []
        for f, s in enumerate(sums):
            acc = Signal(signed(aw), name=f"acc{f}")
            nxt = accumulate_next(m, acc, s, self.acc_width, self.overflow,
                                  name=f"acc_next{f}")
            word = Signal(signed(self.yf), name=f"y{f}", reset_less=True)
            with m.If(valid):
                m.d.sync += acc.eq(Mux(final, 0, nxt))
                with m.If(final):
                    m.d.sync += word.eq(nxt)
            words.append(word)
        out = self.out
        width = self.filters * self.yf
        queue = m.submodules.queue = CreditQueue(width + 1, credits.depth)
        # A register slice after the queue: the output's ready reaches only the slice's
        # registers, not the queue's level and the credits (on a unit this size they sit
        # far apart, and that path held the unit to 115 MHz on ECP5); one clock of latency.
        last = m.submodules.out_slice = RegisterSlice(width + 1)
        m.d.comb += [queue.w_en.eq(done), queue.w_data.eq(Cat(*words, done_err))]
        wiring.connect(m, queue.r, last.i)
        m.d.comb += [
            out.valid.eq(last.o.valid),
            out.payload.data.eq(last.o.payload[:width]),
            out.payload.last.eq(1),
            last.o.ready.eq(out.ready),
        ]
        # An entry's credit comes back the clock after it leaves the queue (the slice has
        # its own room): registered, so that the queue's read side and the steps' credit
        # check, far apart on the die, share no path (timing; the queue has one entry
        # more for the longer round trip).
        released = Signal()
        m.d.sync += released.eq(queue.r.valid & queue.r.ready)
        credits.update(m, reserve, released)
        shown = Signal()
        with m.If(out.valid & out.ready):
            m.d.sync += shown.eq(last.o.payload[width])
        m.d.comb += self.error.eq(Mux(out.valid, last.o.payload[width], shown))
