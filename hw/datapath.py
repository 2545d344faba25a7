"""Datapath parts shared by the multiply-accumulate blocks (CSR SpMV, Cnvlutin, N:M MAC).

Multipliers without DSPs
    :func:`radix4_multiples` and :func:`radix4_terms` (one term per 2 bits, from
    registered ``a, 3a, -a``), summed by :func:`sum_stage` (registered, one adder level
    per clock) for a pipelined product.

Parameter checks
    :func:`int_param`, :func:`choice_param`, :data:`OVERFLOW_MODES`; :func:`byte_width`
    (from :mod:`golden.bits`, its one home); :class:`CheckedFirst`, which runs a
    component's checks before the component exists.

Width-safe operators
    Yosys narrows every operand to its significant bits when it writes Verilog, and
    Verilator ``-Wall`` then flags comparisons (and signed sums) whose operands differ in
    width.  So comparisons are split at the narrower operand's width, and sums are built
    from operands of one width, which keeps the generated Verilog lint clean without
    waivers: :func:`gt_const`, :func:`lt_var`, :func:`incr`, :func:`fits_signed`,
    :func:`tree_sum`.

Accumulation
    :func:`accumulate_next`: one step of a wrap-around or saturating accumulator, the
    hardware twin of :func:`golden.accumulate.step` (clamping after *every* step).

Output queues
    :class:`Credits`: the unreserved entries of a block's output queue, so that a step
    issues only when its result has a place and a stalled output never drops one;
    :class:`CreditQueue`, the queue, no full check needed; :func:`credit_depth`, its size.
"""

import inspect
from typing import NamedTuple

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.accumulate import OVERFLOW_MODES, check_overflow
from golden.bits import byte_width

__all__ = ["OVERFLOW_MODES", "MULTIPLIERS", "int_param", "choice_param", "byte_width", "gt_const", "lt_var",
           "incr", "fits_signed", "tree_sum", "sum_stage", "Radix4Multiples",
           "radix4_multiples", "copy_enables", "radix4_terms", "accumulate_next",
           "CheckedFirst", "Credits", "CreditQueue", "credit_depth"]


# ------------------------------------------------------------------ parameter checks

MULTIPLIERS = ("lut", "dsp")   # a multiplier from LUTs and carry chains, or a DSP block

def int_param(name, value, lo, hi=None):
    """``value`` if it is an integer in ``[lo, hi]`` (``hi`` None: no upper bound), else a
    ValueError naming the parameter: "lanes must be an integer in [1, 16], not 0"."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (
            hi is not None and value > hi):
        bound = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be an integer {bound}, not {value!r}")
    return value


def choice_param(name, value, choices):
    """``value`` if it is one of ``choices`` (compared without bool/int confusion)."""
    if isinstance(value, bool) or value not in choices:
        names = [repr(c) for c in choices]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        raise ValueError(f"{name} must be {listed}, not {value!r}")
    return value


class CheckedFirst:
    """Mixin (first among the bases) for a component whose keyword parameters are checked
    before the object exists.

    Amaranth warns about an ``Elaboratable`` that is created and never elaborated, so a
    constructor that raises ValueError after the object exists adds a misleading "created
    but never used" warning to the error.  With this mixin, ``__new__`` binds the call to
    ``__init__``'s signature (defaults filled in) and calls the class's
    ``check_params(**params)`` (a staticmethod raising ValueError) before
    ``Elaboratable.__new__`` runs: a rejected component is never created.  ``__init__``
    keeps the parameters and their defaults, so ``hw/blocks.py`` still reads them there.
    """

    def __new__(cls, *args, **kwargs):
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
        bound.apply_defaults()
        cls.check_params(**dict(list(bound.arguments.items())[1:]))
        # src_loc_at=1: Amaranth's "never used" warning names the caller, not this line
        return super().__new__(cls, *args, src_loc_at=1, **kwargs)


# ------------------------------------------------------------ width-safe operators

def gt_const(value, k):
    """``value > k`` for a non-negative integer ``k``, with equal-width operands."""
    if k == 0:
        return value.any()
    width = k.bit_length()
    if len(value) < width:
        return Const(0)
    above = value[width:].any() if len(value) > width else Const(0)
    if k == (1 << width) - 1:
        return above
    return above | (value[:width] > Const(k, width))


def lt_var(a, b):
    """``a < b`` for unsigned values of any widths, with equal-width operands."""
    width = min(len(a), len(b))
    a_high = a[width:].any() if len(a) > width else Const(0)
    b_high = b[width:].any() if len(b) > width else Const(0)
    return ~a_high & (b_high | (a[:width] < b[:width]))


def incr(value, step):
    """``value + step`` (step a 1-bit value) at ``value``'s width; callers rule out
    overflow."""
    return (value + step)[:len(value)]


def fits_signed(field, width):
    """True when ``field`` is the sign extension of its low ``width`` bits."""
    if len(field) == width:
        return Const(1)
    top = field[width - 1:]
    return (top == 0) | (top == (1 << len(top)) - 1)


def tree_sum(values):
    """Balanced adder tree over a power-of-two count of equal-width signed values
    (combinational; register the result where timing needs it)."""
    if not values or len(values) & (len(values) - 1):
        raise ValueError(f"tree_sum needs a power-of-two number of terms, not {len(values)}")
    while len(values) > 1:
        values = [values[i] + values[i + 1] for i in range(0, len(values), 2)]
    return values[0]


def sum_stage(m: Module, terms, width, *, name, out_width=None, size=2):
    """Registered sums of consecutive groups of up to ``size`` (a power of two) of the
    ``width``-bit signed ``terms`` (one adder level per clock for 2), each
    ``out_width`` bits (default ``width``); a group's missing terms are zeros."""
    out = []
    for g in range(0, len(terms), size):
        group = list(terms[g:g + size])
        while len(group) & (len(group) - 1):
            group.append(Const(0, signed(width)))
        r = Signal(signed(out_width or width), name=f"{name}_{g // size}", reset_less=True)
        m.d.sync += r.eq(tree_sum(group))
        out.append(r)
    return out


class Radix4Multiples(NamedTuple):
    """``a``, ``3a`` and ``-a`` at one width, registered: the multiples that
    :func:`radix4_terms` selects from (``2a`` and ``-2a`` are their shifts)."""
    one: Signal
    three: Signal
    neg: Signal


def radix4_multiples(m: Module, a, width, *, name="mul", enable=None):
    """Register ``a``'s multiples (:class:`Radix4Multiples`) at ``width >= len(a)`` bits:
    one adder and one negation, shared by every product with ``a``.  ``a`` is a register
    whose values fit two bits fewer than its width (so ``3a`` fits it and the adder's
    operands are ``a`` and ``2a`` at one width).  With ``enable``, the registers load
    only when it is high (see :func:`copy_enables`)."""
    if width < len(a):
        raise ValueError(f"radix4_multiples needs width >= {len(a)}, not {width}")
    sa = a.as_signed()
    out = Radix4Multiples(*(Signal(signed(width), name=f"{name}_{n}", reset_less=True)
                            for n in Radix4Multiples._fields))
    with m.If(1 if enable is None else enable):
        m.d.sync += [out.one.eq(sa), out.three.eq(sa + (sa << 1)[:len(sa)].as_signed()),
                     out.neg.eq(-sa)]
    return out


def copy_enables(valid, *others):
    """Load enables for up to ``1 + len(others)`` copies of a pipeline register whose
    contents matter only while its stage is ``valid`` (the loading stage's valid):
    ``None`` (always), ``valid``, then ``valid | other`` for each of ``others`` (any
    signals).  Each copy holds the same value whenever it is used, but no two are loaded
    alike, so synthesis keeps them apart: Yosys merges identical registers and has no
    fan-out limit, and a register that feeds many multiplexers across a large block is a
    long route (the copies each feed a part of the loads, placed near them)."""
    return [None, valid, *(valid | other for other in others)]


def radix4_terms(m: Module, mult, b, width, *, name="pp"):
    """The partial products of ``a·b`` (``b`` signed), one per 2 bits of ``b``, each a
    ``width``-bit signal, ``width >= len(a) + len(b)``: digit ``j`` of ``b`` (bits ``2j,
    2j+1``, unsigned, the top one signed) selects 0, a, 2a or 3a (the top one 0, a, -2a or
    -a) from ``mult`` (:func:`radix4_multiples`), shifted by ``2j``.  Their sum is ``a·b``
    from multiplexers and adders, so synthesis uses no DSP (for a block with more
    multipliers than the device has DSPs); any sub-sum fits ``width`` bits.  The
    multiples are registers, so no term's top bits are copies of one bit (Yosys would
    narrow it, and the adders summing the terms would have unequal operands)."""
    sb = b.as_signed()
    if len(sb) % 2:
        sb = Cat(sb, sb[-1]).as_signed()              # an even width: sign-extended
    n = len(sb) // 2
    two, neg_two = (mult.one << 1)[:width], (mult.neg << 1)[:width]
    terms = []
    for j in range(n):
        d0, d1 = sb[2 * j], sb[2 * j + 1]
        if j < n - 1:
            pick = Mux(d1, Mux(d0, mult.three, two), Mux(d0, mult.one, 0))
        else:
            pick = Mux(d1, Mux(d0, mult.neg, neg_two), Mux(d0, mult.one, 0))
        term = Signal(signed(width), name=f"{name}_{j}")
        m.d.comb += term.eq((pick << (2 * j))[:width])
        terms.append(term)
    return terms


# ------------------------------------------------------------------- accumulation

def accumulate_next(m: Module, acc, addend, acc_width, overflow, *, name="acc_next"):
    """The accumulator's next value, ``acc + addend`` wrapped or clamped to ``acc_width``
    signed bits (combinational), as a new ``signed(acc_width)`` signal.

    ``acc`` and ``addend`` must have one width (at least ``acc_width``), so that the adder
    has equal-width operands; ``acc`` holds an ``acc_width`` value sign-extended.  In
    saturate mode the sum is out of range exactly when its bits from ``acc_width - 1`` up
    disagree, and then the nearest bound is taken: this is the clamp after every step of
    :func:`golden.accumulate.step`.
    """
    check_overflow(overflow)
    if len(acc) != len(addend) or len(acc) < acc_width:
        raise ValueError(f"accumulate_next needs equal operand widths >= acc_width "
                         f"({acc_width}), not {len(acc)} and {len(addend)}")
    total = Signal(signed(len(acc) + 1), name=f"{name}_total")
    result = Signal(signed(acc_width), name=name)
    m.d.comb += total.eq(acc + addend)
    if overflow == "wrap":
        m.d.comb += result.eq(total[:acc_width])
    else:
        with m.If(fits_signed(total, acc_width)):
            m.d.comb += result.eq(total[:acc_width])
        with m.Elif(total[-1]):
            m.d.comb += result.eq(-(1 << (acc_width - 1)))
        with m.Else():
            m.d.comb += result.eq((1 << (acc_width - 1)) - 1)
    return result


# ------------------------------------------------------------------- output queues

class Credits:
    """Unreserved entries of an output queue of ``depth`` entries.  A step that will
    write the queue needs one (``ok``) and reserves it as it issues (``reserve``); an
    output transfer frees one (``release``).  So the queue never overflows, whatever the
    output stalls, and no result is dropped.  For no bubble when nothing stalls, ``depth``
    must cover the round trip from a reservation to the release of its entry (the
    pipeline latency plus the queue's own cycle)."""

    def __init__(self, depth):
        int_param("depth", depth, 1)
        self.depth = depth
        self.credits = Signal(range(depth + 1), init=depth)
        # ``credits != 0`` as a register of its own, updated with ``credits``: ``ok``
        # decides the input ``ready``s, so it starts their paths at a flip-flop
        self.ok = Signal(init=1, name="credit_ok")

    @property
    def all_free(self):
        return self.credits == Const(self.depth, len(self.credits))

    def update(self, m, reserve, release):
        with m.If(reserve & ~release):
            m.d.sync += [self.credits.eq(self.credits - Const(1, len(self.credits))),
                         self.ok.eq(gt_const(self.credits, 1))]
        with m.Elif(release & ~reserve):
            m.d.sync += [self.credits.eq(incr(self.credits, 1)), self.ok.eq(1)]


class CreditQueue(wiring.Component):
    """The output queue of a block that reserves its entries with :class:`Credits`: a
    FIFO of ``depth`` entries of ``width`` bits, written by ``w_en``/``w_data`` and read
    as the stream ``r``.

    A write is never refused: the credits guarantee a free entry, so unlike
    :class:`amaranth.lib.fifo.SyncFIFO` the write enable of the storage (LUT RAM, read
    asynchronously) is ``w_en`` itself, not gated by a full check.  On a wide queue that
    enable reaches every RAM cell, and with the check it came from the level counter,
    whose other end is at the read side: a long path on a large block (timing).  A write
    to a full queue (a broken credit count) overwrites the oldest entry.

    Throughput one write and one read per clock; latency 1 (an entry written in one cycle
    is offered the next); ``r`` holds valid and payload until taken.
    """

    def __init__(self, width, depth):
        int_param("width", width, 1)
        int_param("depth", depth, 2)
        self.width, self.depth = width, depth
        super().__init__({"w_en": In(1), "w_data": In(width),
                          "r": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = storage = Memory(shape=self.width, depth=self.depth, init=[])
        write, read = storage.write_port(), storage.read_port(domain="comb")
        w_addr, r_addr = Signal(range(self.depth)), Signal(range(self.depth))
        count = Signal(range(self.depth + 1))
        take = self.r.valid & self.r.ready
        m.d.comb += [
            write.addr.eq(w_addr), write.data.eq(self.w_data), write.en.eq(self.w_en),
            read.addr.eq(r_addr), self.r.payload.eq(read.data),
            self.r.valid.eq(count != 0),
        ]
        last = Const(self.depth - 1, len(w_addr))
        with m.If(self.w_en):
            m.d.sync += w_addr.eq(Mux(w_addr == last, 0, incr(w_addr, 1)))
        with m.If(take):
            m.d.sync += r_addr.eq(Mux(r_addr == last, 0, incr(r_addr, 1)))
        with m.If(self.w_en & ~take):
            m.d.sync += count.eq(incr(count, 1))
        with m.Elif(take & ~self.w_en):
            m.d.sync += count.eq(count - Const(1, len(count)))
        return m


def credit_depth(latency):
    """Entries of an output queue reserved with :class:`Credits` behind a pipeline of
    ``latency`` clocks: 8 at least, and the credit round trip if more (``latency + 2``:
    a step's reservation to its entry's release), so that nothing waits for a credit
    while the output does not stall."""
    int_param("latency", latency, 0)
    return max(8, latency + 2)
