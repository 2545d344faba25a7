"""AXI4-Stream export: flatten a component's stream interfaces into named AXI ports.

Inside the kit, blocks talk through :mod:`amaranth.lib.stream` interfaces whose payload is a
:class:`~amaranth.lib.data.StructLayout` with a ``data`` field and, optionally, a ``last``
field.  At an exported top the FPGA flow expects the AXI4-Stream naming
(``s_axis_tdata``/``tvalid``/``tready``/``tlast`` in, ``m_axis_...`` out).  The two
conventions carry the same handshake (a transfer happens when valid and ready are both
high), so the export is pure wiring: no register is added and no timing changes.

Members of the inner component that are not streams (``error``, ``length``, ...) pass
through under their own name.
"""

from amaranth.hdl import Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["stream_payload", "RegisterSlice", "AXIStreamExport"]


def stream_payload(data_width, *, last=True):
    """The payload layout every block uses for its streams: ``data`` (and ``last``).

    ``data_width`` must be a whole number of bytes, as AXI4-Stream requires of TDATA.
    """
    if not isinstance(data_width, int) or data_width <= 0 or data_width % 8:
        raise ValueError(f"Stream data width must be a positive multiple of 8, not {data_width!r}")
    fields = {"data": data_width}
    if last:
        fields["last"] = 1
    return data.StructLayout(fields)


def _payload_fields(name, member):
    """Field name -> width of a stream member's payload; rejects what AXI cannot carry."""
    layout = member.signature.members["payload"].shape
    if not isinstance(layout, data.StructLayout) or "data" not in layout.members:
        raise TypeError(f"Stream {name!r} must carry a StructLayout payload with a 'data' field, "
                        f"not {layout!r}")
    extra = set(layout.members) - {"data", "last"}
    if extra:
        raise TypeError(f"Stream {name!r} has payload fields {sorted(extra)} that have no "
                        f"AXI4-Stream counterpart; pack them into 'data'")
    width = Shape.cast(layout.members["data"]).width
    if width % 8:
        raise ValueError(f"Stream {name!r} data width must be a multiple of 8 bits for TDATA, "
                         f"not {width}")
    return {field: Shape.cast(shape).width for field, shape in layout.members.items()}


class RegisterSlice(wiring.Component):
    """A full-rate register slice (skid buffer) for a stream whose payload has ``shape``
    (a width or a layout): ``o`` and ``i.ready`` both come straight from registers, so
    neither the data nor the ready path runs through it.  Used to cut timing paths between
    blocks (the RLC loopback's FIFO, chains of blocks).

    Throughput one transfer per clock; latency 1 cycle; backpressure reaches ``i.ready``
    one cycle late, absorbed by the one-entry skid register.
    """

    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        skid = Signal.like(i.payload)   # a transfer taken while `o` stalled
        skid_valid = Signal()
        m.d.comb += i.ready.eq(~skid_valid)
        with m.If(~o.valid | o.ready):
            with m.If(skid_valid):
                m.d.sync += [o.payload.eq(skid), o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [o.payload.eq(i.payload), o.valid.eq(i.valid)]
        with m.Elif(i.valid & i.ready):
            m.d.sync += skid_valid.eq(1)
        # `skid` follows the input whenever it is empty, so that its load enable is a
        # register (`skid_valid`), not the downstream `ready` (timing).
        with m.If(~skid_valid):
            m.d.sync += skid.eq(i.payload)
        return m


class AXIStreamExport(wiring.Component):
    """Wrap ``inner`` so that its stream members appear as flat AXI4-Stream ports.

    Parameters
    ----------
    inner : :class:`wiring.Component`
        The block to export.
    streams : dict of str to str
        Stream member name -> AXI prefix, e.g. ``{"i": "s_axis", "o": "m_axis"}``.  An
        ``In`` stream becomes a subordinate (``*_tready`` is an output), an ``Out`` stream
        a manager.  Every stream member of ``inner`` must be named here.

    Latency is zero and backpressure is passed through unchanged.
    """

    def __init__(self, inner, streams):
        if not isinstance(inner, wiring.Component):
            raise TypeError(f"Exported block must be a wiring.Component, not {inner!r}")
        self._inner = inner
        self._streams = dict(streams)
        members = {}
        for name, member in inner.signature.members.items():
            if member.is_signature and isinstance(member.signature, stream.Signature):
                if name not in self._streams:
                    raise ValueError(f"Stream member {name!r} has no AXI prefix in {streams!r}")
                prefix = self._streams[name]
                fwd = In if member.flow == In else Out    # direction of tdata/tvalid/tlast
                bwd = Out if member.flow == In else In    # direction of tready
                fields = _payload_fields(name, member)
                members[f"{prefix}_tdata"] = fwd(fields["data"])
                members[f"{prefix}_tvalid"] = fwd(1)
                members[f"{prefix}_tready"] = bwd(1)
                if "last" in fields:
                    members[f"{prefix}_tlast"] = fwd(1)
            elif member.is_port:
                members[name] = member
            else:
                raise TypeError(f"Member {name!r} is an interface but not a stream; "
                                f"only streams and plain ports can be exported")
        unknown = set(self._streams) - set(inner.signature.members)
        if unknown:
            raise ValueError(f"No stream members named {sorted(unknown)} in {inner!r}")
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = inner = self._inner
        for name, member in inner.signature.members.items():
            port = getattr(inner, name)
            if name in self._streams:
                prefix = self._streams[name]
                axi = {suffix: getattr(self, f"{prefix}_{suffix}")
                       for suffix in ("tdata", "tvalid", "tready", "tlast")
                       if hasattr(self, f"{prefix}_{suffix}")}
                if member.flow == In:
                    m.d.comb += [
                        port.payload.data.eq(axi["tdata"]),
                        port.valid.eq(axi["tvalid"]),
                        axi["tready"].eq(port.ready),
                    ]
                    if "tlast" in axi:
                        m.d.comb += port.payload.last.eq(axi["tlast"])
                else:
                    m.d.comb += [
                        axi["tdata"].eq(port.payload.data),
                        axi["tvalid"].eq(port.valid),
                        port.ready.eq(axi["tready"]),
                    ]
                    if "tlast" in axi:
                        m.d.comb += axi["tlast"].eq(port.payload.last)
            elif member.flow == In:
                m.d.comb += port.eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(port)
        return m


class TwoEntryFIFO(wiring.Component):
    """A two-entry FIFO of flip-flops for a stream whose payload has ``shape``: full rate
    like :class:`RegisterSlice`, but the reader's ``ready`` reaches only the read pointer
    and the two flags (``o.valid``, full), never the data registers, whose load enables
    come from the write side alone.  So a consumer whose ``ready`` is late (a lock-step
    take over several streams) drives three flip-flops per stream, not a word of them.

    ``i.ready`` (not full) and ``o.valid`` are registers; ``o.payload`` is a multiplexer
    of the two entries on the read pointer.  Throughput one transfer per clock; latency 1
    cycle; backpressure reaches ``i.ready`` one cycle late, absorbed by the second entry.
    """

    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        entries = [Signal.like(i.payload, name=f"entry{e}") for e in range(2)]
        w_ptr, r_ptr, full = Signal(), Signal(), Signal()
        write = i.valid & ~full
        read = o.valid & o.ready
        m.d.comb += [i.ready.eq(~full),
                     o.payload.eq(Mux(r_ptr, entries[1].as_value(), entries[0].as_value()))]
        with m.If(write):
            m.d.sync += w_ptr.eq(~w_ptr)
            for e, entry in enumerate(entries):
                with m.If(w_ptr == e):
                    m.d.sync += entry.eq(i.payload)
        with m.If(read):
            m.d.sync += r_ptr.eq(~r_ptr)
        with m.If(write & ~read):
            m.d.sync += [o.valid.eq(1), full.eq(o.valid)]
        with m.Elif(read & ~write):
            m.d.sync += [o.valid.eq(full), full.eq(0)]
        return m
