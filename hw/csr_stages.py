"""The stages of :class:`hw.csr_spmv.CSRSpMV`, one builder each, in pipeline order.

* :func:`x_memory`: the ``x`` stream into an on-chip memory (one read port per lane),
  ``ncols`` and the bad-x flag;
* :class:`Sequencer` (the issue stage): row lengths and ``nz`` beats -> one *step* per
  clock (a beat of up to ``lanes`` non-zeros, or one empty row) with its row end, final
  row and error; it pairs every matrix with exactly its own ``nz`` frame.  Its
  :func:`decode_lanes` splits a beat into slots (value, column, active, in range) and
  drives the memory read addresses (0 for a bad column);
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

from amaranth.hdl import Cat, Const, Mux, Signal, signed
from amaranth.lib.memory import Memory

from .datapath import (CreditQueue, accumulate_next, fits_signed, gt_const, incr, lt_var, radix4_multiples,
                       radix4_terms, sum_stage)

__all__ = ["XMemory", "XPort", "x_memory", "Lane", "decode_lanes", "Sequencer", "Tag",
           "register_tag", "multiply", "product_stages", "tree_stages", "adder_tree", "accumulate_rows"]


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


# ------------------------------------------------------------------------ nz lanes

class Lane(NamedTuple):
    value: object      # the slot's value, value_width bits, signed
    ok: object         # active, column < ncols and value fits: it contributes
    bad: object        # active but out of range: it contributes 0 and flags the matrix


def decode_lanes(m, p, data, active_slots, ncols, read_ports):
    """Split an ``nz`` beat into its ``lanes`` slots.  Slot k is active while the row has
    more than k non-zeros left (``active_slots[k]``); the unused slots of a row's last beat
    are never looked at.  An inactive slot reads address 0."""
    lanes = []
    for k in range(p.lanes):
        slot = data[k * p.slot_width:(k + 1) * p.slot_width]
        value, col = slot[:p.vf], slot[p.vf:]
        active = active_slots[k]
        col_ok = lt_var(col, ncols)
        val_ok = fits_signed(value, p.value_width)
        lanes.append(Lane(value[:p.value_width].as_signed(), active & col_ok & val_ok,
                          active & ~(col_ok & val_ok)))
        # Only the slot's activity gates the address: a column beyond ncols reads a word
        # that is then ignored (its low bits address the memory, never beyond it), so the
        # col_idx comparison stays off the memory's address path.
        m.d.comb += read_ports[k].addr.eq(Mux(active, col, 0))
    return lanes


# ---------------------------------------------------------------- issue sequencer

class Sequencer:
    """Rows and beats: one step per clock, and every matrix paired with its own frame.

    Its registers are declared first (``in_mat`` and ``drain`` gate x loading, built
    before it); :meth:`build` then adds, top to bottom, the modes (what the next step may
    be, from registers), when an ``nz`` beat is taken, when a step ends a row, what flags
    the matrix, when the next row length is taken, and the register updates.  After
    :meth:`build`, ``issue`` (a step leaves this clock), ``row_ends``, ``nz_take``,
    ``err_now`` (the matrix's error from its rows and framing, including this step),
    ``beat_err``/``null_check`` (this beat's checks: bad slots, early ``last``; a null
    beat's bits), ``first`` (the matrix's first step), ``lanes`` (:class:`Lane` each) feed
    the pipeline.  The slots' checks compare the beat with ``ncols``; they join the
    matrix's error one stage later (:func:`multiply`), off the paths that decide what is
    taken.
    """

    def __init__(self, p):
        self.p = p
        self.in_mat = Signal()      # a row length has been taken and the final row is not done
        self.drain = Signal()       # dropping surplus non-zeros up to nz.last
        self.cur_valid = Signal()   # a row length is loaded: the current row
        self.cur_final = Signal()   # ... and it is the matrix's final row
        self.rem = Signal(range(p.max_cols + 1))   # its non-zeros still to come
        # rem > k for k < lanes (slot k is active) and rem <= lanes (this beat is the row's
        # last), kept as registers beside rem so that no compare starts a control path
        self.active = Signal(p.lanes)
        self.rem_fits = Signal(init=1)
        # the current row was taken as empty (bad), and the current row has a non-zero
        # left for a beat (``active[0]`` unless the row is bad): the late compare with
        # ncols ends at these two flip-flops (see :meth:`_registers`)
        self.bad_row = Signal()
        self.beat_left = Signal()
        self.nz_done = Signal()     # this matrix's nz.last has been taken
        self.announced = Signal()   # some row of this matrix so far announced non-zeros
        self.err_in = Signal()      # this matrix has had bad x or rows so far (x's from
                                    # its first step, the current row's a clock later)
        self.fresh = Signal()       # no step of the current matrix has issued yet
        self.rows_seen = Signal(range(p.max_rows + 1))

    def build(self, m, row, nz, x, x_pending, credit_ok):
        """``x`` is the :class:`XMemory`, ``x_pending`` the x stream's valid (a pending x
        goes before a new matrix), ``credit_ok`` a free y-queue entry."""
        self.x_bad = x.bad                      # x cannot change inside a matrix
        self._modes(m, x, credit_ok)
        self._steps(m, nz, x.ncols, x.read)
        self._row_lengths(m, row, x, x_pending)
        self._registers(m, row, nz)

    def _modes(self, m, x, credit_ok):
        """What the next step may be, from registers alone: the decisions below are then
        two LUT levels of these and the inputs' valid and last, not a chain through each
        other (timing: ``nz`` take -> row end -> row ``ready`` -> row take -> the row's
        registers was 7 levels, 135 MHz on ECP5).  They rest on three invariants of the
        registers: ``drain`` only outside a row (it starts as the final row ends and
        blocks row lengths), a row only inside a matrix, and x loads only between
        matrices (its ``ready`` needs ``~in_mat``, a row length needs ``~x.loading``)."""
        cv, cf, nd = self.cur_valid, self.cur_final, self.nz_done
        a0 = self.beat_left                     # a good row with a non-zero left
        keep = {"keep": 1}
        modes = {
            # a row is loaded and needs an nz beat: one with a non-zero left, or the null
            # beat of a matrix announcing none (its final row waits for it)
            "beat_mid": cv & ~cf & ~nd & a0,
            "beat_fin": cv & cf & ~nd & (a0 | ~self.announced),
            # a row is loaded and ends on an empty step: no non-zeros left (or the frame is
            # done); on the final row it only ends the matrix once the frame is done
            "empty_mid": cv & ~cf & (nd | ~a0),
            "empty_fin": cv & cf & nd,
            # any empty step: those two, and the final row's that leaves surplus beats
            "empty": cv & (nd | (~a0 & (~cf | self.announced))),
            # no row loaded: between two rows of a matrix, or between matrices
            "idle_mid": ~cv & self.in_mat,
            "idle_new": ~cv & ~self.in_mat & ~self.drain & ~x.loading,
        }
        for name, term in modes.items():
            sig = Signal(name=f"mode_{name}", attrs=keep)
            m.d.comb += sig.eq(term if name.startswith("idle") else term & credit_ok)
            setattr(self, name, sig)

    def _steps(self, m, nz, ncols, read_ports):
        p, cur_valid, nz_done = self.p, self.cur_valid, self.nz_done
        # A matrix announcing no non-zeros still sends one nz frame, the null beat.  Its
        # final row's step waits for that beat and takes it (a step with no active lane),
        # so the frame costs no cycle of its own and is checked before the last y leaves.
        null_wait = cur_valid & self.cur_final & ~self.announced & ~nz_done
        beat = self.beat_mid | self.beat_fin            # credit_ok included
        m.d.comb += nz.ready.eq(self.drain | beat)
        nz_take = Signal()      # written apart from `nz.ready`, which also carries `drain`
        m.d.comb += nz_take.eq(nz.valid & beat)
        nz_last = nz.payload.last
        beat_final = self.rem_fits              # this beat completes the announced row
        early_last = nz_last & ~beat_final
        self.lanes = decode_lanes(m, p, nz.payload.data, self.active, ncols, read_ports)
        self.nz_valid, self.nz_last = nz.valid, nz_last

        empty_step = self.empty                     # credit_ok included
        self.row_ends = empty_step | (nz_take & (beat_final | nz_last))
        self.issue = empty_step | nz_take
        self.nz_take = nz_take
        self.nz_done_now = nz_done | (nz_take & nz_last)
        # Every matrix consumes exactly its own nz frame: one still open when the final
        # row ends has surplus beats (or a null frame longer than one beat); drop them.
        self.need_drain = self.row_ends & self.cur_final & ~self.nz_done_now
        # The matrix's error so far: x's (a matrix's first step on: `fresh`), its rows'
        # (the current row's from its flip-flop, `bad_row`) and framing.  `err_in` takes
        # it every clock from registers alone, so neither the row take nor the compare
        # with ncols reaches it (timing); the framing error (`need_drain`) only ever
        # falls on a matrix's final step, so `err_in` never needs it.
        err_rows = Signal(name="err_rows")
        m.d.comb += err_rows.eq(Mux(self.fresh, self.x_bad, self.err_in) | self.bad_row)
        self.err_rows = err_rows
        self.err_now = err_rows | self.need_drain
        # This step's data checks, registered apart and combined one stage on
        # (:func:`_data_errors`): the slots' compares with ncols end at flip-flops
        self.beat_err = Cat(*(lane.bad for lane in self.lanes), early_last)
        # a null beat must be all zeros: its OR in 16-bit pieces, combined a stage on
        data = nz.payload.data
        self.null_check = (null_wait,
                           Cat(data[i:i + 16].any() for i in range(0, len(data), 16)))
        self.first = self.fresh

    def _row_lengths(self, m, row, x, x_pending):
        # A row length is taken when the current row is done or ending now, so rows and
        # matrices follow each other without a gap; a pending x goes before a new matrix.
        # From the modes: a mid-matrix row end or gap takes it; the final row's end, or
        # the gap between matrices, only without a pending x; a beat only if it ends its
        # row (and on the final row, only with the frame's last: else it drains first).
        nz_valid, nz_last = self.nz_valid, self.nz_last
        ready = Signal()
        m.d.comb += [
            ready.eq(self.empty_mid | self.idle_mid
                     | (~x_pending & (self.empty_fin | self.idle_new))
                     | (nz_valid & ((self.beat_mid & (self.rem_fits | nz_last))
                                    | (self.beat_fin & nz_last & ~x_pending)))),
            row.ready.eq(ready),
        ]
        length = row.payload.data
        self.row_full = self.rows_seen == Const(self.p.max_rows, len(self.rows_seen))
        # A length taken inside a matrix (the others start one); only ever read under a
        # take, so the modes say which take it is without the take itself
        self.inside = self.beat_mid | self.empty_mid | self.idle_mid
        # Taken as empty: longer than x, announcing non-zeros after nz.last, or beyond
        # max_rows.  Inside a matrix the frame is done before this take, or done by this
        # beat (a mid-row beat only; nz_done is low while a beat is needed).
        row_bad = Signal()
        m.d.comb += row_bad.eq(lt_var(x.ncols, length) |
                               (self.inside & (self.row_full | (length.any() & (
                                   self.nz_done | (self.beat_mid & nz_last))))))
        self.row_bad = row_bad

    def _registers(self, m, row, nz):
        p, length = self.p, row.payload.data
        row_take = row.valid & row.ready
        with m.If(self.nz_take & ~self.row_ends):
            # rem - lanes, with lanes = 2**j: decrement the bits from j up
            j = p.lanes.bit_length() - 1
            m.d.sync += self.rem.eq(Cat(self.rem[:j], self.rem[j:] - 1))
            # the flags of rem - lanes, from rem
            m.d.sync += [self.active.eq(Cat(gt_const(self.rem, p.lanes + k)
                                            for k in range(p.lanes))),
                         self.rem_fits.eq(~gt_const(self.rem, 2 * p.lanes))]
        m.d.sync += [self.nz_done.eq(self.nz_done_now), self.err_in.eq(self.err_rows)]
        with m.If(self.issue):
            m.d.sync += self.fresh.eq(0)
        with m.If(self.row_ends):
            m.d.sync += self.cur_valid.eq(0)
            with m.If(self.cur_final):
                m.d.sync += self.in_mat.eq(0)
        with m.If(row_take):
            m.d.sync += [
                self.cur_valid.eq(1),
                self.cur_final.eq(row.payload.last),
                # A bad row is taken as empty: the modes read `beat_left`, low for it, so
                # no beat is taken for it, and then `rem`, `rem_fits` and the slots'
                # `active` are never read (a row of length 0 has none active either way).
                # So they load the length unmasked, off the late `row_bad` (timing).
                self.rem.eq(length),
                self.active.eq(Cat(gt_const(length, k) for k in range(p.lanes))),
                self.rem_fits.eq(~gt_const(length, p.lanes)),
                self.bad_row.eq(self.row_bad),
                self.beat_left.eq(length.any() & ~self.row_bad),
            ]
            with m.If(~self.inside):
                m.d.sync += [
                    self.in_mat.eq(1), self.rows_seen.eq(1), self.nz_done.eq(0), self.fresh.eq(1),
                    self.announced.eq(length.any()),
                ]
            with m.Else():
                m.d.sync += [
                    self.rows_seen.eq(incr(self.rows_seen, ~self.row_full)),
                    self.announced.eq(self.announced | length.any()),
                ]
        with m.If(self.need_drain):
            m.d.sync += self.drain.eq(1)
        with m.If(self.drain & nz.valid & nz.payload.last):
            m.d.sync += self.drain.eq(0)


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
    s1_val = [Mux(took & s1_ok[k], s1_val[k], 0) for k in range(p.lanes)]

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
        m.d.sync += [s2_val[k].eq(s1_val[k]) for k in range(p.lanes)]
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
    m.d.sync += [s2_val[k].eq(s1_val[k]) for k in range(p.lanes)]
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
