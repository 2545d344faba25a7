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
``error``       out  a brick length above B (taken as B) was seen in this window: high
                     from the cycle after that brick's transfer until the next window's
                     first brick is taken
==============  ===  ==============================================================

Throughput, latency, backpressure: a brick with ``n`` beats to emit (its non-zeros, or
one EMPTY beat; every activation in dense mode) occupies ``o`` for exactly ``max(1, n)``
clocks, one beat per clock, and the next brick is taken in the clock of the current
brick's END beat, so the stream has no bubble: ``i`` runs at one brick per ``max(1, n)``
clocks (at least one brick per B clocks).  The first beat leaves one clock after its
brick is taken (:func:`golden.cnv.encoder_cycles`).  ``o`` comes from registers and holds
while ``o.ready`` is low; ``i.ready`` is then low too, so nothing is lost.
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.cnv import OFFSET_FIELD, check_brick

from .axis import stream_payload
from .datapath import byte_width, gt_const, int_param, lt_var

__all__ = ["CnvEncoder", "CnvChain", "chain_streams"]


class CnvEncoder(wiring.Component):
    """Dense bricks in, ZFNAf lane words out; see the module docstring.

    Parameters (keyword only)
    -------------------------
    brick : int, power of two in [2, 64] (default 16)
        Activations per brick (the offset field is 6 bits).
    value_width : int, 2..16 (default 8)
        Signed activation width.
    """

    def __init__(self, *, brick=16, value_width=8):
        try:
            self.brick = check_brick(brick)
            self.value_width = int_param("value_width", value_width, 2, 16)
        except (TypeError, ValueError) as exc:
            self._MustUse__silence = True
            raise ValueError(str(exc)) from None
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
        B, VW, VF = self.brick, self.value_width, self.vf
        i, o = self.i, self.o

        # ------------------------------------------------ the brick being emitted
        vals = [Signal(signed(VW), name=f"val{j}") for j in range(B)]
        mask = Signal(B)            # activations still to emit
        cur_valid = Signal()        # a brick is loaded (its beats not all taken)
        cur_last = Signal()         # ... and it is the window's last brick
        err = Signal()
        win_start = Signal(init=1)  # the next brick taken starts a window

        # Lowest pending activation: later assignments win, so walk from the top down.
        sel = Signal(range(B))
        for j in reversed(range(B)):
            with m.If(mask[j]):
                m.d.comb += sel.eq(j)
        rest = Signal(B)            # what is left after this beat: the lowest bit cleared
        m.d.comb += rest.eq(mask & (mask - 1)[:B])
        empty = ~mask.any()
        end = ~rest.any()
        val_out = Signal(signed(VF))
        off_out = Signal(OFFSET_FIELD)
        m.d.comb += [val_out.eq(Mux(empty, 0, Array(vals)[sel])),
                     off_out.eq(Mux(empty, 0, sel))]
        o_take = o.valid & o.ready
        m.d.comb += [
            o.valid.eq(cur_valid),
            o.payload.data.eq(Cat(val_out, off_out, empty, end)),
            o.payload.last.eq(cur_last & end),
            i.ready.eq(~cur_valid | (o.ready & end)),
        ]
        with m.If(o_take):
            m.d.sync += mask.eq(rest)
            with m.If(end):
                m.d.sync += cur_valid.eq(0)

        # ------------------------------------------------ taking a brick
        take = i.valid & i.ready
        length = i.payload.data[B * VF:]
        too_long = Signal()
        m.d.comb += too_long.eq(gt_const(length, B))
        with m.If(take):
            m.d.sync += [cur_valid.eq(1), cur_last.eq(i.payload.last),
                         win_start.eq(i.payload.last)]
            m.d.sync += err.eq((err & ~win_start) | too_long)
            for j in range(B):
                a = i.payload.data[j * VF:j * VF + VW].as_signed()
                mag = Signal(VW + 1, name=f"mag{j}")
                m.d.comb += mag.eq(Mux(a[-1], -a, a))
                keep = ~lt_var(mag, self.threshold)
                inside = too_long | gt_const(length, j)
                m.d.sync += [vals[j].eq(Mux(keep, a, 0)),
                             mask[j].eq(inside & (self.dense | (keep & a.any())))]
        m.d.comb += self.error.eq(err)
        return m


def chain_streams(lanes=4):
    """The AXI prefix of every stream member of a ``lanes``-lane chain."""
    return {**{f"lane{k}": f"s_axis_lane{k}" for k in range(lanes)},
            "w": "s_axis_w", "out": "m_axis"}


class CnvChain(wiring.Component):
    """The encoder -> unit chain of one Cnvlutin layer input: ``lanes`` :class:`CnvEncoder`
    feeding one :class:`~hw.cnv_unit.CnvUnit` (same keyword parameters as the unit).

    Ports: ``lane<k>`` (AXI ``s_axis_lane<k>_*``) takes lane ``k``'s dense bricks in the
    encoder's format (:func:`golden.cnv.encoder_words`); ``w``, ``out`` and ``error`` are
    the unit's; ``threshold`` and ``dense`` go to every encoder; ``enc_error`` is the OR
    of the encoders' ``error``.  Latency is the unit's plus one clock (the encoder's
    output register); throughput and backpressure are the unit's, since each encoder
    emits one word per clock."""

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
            wiring.connect(m, enc.o, getattr(unit, f"lane{k}"))
            m.d.comb += [enc.threshold.eq(self.threshold), enc.dense.eq(self.dense)]
            errors.append(enc.error)
        wiring.connect(m, wiring.flipped(self.w), unit.w)
        wiring.connect(m, unit.out, wiring.flipped(self.out))
        m.d.comb += [self.error.eq(unit.error), self.enc_error.eq(Cat(errors).any())]
        return m
