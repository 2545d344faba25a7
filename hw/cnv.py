"""Cnvlutin zero-skip blocks (Albericio et al., ISCA 2016): :class:`CnvEncoder` writes the
ZFNAf lane stream of dense activations, :class:`CnvUnit` (in :mod:`hw.cnv_unit`) computes
``F`` dot products from ``L`` such streams, skipping the zeros, and :class:`CnvChain`
puts ``L`` encoders in front of a unit (the end-to-end top).

Bit-exact model, stream packing and cycle model: :mod:`golden.cnv` (lane word ``{END,
EMPTY, offset[6], value[VF]}``, ``VF = byte_width(value_width)``).

``cnv_encoder`` ports
---------------------
==============  ===  ==============================================================
member          dir  meaning
==============  ===  ==============================================================
``i``           in   one brick per transfer: activation ``j`` (signed, sign-extended
                     to ``VF`` bits) at bits ``[j·VF, (j+1)·VF)``, the brick length
                     (0 .. B; 0 = the null brick of a lane without bricks) at bits
                     ``[B·VF, B·VF+8)``; ``last`` on the lane's last brick of a window
``o``           out  lane words (:func:`golden.cnv.brick_beats`), ``last`` on the END
                     beat of the window's last brick
``threshold``   in   ``value_width`` bits, unsigned: ``|a| < threshold`` becomes 0
                     (sampled with each brick)
``dense``       in   1: emit every activation of the brick, zeros included (the dense
                     baseline the unit is compared with), sampled with each brick
``error``       out  a brick length above B (taken as B) was seen in this window: it
                     travels with the beats, high with every beat of that brick and of
                     the window's later bricks (so at the window's ``last``), and holds
                     the last emitted brick's value between bricks
==============  ===  ==============================================================

Throughput, latency, backpressure: a brick with ``n`` beats to emit (its non-zeros, or
one EMPTY beat; every activation in dense mode) occupies ``o`` for exactly ``max(1, n)``
clocks, one beat per clock, and the next brick is taken in the clock of the current
brick's END beat, so the stream has no bubble: ``i`` runs at one brick per ``max(1, n)``
clocks (at least one brick per B clocks).  The first beat leaves
:data:`golden.cnv.ENCODER_LATENCY` (3) clocks after its brick is taken: the brick, its
threshold mask and the emitting brick are three registered stages, each handing on in
the clock the next one empties (:func:`golden.cnv.encoder_cycles`).  ``o`` comes from
registers and holds while ``o.ready`` is low; the stages then fill and ``i.ready`` goes
low, so nothing is lost.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.cnv import OFFSET_FIELD, check_brick

from .axis import TwoEntryFIFO, stream_payload
from .datapath import CheckedFirst, byte_width, gt_const, int_param, lt_var

__all__ = ["CnvEncoder", "CnvChain", "chain_streams"]


class CnvEncoder(CheckedFirst, wiring.Component):
    """Dense bricks in, ZFNAf lane words out; see the module docstring.

    Parameters (keyword only)
    -------------------------
    brick : int, power of two in [2, 64] (default 16)
        Activations per brick (the offset field is 6 bits).
    value_width : int, 2..16 (default 8)
        Signed activation width.
    """

    @staticmethod
    def check_params(*, brick, value_width):
        """Raise ValueError naming the first bad parameter (before the object exists:
        :class:`hw.datapath.CheckedFirst`)."""
        try:
            check_brick(brick)
            int_param("value_width", value_width, 2, 16)
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None

    def __init__(self, *, brick=16, value_width=8):
        self.brick = check_brick(brick)
        self.value_width = int(value_width)
        self.vf = byte_width(value_width)
        super().__init__({
            "i": In(stream.Signature(stream_payload(self.brick * self.vf + 8))),
            "o": Out(stream.Signature(stream_payload(self.vf + 8))),
            "threshold": In(unsigned(value_width)),
            "dense": In(1),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        brick = self._brick_stage(m)
        masked = self._mask_stage(m, brick)
        self._emit_stage(m, masked)
        return m

    # Three registered stages, each handing on when the next is empty or hands on itself
    # (ready = ~valid | next ready), so one brick per stage per clock and no bubble.  The
    # ready chain is an OR of registers; the carry chains (|a|, the threshold compare) sit
    # between stages, never on the emission loop.

    def _brick_stage(self, m):
        """Stage 1: the brick as taken, with ``|a|`` and which activations it holds."""
        B, VW, VF = self.brick, self.value_width, self.vf
        i = self.i
        st = _Stage(m, "in", ready=Signal(name="in_ready"))
        st.a = [Signal(signed(VW), name=f"in_a{j}") for j in range(B)]
        st.mag = [Signal(VW + 1, name=f"in_mag{j}") for j in range(B)]
        st.inside = Signal(B, name="in_inside")
        st.threshold = Signal.like(self.threshold, name="in_threshold")
        st.dense = Signal(name="in_dense")
        win_err = Signal()          # this window's error so far (the error output's source)
        win_start = Signal(init=1)  # the next brick taken starts a window
        m.d.comb += i.ready.eq(~st.valid | st.ready)
        take = i.valid & i.ready
        length = i.payload.data[B * VF:]
        too_long = gt_const(length, B)
        err_now = (win_err & ~win_start) | too_long
        with m.If(take):
            m.d.sync += [win_start.eq(i.payload.last), win_err.eq(err_now)]
        # The stage's fields load whenever it may take, valid or not (they mean nothing
        # while it is empty): their enable is then `ready` alone, from this encoder's
        # registers, and the input's `valid` reaches two flip-flops, not 300 (timing)
        with m.If(i.ready):
            m.d.sync += [st.last.eq(i.payload.last), st.err.eq(err_now),
                         st.threshold.eq(self.threshold), st.dense.eq(self.dense)]
            for j in range(B):
                a = i.payload.data[j * VF:j * VF + VW].as_signed()
                m.d.sync += [st.a[j].eq(a), st.mag[j].eq(Mux(a[-1], -a, a)),
                             st.inside[j].eq(too_long | gt_const(length, j))]
        st.advance(take)
        return st

    def _mask_stage(self, m, prev):
        """Stage 2: threshold applied: the kept values and the mask of beats to emit."""
        B, VW = self.brick, self.value_width
        st = _Stage(m, "nb", ready=Signal(name="nb_ready"))
        st.vals = [Signal(signed(VW), name=f"nb_val{j}") for j in range(B)]
        st.mask = Signal(B, name="nb_mask")
        m.d.comb += prev.ready.eq(~st.valid | st.ready)
        take = prev.valid & prev.ready
        with m.If(take):
            m.d.sync += [st.last.eq(prev.last), st.err.eq(prev.err)]
            for j in range(B):
                keep = ~lt_var(prev.mag[j], prev.threshold)
                m.d.sync += [st.vals[j].eq(Mux(keep, prev.a[j], 0)),
                             st.mask[j].eq(prev.inside[j] &
                                           (prev.dense | (keep & prev.a[j].any())))]
        st.advance(take)
        return st

    def _emit_stage(self, m, prev):
        """Stage 3: one beat per clock, the lowest pending activation first.  Which one
        (``low``, one-hot) and ``end`` (at most one beat left) are registers, computed
        from the mask before it changes."""
        B, VW, VF = self.brick, self.value_width, self.vf
        o = self.o
        vals = [Signal(signed(VW), name=f"val{j}") for j in range(B)]
        mask = Signal(B)            # activations still to emit
        low = Signal(B)             # one-hot: the lowest of them, this beat's activation
        end = Signal()              # at most one of them: this beat is the brick's END
        cur_valid, cur_last, cur_err = Signal(), Signal(), Signal()
        rest = mask & ~low          # what is left after this beat
        empty = ~mask.any()
        # The beat from the one-hot register: AND-OR, no priority encoder on the way out
        val_out = Signal(signed(VF))
        off_out = Signal(OFFSET_FIELD)
        m.d.comb += [
            val_out.eq(_any_of(Mux(low[j], vals[j], 0) for j in range(B))),
            off_out.eq(Cat(_any(low[j] for j in range(B) if j >> b & 1)
                           for b in range((B - 1).bit_length()))),
        ]
        m.d.comb += [
            o.valid.eq(cur_valid),
            o.payload.data.eq(Cat(val_out, off_out, empty, end)),
            o.payload.last.eq(cur_last & end),
            prev.ready.eq(~cur_valid | (o.ready & end)),
            self.error.eq(cur_err),
        ]
        o_take = o.valid & o.ready
        load = prev.valid & prev.ready
        with m.If(load):
            m.d.sync += [cur_valid.eq(1), cur_last.eq(prev.last), cur_err.eq(prev.err),
                         mask.eq(prev.mask), low.eq(_lowest(prev.mask)),
                         end.eq(~_at_least(prev.mask, 2))]
            m.d.sync += [v.eq(n) for v, n in zip(vals, prev.vals)]
        with m.Elif(o_take):
            m.d.sync += [mask.eq(rest), low.eq(_lowest(rest)), end.eq(~_at_least(mask, 3))]
            with m.If(end):
                m.d.sync += cur_valid.eq(0)


class _Stage:
    """A pipeline register's ``valid`` (set when filled, cleared when it hands on and is
    not refilled), ``last`` and ``err``; ``ready``: the next stage takes it this clock."""

    def __init__(self, m, name, ready):
        self.m, self.ready = m, ready
        self.valid = Signal(name=f"{name}_valid")
        self.last = Signal(name=f"{name}_last")
        self.err = Signal(name=f"{name}_err")

    def advance(self, take):
        with self.m.If(take):
            self.m.d.sync += self.valid.eq(1)
        with self.m.Elif(self.ready):
            self.m.d.sync += self.valid.eq(0)


def _at_least(bits, n):
    """``popcount(bits) >= n`` for n in 1..3, as a tree of LUT logic (no adders)."""
    def node(lo, hi):
        if hi - lo == 1:
            return [bits[lo]] + [Const(0)] * (n - 1)
        mid = (lo + hi) // 2
        a, b = node(lo, mid), node(mid, hi)
        # ge[k]: at least k + 1 bits set
        return [a[k] | b[k] | _any(a[i] & b[k - 1 - i] for i in range(k)) for k in range(n)]
    return node(0, len(bits))[n - 1]


def _lowest(bits):
    """One-hot of the lowest set bit of ``bits`` (0 when none): bit j when no lower one."""
    return Cat(bits[j] & ~bits[:j].any() if j else bits[0] for j in range(len(bits)))


def _any_of(values):
    """OR of equal-width values (an AND-OR multiplexer with one-hot selects)."""
    values = list(values)
    while len(values) > 1:
        values = [values[i] | values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def _any(terms):
    terms = list(terms)
    return Cat(*terms).any() if terms else Const(0)


def chain_streams(lanes=4):
    """The AXI prefix of every stream member of a ``lanes``-lane chain."""
    return {**{f"lane{k}": f"s_axis_lane{k}" for k in range(lanes)},
            "w": "s_axis_w", "out": "m_axis"}


class CnvChain(CheckedFirst, wiring.Component):
    """The encoder -> unit chain of one Cnvlutin layer input: ``lanes`` :class:`CnvEncoder`
    feeding one :class:`~hw.cnv_unit.CnvUnit` (same keyword parameters as the unit).

    Ports: ``lane<k>`` (AXI ``s_axis_lane<k>_*``) takes lane ``k``'s dense bricks in the
    encoder's format (:func:`golden.cnv.encoder_words`); ``w``, ``out`` and ``error`` are
    the unit's; ``threshold`` and ``dense`` go to every encoder; ``enc_error`` is the OR
    of the encoders' ``error``.  Latency is the encoder's, one FIFO's and the unit's
    (:func:`golden.cnv.chain_latency`); throughput and backpressure are the unit's, since
    each encoder emits one word per clock."""

    @staticmethod
    def check_params(**params):
        """The unit's checks (the encoders' parameters are a subset of its own), before
        the object exists (:class:`hw.datapath.CheckedFirst`)."""
        from .cnv_unit import CnvUnit
        CnvUnit.check_params(**params)

    def __init__(self, *, lanes=4, filters=16, brick=16, value_width=8, weight_width=8,
                 acc_width=32, overflow="wrap", max_k=256):
        from .cnv_unit import CnvUnit
        self._unit = CnvUnit(lanes=lanes, filters=filters, brick=brick,
                             value_width=value_width, weight_width=weight_width,
                             acc_width=acc_width, overflow=overflow, max_k=max_k)
        self._encoders = [CnvEncoder(brick=brick, value_width=value_width)
                          for _ in range(lanes)]
        self.lanes = lanes
        unit = self._unit
        members = {f"lane{k}": In(stream.Signature(stream_payload(unit.brick * unit.vf + 8)))
                   for k in range(lanes)}
        members.update({
            "w": In(stream.Signature(stream_payload(filters * unit.wf))),
            "out": Out(stream.Signature(stream_payload(filters * unit.yf))),
            "threshold": In(unsigned(value_width)),
            "dense": In(1),
            "error": Out(1),
            "enc_error": Out(1),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self._unit
        errors = []
        for k, enc in enumerate(self._encoders):
            m.submodules[f"encoder{k}"] = enc
            wiring.connect(m, wiring.flipped(getattr(self, f"lane{k}")), enc.i)
            # A two-entry FIFO between encoder and unit: the unit's lock-step take (every
            # lane's valid) reaches its read pointer and flags, not its data, and the
            # encoder's emission logic and ready end at registers (timing)
            m.submodules[f"fifo{k}"] = fifo = TwoEntryFIFO(enc.o.payload.shape())
            wiring.connect(m, enc.o, fifo.i)
            wiring.connect(m, fifo.o, getattr(unit, f"lane{k}"))
            m.d.comb += [enc.threshold.eq(self.threshold), enc.dense.eq(self.dense)]
            errors.append(enc.error)
        wiring.connect(m, wiring.flipped(self.w), unit.w)
        wiring.connect(m, unit.out, wiring.flipped(self.out))
        m.d.comb += [self.error.eq(unit.error), self.enc_error.eq(Cat(errors).any())]
        return m
