"""The Cnvlutin unit's weight banks and weight load (:class:`hw.cnv_unit.CnvUnit`).

Lane ``k``'s bank holds the weights of its own bricks; :func:`weight_bank` builds it from
block RAMs, :func:`weight_load` writes the ``w`` stream into the banks between windows
and gives each lane its read address.
"""

from typing import NamedTuple

from amaranth.hdl import Cat, Const, Mux, Signal
from amaranth.lib.memory import Memory

from .datapath import fits_signed, incr, lt_var

__all__ = ["RAM_PORT_BITS", "weight_bank", "weight_load"]

RAM_PORT_BITS = 18   # widest single block RAM port (ECP5 DP16KD, Xilinx RAMB18): see weight_bank


class _Bank(NamedTuple):
    addr: Signal       # the entry written or read (one address: see weight_load)
    wdata: Signal      # the word written when ``we``
    we: Signal
    chunks: list       # read data, one clock after ``addr``, of each memory, low first

    @property
    def data(self):
        return Cat(*self.chunks)



def weight_bank(m, unit, k):
    """Lane ``k``'s weight bank: one word of ``F`` weights per entry, one address for
    its write and its read (see :func:`weight_load`), read data one clock later.  Built
    from memories at most :data:`RAM_PORT_BITS` wide, so that each maps to one block
    RAM port that reads and writes (no second port, no collision logic between the
    RAM and its output register)."""
    per = max(1, RAM_PORT_BITS // unit.weight_width)        # filters per memory
    bank = _Bank(Signal(range(unit.depth), name=f"bank_addr{k}"),
                 Signal(unit.filters * unit.weight_width, name=f"bank_wdata{k}"),
                 Signal(name=f"bank_we{k}"), [])
    # Address, write data and enable are registered before the memories: the address
    # reaches every block RAM of the bank from one flip-flop, not from the weight-load
    # and lane logic (2.4-2.8 ns of routing to RAMs spread over the die, on top of
    # that logic, held the unit to 118 MHz on ECP5).  Writes and reads both pass this
    # register, so they stay in the clocks they were issued in, one apart.
    addr = Signal.like(bank.addr, name=f"bank_addr_r{k}", reset_less=True)
    wdata = Signal.like(bank.wdata, name=f"bank_wdata_r{k}", reset_less=True)
    we = Signal(name=f"bank_we_r{k}")
    m.d.sync += [addr.eq(bank.addr), wdata.eq(bank.wdata), we.eq(bank.we)]
    for c, f0 in enumerate(range(0, unit.filters, per)):
        width = (min(unit.filters, f0 + per) - f0) * unit.weight_width
        # block RAM even when shallow: LUT RAM's asynchronous read would put the
        # address logic and the read on one path (85 MHz against 150 on ECP5)
        mem = m.submodules[f"bank{k}_{c}"] = Memory(shape=width, depth=unit.depth,
                                                    init=[], attrs={"ram_style": "block"})
        wr, rd = mem.write_port(), mem.read_port()
        lo = f0 * unit.weight_width
        m.d.comb += [wr.addr.eq(addr), rd.addr.eq(addr), wr.en.eq(we),
                     wr.data.eq(wdata[lo:lo + width])]
        bank.chunks.append(rd.data)
    return bank

def weight_load(m, unit, banks, in_window):
    """Weight beat ``i`` goes to bank ``(i // B) % L`` at ``((i // B) // L)·B + i % B``
    (bit fields of ``i``: B and L are powers of two); ``K`` is set at ``last``.
    Accepted only outside a window.

    Each bank is a single-port memory: its write and its lane's read share one
    address (returned: the lane's read address, ``rd_addr[k]``, to be driven), since a
    write (a weight beat, outside a window) and a read that counts (a step) never fall
    in the same clock.  A block RAM port then reads before it writes by itself; a read
    port apart from the write port would make synthesis add collision logic between the
    memory and its output register, which then could not move into the block RAM."""
    lb, ll = unit.brick.bit_length() - 1, unit.lanes.bit_length() - 1
    WW, WF = unit.weight_width, unit.wf
    w = unit.w
    k_len = Signal(range(unit.max_k + 1))
    loading = Signal()
    count = Signal(range(unit.max_k + 1))
    w_bad = Signal()
    m.d.comb += w.ready.eq(loading | ~in_window)
    take = w.valid & w.ready
    index = Signal.like(count)
    m.d.comb += index.eq(Mux(loading, count, 0))
    room = lt_var(index, Const(unit.max_k, len(count)))
    fields = [w.payload.data[f * WF:(f + 1) * WF] for f in range(unit.filters)]
    fits = Cat(fits_signed(x, WW) for x in fields).all()
    addr_bits = (unit.depth - 1).bit_length()
    addr = Cat(index[:lb], index[lb + ll:])
    bank = index[lb:lb + ll] if ll else Const(0, 1)
    # A beat is written one clock after it is taken, as a step's lanes read one clock
    # after the step is decided (CnvUnit._steps): a load's first beat may be taken in the
    # clock after a window's final step, whose read has the bank's address then.  A beat
    # and a step are never taken in the same clock, so their accesses never share one.
    w_write = Signal(name="w_write")
    w_addr = Signal(addr_bits, name="w_addr")
    w_data = Signal(unit.filters * WW, name="w_data", reset_less=True)
    w_bank = Signal(unit.lanes, name="w_bank")
    m.d.sync += [w_write.eq(take & room), w_addr.eq(addr[:addr_bits]),
                 w_data.eq(Mux(fits, Cat(x[:WW] for x in fields), 0)),
                 w_bank.eq(Cat(bank == k for k in range(unit.lanes)))]
    rd_addr = []
    for k, b in enumerate(banks):
        lane_addr = Signal(range(unit.depth), name=f"rd_addr{k}")
        rd_addr.append(lane_addr)
        m.d.comb += [b.addr.eq(Mux(w_write, w_addr, lane_addr)),
                     b.wdata.eq(w_data),
                     b.we.eq(w_write & w_bank[k])]
    with m.If(take):
        m.d.sync += [
            count.eq(incr(index, room)),
            loading.eq(~w.payload.last),
            w_bad.eq((loading & w_bad) | ~fits | ~room),
        ]
        with m.If(w.payload.last):
            m.d.sync += k_len.eq(incr(index, room))
    return k_len, w_bad, in_window, loading | w.valid, rd_addr

# ------------------------------------------------------------ lanes and steps
