"""The stages of :class:`hw.csr_spmv.CSRSpMV`, one builder each, in pipeline order.

* :func:`x_memory`: the ``x`` stream into an on-chip memory (one read port per lane),
  ``ncols`` and the bad-x flag;
* (the issue stage, :class:`hw.csr_sequencer.Sequencer`: one *step* per clock from the
  row lengths and ``nz`` beats, with its row end, final row and error);
* :func:`multiply`: stage 1 (the value registered while x is read), stage 2 (x
  registered out of the memory), then the registered product (a DSP, or radix-4 partial
  products in LUTs summed one adder level per clock), one multiplier per lane;
* :func:`adder_tree`: ``lanes > 1``, a balanced adder tree registered at every level;
* :func:`accumulate_rows`: the row accumulator (wrap or saturate per step), the ``y``
  queue (:class:`hw.datapath.CreditQueue`) and its credits, and ``error``.

All stages are built into the block's one :class:`~amaranth.hdl.Module` (as
``amaranth/lib/fifo.py`` builds its pointers), so the generated Verilog is one flat module
plus the memory and the queue.  Each stage reads the signals of the stages before it; the
two that flow backwards (the sequencer's "inside a matrix" state gates x loading, the
queue's credits gate issue) are declared before the stages that read them.  A step's
control travels down the pipeline as a :class:`Tag`, registered once per stage.
"""

from typing import NamedTuple

from amaranth.hdl import Cat, Mux, Signal, signed
from amaranth.lib.memory import Memory

from .datapath import (CreditQueue, accumulate_next, fits_signed, gt_const, incr,
                       radix4_multiples, radix4_terms, sum_stage)

__all__ = ["XMemory", "XPort", "x_memory", "Tag", "register_tag", "multiply", "product_stages",
           "tree_stages", "adder_tree", "accumulate_rows"]


# ---------------------------------------------------------------------------- x memory

class XMemory(NamedTuple):
    ncols: Signal      # elements of the stored x (0 until the first x)
    loading: Signal    # inside an x vector (first element taken, last not yet)
    bad: Signal        # the stored x had a bad element or was too long
    read: list         # one :class:`XPort` per lane


class XPort(NamedTuple):
    addr: Signal       # the lane's read address (driven by the sequencer)
    data: object       # x at that address, one clock later


def x_memory(m, p, x_in, between_matrices):
    """Store the ``x`` stream; it is accepted only ``between_matrices`` (or mid-vector).

    Reads happen in the cycle a step is issued, and steps only exist inside a matrix, so
    x may be written in any cycle outside one.  An element wider than ``x_width`` is stored
    as 0, elements beyond ``max_cols`` are dropped; both set ``bad``.

    Each lane has its own copy of x, a single-port memory: the write and the lane's read
    share one address, since they never fall in the same clock.  A block RAM port then
    reads before it writes by itself, where a read port apart from the write port would
    make synthesis add collision logic between the memory and the x register (the memory's
    clock-to-data already fills most of a clock).
    """
    # depth >= 2: a 1-word memory would have a zero-width address in Verilog
    depth = max(p.max_cols, 2)
    ncols = Signal(range(p.max_cols + 1))
    x_loading = Signal()
    x_count = Signal(range(p.max_cols + 1))
    x_bad = Signal()

    m.d.comb += x_in.ready.eq(x_loading | between_matrices)
    x_take = x_in.valid & x_in.ready
    x_index = Signal.like(x_count)
    m.d.comb += x_index.eq(Mux(x_loading, x_count, 0))
    x_room = ~gt_const(x_index, p.max_cols - 1)
    x_fits = fits_signed(x_in.payload.data, p.x_width)
    x_next = incr(x_index, x_room)
    x_we = Signal()
    m.d.comb += x_we.eq(x_take & x_room)
    # The address follows x while x may be written (registers only: never a read then)
    x_side = Signal()
    m.d.comb += x_side.eq(x_loading | between_matrices)
    x_rd = []
    for k in range(p.lanes):
        mem = m.submodules[f"xmem{k}"] = Memory(shape=signed(p.x_width), depth=depth, init=[])
        wr, rd = mem.write_port(), mem.read_port()
        lane_addr = Signal(range(depth), name=f"x_rd_addr{k}")
        shared = Signal(range(depth), name=f"x_addr{k}")
        m.d.comb += [
            shared.eq(Mux(x_side, x_index, lane_addr)),
            wr.addr.eq(shared), rd.addr.eq(shared),
            wr.data.eq(Mux(x_fits, x_in.payload.data[:p.x_width], 0)),
            wr.en.eq(x_we),
        ]
        x_rd.append(XPort(lane_addr, rd.data))
    with m.If(x_take):
        m.d.sync += [
            x_count.eq(x_next),
            x_bad.eq((x_loading & x_bad) | ~x_fits | ~x_room),
            x_loading.eq(~x_in.payload.last),
        ]
        with m.If(x_in.payload.last):
            m.d.sync += ncols.eq(x_next)
    return XMemory(ncols, x_loading, x_bad, x_rd)


# ------------------------------------------------------------ pipeline: multiply, sum

class Tag(NamedTuple):
    """A step's control, travelling with its data down the pipeline."""
    valid: object      # a step is in this stage
    end: object        # it ends its row (its y is due)
    last: object       # the row is the matrix's final one
    err: object        # the matrix's error up to and including this step


def register_tag(m, tag, stage):
    """``tag`` one clock later, as signals named ``<stage>_valid`` and so on."""
    out = Tag(*(Signal(name=f"{stage}_{field}") for field in Tag._fields))
    m.d.sync += [new.eq(old) for new, old in zip(out, tag)]
    return out


def _data_errors(m, seq, s1, took):
    """Stage 1's error: the registered row/framing error, or any slot error of the
    matrix's steps so far (this one included), accumulated here one clock after issue.
    A beat's check terms (the slots', an early ``last``, a null beat's pieces) are
    registered as they are and combined here with its take."""
    beat_err = Signal(len(seq.beat_err), name="s1_beat_err")
    null_wait = Signal(name="s1_null_wait")
    null_bits = Signal(len(seq.null_check[1]), name="s1_null_bits")
    first = Signal(name="s1_first")
    m.d.sync += [beat_err.eq(seq.beat_err), null_wait.eq(seq.null_check[0]),
                 null_bits.eq(seq.null_check[1]), first.eq(seq.first)]
    acc = Signal(name="data_err_acc")           # the matrix's earlier steps
    total = Signal(name="s1_data_total")
    bad = beat_err.any() | (null_wait & null_bits.any())
    m.d.comb += total.eq((acc & ~first) | (took & bad))
    with m.If(s1.valid):
        m.d.sync += acc.eq(total)
    return s1.err | total


def multiply(m, p, seq, read_ports, width):
    """Stage 1: each lane's value is registered while x is read from memory (a lane
    that does not contribute carries 0 from stage 2 on).  Stage 2: x registered straight out of the
    memory (a block RAM's clock-to-data, about 6 ns on ECP5, leaves no room for anything
    after it), so the multiplier sees registers on both inputs.  Then the registered
    products, already ``width`` bits when there is no adder tree: ``multipliers = "dsp"``,
    one inferred multiplier per lane (stage 3); ``"lut"``, x copied into fabric beside
    the value's registered multiples (stage 3), then radix-4 partial products
    (:func:`hw.datapath.radix4_terms`) summed one adder level per clock
    (:func:`product_stages` clocks in all).  Returns (tag, products)."""
    lut = p.multipliers == "lut"
    # with LUT multipliers the value is two bits wider: 3·value fits it
    val_width = p.value_width + (2 if lut else 0)
    s1 = register_tag(m, Tag(seq.issue, seq.row_ends, seq.cur_final, seq.err_now), "s1")
    took = Signal(name="s1_took")               # the step took an nz beat
    m.d.sync += took.eq(seq.nz_take)
    s1 = s1._replace(err=_data_errors(m, seq, s1, took))
    # Each slot's value and its "contributes" (active, in range) registered as they are,
    # and combined with the take at stage 2: the take and the compares with ncols end at
    # flip-flops, not at every value bit's multiplexer (timing)
    s1_val = [Signal(signed(val_width), name=f"s1_val{k}") for k in range(p.lanes)]
    s1_ok = Signal(p.lanes, name="s1_ok")
    for k, lane in enumerate(seq.lanes):
        m.d.sync += [s1_val[k].eq(lane.value), s1_ok[k].eq(lane.ok)]
    used = [Mux(took & s1_ok[k], s1_val[k], 0) for k in range(p.lanes)]   # 0: contributes none

    s2 = register_tag(m, s1, "s2")
    # datapath registers without reset: no reset logic between the memory and them
    s2_x = [Signal(signed(p.x_width), name=f"s2_x{k}", reset_less=True)
            for k in range(p.lanes)]
    m.d.sync += [s2_x[k].eq(read_ports[k].data) for k in range(p.lanes)]
    prod_width = p.value_width + p.x_width
    out_width = width if p.lanes == 1 else prod_width
    if not lut:
        s2_val = [Signal(signed(p.value_width), name=f"s2_val{k}", reset_less=True)
                  for k in range(p.lanes)]
        m.d.sync += [s2_val[k].eq(used[k]) for k in range(p.lanes)]
        s3 = register_tag(m, s2, "s3")
        s3_prod = [Signal(signed(out_width), name=f"s3_prod{k}", reset_less=True)
                   for k in range(p.lanes)]
        m.d.sync += [s3_prod[k].eq(s2_val[k] * s2_x[k]) for k in range(p.lanes)]
        return s3, s3_prod

    # LUT multipliers: x copied once more, into fabric registers beside the partial
    # products (the block RAM's output register, where x is, sits far from them: a
    # 2.7 ns route on ECP5), the value's multiples registered alongside
    s3 = register_tag(m, s2, "s3")
    s3_x = [Signal(signed(p.x_width), name=f"s3_x{k}", reset_less=True)
            for k in range(p.lanes)]
    s2_val = [Signal(signed(val_width), name=f"s2_val{k}", reset_less=True)
              for k in range(p.lanes)]
    m.d.sync += [s3_x[k].eq(s2_x[k]) for k in range(p.lanes)]
    m.d.sync += [s2_val[k].eq(used[k]) for k in range(p.lanes)]
    mult_width = max(prod_width, val_width)
    mults = [radix4_multiples(m, s2_val[k], mult_width, name=f"s3_a{k}")
             for k in range(p.lanes)]
    terms = [radix4_terms(m, mults[k], s3_x[k], prod_width, name=f"pp{k}")
             for k in range(p.lanes)]
    tag, stage = s3, 3
    while len(terms[0]) > 1:
        stage += 1
        last = len(terms[0]) <= 2
        terms = [sum_stage(m, t, prod_width, name=f"s{stage}_p{k}",
                           out_width=out_width if last else None)
                 for k, t in enumerate(terms)]
        tag = register_tag(m, tag, f"s{stage}")
    if stage == 3:                      # one digit (x_width <= 2): register it all the same
        stage += 1
        terms = [sum_stage(m, t, prod_width, name=f"s{stage}_p{k}", out_width=out_width)
                 for k, t in enumerate(terms)]
        tag = register_tag(m, tag, f"s{stage}")
    return tag, [t[0] for t in terms]


def product_stages(x_width, multipliers):
    """Clocks from the x register to the registered product: 1 with a DSP, else the x
    copy and one per adder level over the ``ceil(x_width / 2)`` radix-4 partial products
    (at least 1)."""
    if multipliers == "dsp":
        return 1
    return 1 + max(1, (-(-x_width // 2) - 1).bit_length())


def tree_stages(lanes):
    """Clocks of the adder tree: one per level, ``log2(lanes)`` (0 for one lane)."""
    return (lanes - 1).bit_length()


def adder_tree(m, tag, products, width):
    """``lanes > 1``: the products' sum, a balanced tree with one registered adder level
    per clock (:func:`tree_stages`; one lane: as is).  One adder per clock, as in the
    accumulator: two levels in one clock held 4 lanes to 145 MHz on ECP5, the DSPs'
    outputs being a long route from the adders."""
    level = 0
    while len(products) > 1:
        products = sum_stage(m, products, width, name=f"a{level}_sum")
        tag = register_tag(m, tag, f"a{level}")
        level += 1
    return tag, products[0]


# ------------------------------------------------- accumulator, y queue and credits

def accumulate_rows(m, p, tag, total, y, error, credits, reserve):
    """Accumulate each row's steps (wrap or saturate after every step), queue its y with
    ``last`` and the matrix's error, and drive ``error`` (the offered y's, else the last
    taken y's).  ``reserve``: a row-ending step issued this clock."""
    # A row's first step adds to 0 rather than to acc (the choice made on acc's side of
    # the adder, from registers), so acc keeps each step's sum, the row's y included:
    # the sum and its clamp end at acc alone, one LUT after the adder (timing: the
    # restart and the queue's LUT RAM after the clamp held saturate to 145 MHz on ECP5).
    # The queue is written from acc a clock after the row's final step.
    acc = Signal(signed(len(total)))
    fresh = Signal(init=1, name="acc_fresh")    # the next step starts a row
    acc_in = Signal.like(acc, name="acc_in")
    m.d.comb += acc_in.eq(Mux(fresh, 0, acc))
    acc_next = accumulate_next(m, acc_in, total, p.acc_width, p.overflow)
    with m.If(tag.valid):
        m.d.sync += [acc.eq(acc_next), fresh.eq(tag.end)]
    y_word = Signal(signed(p.yf))
    m.d.comb += y_word.eq(acc)
    w_en, w_last, w_err = (Signal(name=f"y_w_{n}") for n in ("en", "last", "err"))
    m.d.sync += [w_en.eq(tag.valid & tag.end), w_last.eq(tag.last), w_err.eq(tag.err)]
    w_data = Cat(y_word, w_last, w_err)
    queue = m.submodules.queue = CreditQueue(p.yf + 2, credits.depth)
    m.d.comb += [
        queue.w_en.eq(w_en), queue.w_data.eq(w_data),
        y.valid.eq(queue.r.valid),
        y.payload.data.eq(queue.r.payload[:p.yf]),
        y.payload.last.eq(queue.r.payload[p.yf]),
        queue.r.ready.eq(y.ready),
    ]
    y_take = y.valid & y.ready
    credits.update(m, reserve, y_take)

    err_shown = Signal()   # error of the last y taken
    head_err = queue.r.payload[p.yf + 1]
    with m.If(y_take):
        m.d.sync += err_shown.eq(head_err)
    m.d.comb += error.eq(Mux(y.valid, head_err, err_shown))
