"""The AXI4-Stream rules, written once: :class:`StreamWatch` watches one stream interface.

On a *manager* port (an output of the block: ``m_axis_*``) the rules are obligations and
become ``Assert``; on a *subordinate* port (an input: ``s_axis_*``) they are what the
environment promises and become ``Assume``.  The rules:

* once ``tvalid`` is high it stays high, with ``tdata``/``tlast`` unchanged, until the
  transfer (``tvalid & tready``);
* during reset and in the cycle after it, a manager offers nothing (``tvalid`` low).

The watch also counts transfers and ``tlast`` transfers, so that block properties can say
"no beat invented or lost" without counting again, and covers a transfer, a stall
(valid held against a low ready) and a ``tlast`` transfer so no proof passes vacuously.

Reset model (see :mod:`formal.harness`): ``rst`` is high in the first cycle only.  The
"previous cycle" registers are reset-less, so the rule is not applied across reset.
"""

from amaranth.hdl import Assert, Assume, Cat, Cover, Elaboratable, Module, ResetSignal, Signal

__all__ = ["StreamWatch"]


class StreamWatch(Elaboratable):
    """Stream rules and transfer counters for one AXI4-Stream interface.

    Parameters
    ----------
    valid, ready : Value
        ``tvalid`` and ``tready``.
    payload : list of Value
        ``tdata`` and, if present, ``tlast`` (whatever must hold while valid waits).
    last : Value or None
        ``tlast``, for the ``last`` counter and cover.
    manager : bool
        True for an output of the block (rules asserted), False for an input (assumed).
    count_width : int
        Width of the transfer counters (they saturate, so a bounded run never wraps).
    name : str
        Used in property messages.

    Attributes (read by block properties)
    -------------------------------------
    transfer : Signal, comb
        ``valid & ready`` this cycle, outside reset.
    count, lasts : Signal
        Transfers and ``tlast`` transfers before this cycle.
    at_start : Signal
        The next transfer starts a frame (none yet, or the previous one had ``tlast``).
    """

    def __init__(self, *, valid, ready, payload, last=None, manager, count_width=8, name="",
                 cover_stall=True):
        self.cover_stall = cover_stall     # off where nothing ever stalls (liveness runs)
        self.valid, self.ready, self.payload, self.last = valid, ready, Cat(*payload), last
        self.manager, self.name = manager, name
        self.transfer = Signal(name=f"{name}_transfer")
        self.count = Signal(count_width, name=f"{name}_count")
        self.lasts = Signal(count_width, name=f"{name}_lasts")
        self.at_start = Signal(init=1, name=f"{name}_at_start")

    def rule(self, test, what):
        """An obligation on a manager, an assumption on a subordinate."""
        kind = Assert if self.manager else Assume
        return kind(test, f"{self.name}: {what}")

    def elaborate(self, platform):
        m = Module()
        rst = ResetSignal()
        m.d.comb += self.transfer.eq(self.valid & self.ready & ~rst)

        # -- The previous cycle, outside reset (reset-less: these see through reset).
        prev_rst = Signal(init=1, reset_less=True)
        prev_wait = Signal(reset_less=True)        # valid was high and not taken
        prev_payload = Signal.like(self.payload, reset_less=True)
        m.d.sync += [prev_rst.eq(rst), prev_wait.eq(self.valid & ~self.ready),
                     prev_payload.eq(self.payload)]

        # -- Hold: once offered, the beat stays offered and unchanged until the transfer.
        with m.If(~rst & ~prev_rst & prev_wait):
            m.d.comb += [
                self.rule(self.valid, "tvalid fell before the transfer"),
                self.rule(self.payload == prev_payload, "tdata/tlast changed while held"),
            ]
        # -- Idle in and just after reset (a manager only: the environment may do anything).
        if self.manager:
            with m.If(rst | prev_rst):
                m.d.comb += Assert(~self.valid, f"{self.name}: tvalid high after reset")

        # -- Transfer counters (saturating, so a long run can never wrap to agree again).
        top = (1 << len(self.count)) - 1
        with m.If(self.transfer & (self.count != top)):
            m.d.sync += self.count.eq(self.count + 1)
            if self.last is not None:
                with m.If(self.last):
                    m.d.sync += self.lasts.eq(self.lasts + 1)

        if self.last is not None:
            with m.If(self.transfer):
                m.d.sync += self.at_start.eq(self.last)

        # -- Reachability: a transfer, a held beat, and a tensor/frame end.
        m.d.comb += Cover(self.transfer, f"{self.name}: transfer")
        if self.cover_stall:
            m.d.comb += Cover(~rst & ~prev_rst & prev_wait & self.transfer,
                              f"{self.name}: held beat")
        if self.last is not None:
            m.d.comb += Cover(self.transfer & self.last, f"{self.name}: tlast transfer")
        return m
