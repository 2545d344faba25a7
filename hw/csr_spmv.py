"""CSR sparse matrix × dense vector: :class:`CSRSpMV` computes ``y = A·x`` from streams.

Bit-exact model: :func:`golden.csr.spmv` (same widths, overflow mode and ``lanes``);
stream words: :func:`golden.csr.to_streams`.

Streams and packing (``VF``/``XF``/``YF`` = value/x/acc width rounded up to a byte)
-------------------------------------------------------------------------------------
==========  ===  ===================================  =====================================
member      dir  ``data``                             ``last``
==========  ===  ===================================  =====================================
``x``       in   ``XF`` bits: x element, signed,      on ``x[ncols-1]``; the number of
                 sign-extended from ``x_width``       elements loaded sets ``ncols``
``row``     in   ``row_width`` bits: row length       on the matrix's final row
                 (non-zeros in the row), unsigned
``nz``      in   ``lanes`` slots of ``VF+col_width``  on the matrix's final beat: every
                 bits; slot k at bit ``k·(VF+col_      matrix sends exactly one frame; one
                 width)``: value in the low ``VF``     announcing no non-zeros sends the
                 bits (signed, sign-extended from      *null beat* (all-zero data, ``last``
                 ``value_width``), col_idx above it    high) as its frame
``y``       out  ``YF`` bits: one accumulator per     on the matrix's final row
                 row, sign-extended from ``acc_width``
``error``   out  1 bit, see "Bad input"
``busy``    out  1 bit: a matrix, a drain, an x load or a y is still pending
==========  ===  ===================================  =====================================

A row's non-zeros fill ``ceil(length / lanes)`` beats; every row starts a new beat and the
unused slots of its final beat are ignored.  The block consumes exactly one ``nz`` frame
per matrix (up to and including its ``last``), whatever the rows announce, so a matrix's
non-zeros can never be taken by its neighbours.

x and matrices
--------------
x lives in an on-chip memory of ``max_cols`` words (one read port per lane) and is reused
by every matrix until a new x is streamed; until the first x, ``ncols`` is 0 and every
row announcing non-zeros is flagged.  x is accepted only between matrices, and a pending
x (``x.valid`` high when a matrix would start) goes first: the next matrix starts after
x's ``last``.  So the driver offers x no later than the first row of the matrices that
should use it.  With nothing stalled a reload between two matrices costs ``ncols + 1``
cycles: x's first element is taken in the cycle after the previous matrix's final step,
one element per cycle, and the next matrix's first row length in the cycle after x's
``last``.

Throughput and latency (nothing stalled)
----------------------------------------
Every clock retires one row step: a beat of up to ``lanes`` non-zeros, or one empty row.
The next row length is taken in the same clock as the current row's final step, so row
boundaries and back-to-back matrices cost nothing.  The null beat of a matrix without
non-zeros is taken in its final row's step, so an all-empty matrix costs one cycle per
row like any other (its final step waits for the null beat if ``nz`` is late).  A matrix
whose first row length is accepted in cycle 0 delivers its final y (``last``) in cycle
``steps + LATENCY``, where ``steps = Σ max(1, ceil(len_i / lanes))`` (``NNZ + empty
rows`` for ``lanes = 1``) and
:attr:`CSRSpMV.latency` is 3 for ``lanes = 1`` (memory read, registered multiply,
accumulate + output queue) and 4 for ``lanes > 1`` (plus a registered adder tree).
Consecutive non-zeros of one row accumulate in a single-cycle register loop, so there is
no read-after-write hazard and nothing to forward.

Backpressure
------------
``y`` comes from an 8-entry queue; a step that ends a row needs a free (unreserved) entry,
so when ``y`` stalls long enough the block lowers ``nz.ready``/``row.ready`` and never
drops a result.  ``y`` holds valid and payload until taken; no valid depends on a ready.
``row.ready`` does depend combinationally on ``nz.valid``/``nz.last`` (the next row
length is taken in the cycle the current row's final beat arrives) and on ``x.valid``.

Bad input (the matrix still yields exactly one ``y`` per announced row, then ``last``)
------------------------------------------------------------------------------------
* a non-zero with ``col_idx >= ncols`` or a value that is not a sign extension of
  ``value_width`` bits: contributes 0 (a bad ``col_idx``'s memory address is forced to
  0, so no read leaves the memory);
* a row length ``> ncols`` (this includes a decreasing ``row_ptr``, whose negative
  difference arrives as a huge unsigned length) or a row beyond ``max_rows``: the row is
  taken as empty;
* fewer non-zeros than announced (``nz.last`` inside a row, or a later row announcing
  non-zeros after ``nz.last``; this includes rows announcing non-zeros with NNZ = 0,
  whose frame is the null beat, taken by the first such row that is not itself flagged
  as zeros at column 0, or drained if there is none): the
  rest of the matrix gets no more non-zeros, its rows finish with what they have, one
  cycle each;
* more non-zeros than announced (the matrix's final row ends without ``nz.last``): the
  block drops the surplus up to and including the frame's ``last``, then carries on;
* a matrix announcing no non-zeros whose frame is anything but the single null beat
  (non-zero data, or more beats): counted as more non-zeros than announced, the surplus
  dropped through ``last``;
* an x element beyond ``x_width`` bits (stored as 0) or more than ``max_cols`` elements
  (extra ones dropped, ``ncols = max_cols``): reported with every matrix using that x.

``error`` travels with ``y``: while a ``y`` is offered, ``error`` says whether its matrix
has had bad input up to and including that row (so at the ``last`` beat it covers the
whole matrix); between beats it holds the value of the last beat taken.  It is thus
sticky from the first y offered after the problem until the first y of the next matrix
(sampled with that y's transfer, like ``tdata``), and reset clears it.  A bad index never
addresses memory.

Whatever the row lengths and however long each ``nz`` frame (at least one beat, ``last``
on its final one), every matrix pairs with its own frame: the block never hangs, never
shifts a result into another matrix, and every later matrix is unaffected.  Since the
null beat and the zero padding of a row's last beat are also legal zeros at column 0,
some malformed matrices look exactly like valid ones and are not flagged: all rows empty
with a surplus of at most ``lanes`` zeros at column 0 (they pack to the null beat), and,
with ``lanes > 1``, a final row announcing more non-zeros than it has when the shortfall
fits in the unused slots of the frame's last beat (NNZ = 0 with a single row announcing
at most ``lanes`` is the special case where that beat is the null beat).  They give what
those zeros give: nothing is shifted and every other row is exact.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .axis import stream_payload
from .datapath import (OVERFLOW_MODES, accumulate_next, byte_width, choice_param,
                       fits_signed, gt_const, incr, int_param, lt_var, tree_sum)

__all__ = ["CSRSpMV", "pipeline_latency", "matrix_cycles"]

OUT_DEPTH = 8  # y queue entries; >= the issue-to-credit round trip (5 cycles at most)


def pipeline_latency(lanes=1):
    """Cycles from a matrix's final step to its final y: read, multiply, [tree,] accumulate."""
    return 3 if lanes == 1 else 4


def matrix_cycles(row_lengths, lanes=1):
    """Cycles from the first row-length transfer to the final y transfer when nothing
    stalls: ``Σ max(1, ceil(len / lanes)) + 1 + pipeline_latency(lanes)``; for
    ``lanes = 1`` that is ``NNZ + empty rows + 4``.  Back-to-back matrices overlap: a
    train costs the sum of the steps plus the constant once."""
    steps = sum(max(1, -(-int(n) // lanes)) for n in row_lengths)
    return steps + 1 + pipeline_latency(lanes)


class CSRSpMV(wiring.Component):
    """``y = A·x`` over CSR streams; see the module docstring for ports and protocol.

    Parameters (keyword only)
    -------------------------
    value_width, x_width : int, 1..32 (default 16)
        Signed widths of matrix values and x elements.
    acc_width : int, value_width + x_width .. 64 (default 32)
        Signed accumulator width; ``y`` carries it sign-extended to a byte multiple.
    overflow : "wrap" or "saturate"
        Two's-complement wrap, or clamping after every accumulation step.
    max_rows : int, 1 .. 2**32 (default 1024)
        Rows per matrix; a further row is flagged (and still answered).
    max_cols : int, 1 .. 2**col_width (default 1024)
        x memory depth, so the largest ``ncols``.
    lanes : int, 1, 2, 4, 8 or 16 (default 1)
        Non-zeros per ``nz`` beat, each with its own multiplier (a power of two keeps
        the adder tree balanced).
    col_width, row_width : 8, 16, 24 or 32 (default 16)
        Widths of the col_idx field and of the row-length field; they only need to hold
        ``max_cols``, and anything above ``ncols`` in them is flagged, never truncated.
    """

    def __init__(self, *, value_width=16, x_width=16, acc_width=32, overflow="wrap",
                 max_rows=1024, max_cols=1024, lanes=1, col_width=16, row_width=16):
        try:
            self._configure(value_width, x_width, acc_width, overflow, max_rows, max_cols,
                            lanes, col_width, row_width)
        except ValueError:
            # A rejected block will never be elaborated; spare the "created but never
            # used" warning Amaranth would print when it is collected.
            self._MustUse__silence = True
            raise
        super().__init__({
            "x": In(stream.Signature(stream_payload(self.xf))),
            "row": In(stream.Signature(stream_payload(self.row_width))),
            "nz": In(stream.Signature(stream_payload(self.lanes * self.slot_width))),
            "y": Out(stream.Signature(stream_payload(self.yf))),
            "error": Out(1),
            "busy": Out(1),
        })

    def _configure(self, value_width, x_width, acc_width, overflow, max_rows, max_cols, lanes,
                   col_width, row_width):
        self.value_width = int_param("value_width", value_width, 1, 32)
        self.x_width = int_param("x_width", x_width, 1, 32)
        self.acc_width = int_param("acc_width", acc_width, value_width + x_width, 64)
        self.overflow = choice_param("overflow", overflow, OVERFLOW_MODES)
        for name, width in (("col_width", col_width), ("row_width", row_width)):
            if isinstance(width, bool) or width not in (8, 16, 24, 32):
                raise ValueError(f"{name} must be 8, 16, 24 or 32, not {width!r}")
        self.col_width, self.row_width = col_width, row_width
        self.max_rows = int_param("max_rows", max_rows, 1, 1 << 32)
        self.max_cols = int_param("max_cols", max_cols, 1, 1 << col_width)
        if max_cols >= 1 << row_width:
            raise ValueError(f"row_width {row_width} cannot hold a row length of max_cols = "
                             f"{max_cols}; use a wider row_width")
        self.lanes = int_param("lanes", lanes, 1, 16)
        if lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two (1, 2, 4, 8 or 16), not {lanes}")
        self.latency = pipeline_latency(lanes)
        self.vf, self.xf, self.yf = byte_width(value_width), byte_width(x_width), byte_width(acc_width)
        self.slot_width = self.vf + col_width

    def elaborate(self, platform):
        m = Module()
        P, VF = self.lanes, self.vf
        x_in, row, nz, y = self.x, self.row, self.nz, self.y

        # ---------------------------------------------------------------- x memory
        # (depth >= 2: a 1-word memory would have a zero-width address in Verilog)
        xmem = m.submodules.xmem = Memory(shape=signed(self.x_width),
                                          depth=max(self.max_cols, 2), init=[])
        x_wr = xmem.write_port()
        x_rd = [xmem.read_port() for _ in range(P)]

        ncols = Signal(range(self.max_cols + 1))
        x_loading = Signal()   # inside an x vector (first element taken, last not yet)
        x_count = Signal(range(self.max_cols + 1))
        x_bad = Signal()       # the stored x had a bad element or was too long
        in_mat = Signal()      # a row length has been taken and the final row is not done
        drain = Signal()       # dropping surplus non-zeros up to nz.last

        # Reads happen in the cycle a step is issued, and steps only exist inside a
        # matrix, so x may be written in any cycle outside one.
        m.d.comb += x_in.ready.eq(x_loading | (~in_mat & ~drain))
        x_take = x_in.valid & x_in.ready
        x_index = Signal.like(x_count)
        m.d.comb += x_index.eq(Mux(x_loading, x_count, 0))
        x_room = ~gt_const(x_index, self.max_cols - 1)
        x_fits = fits_signed(x_in.payload.data, self.x_width)
        x_next = incr(x_index, x_room)
        m.d.comb += [
            x_wr.addr.eq(x_index),
            x_wr.data.eq(Mux(x_fits, x_in.payload.data[:self.x_width], 0)),
            x_wr.en.eq(x_take & x_room),
        ]
        with m.If(x_take):
            m.d.sync += [
                x_count.eq(x_next),
                x_bad.eq((x_loading & x_bad) | ~x_fits | ~x_room),
                x_loading.eq(~x_in.payload.last),
            ]
            with m.If(x_in.payload.last):
                m.d.sync += ncols.eq(x_next)

        # ------------------------------------------------- issue stage: rows and beats
        cur_valid = Signal()   # a row length is loaded: the current row
        cur_final = Signal()   # ... and it is the matrix's final row
        rem = Signal(range(self.max_cols + 1))   # its non-zeros still to come
        nz_done = Signal()     # this matrix's nz.last has been taken
        announced = Signal()   # some row of this matrix so far announced non-zeros
        err_in = Signal()      # this matrix has had bad input so far
        rows_seen = Signal(range(self.max_rows + 1))
        credits = Signal(range(OUT_DEPTH + 1), init=OUT_DEPTH)   # unreserved y entries
        credit_ok = credits.any()

        # A matrix announcing no non-zeros still sends one nz frame, the null beat.  Its
        # final row's step waits for that beat and takes it (a step with no active lane),
        # so the frame costs no cycle of its own and is checked before the last y leaves.
        null_wait = cur_valid & cur_final & ~announced & ~nz_done
        nz_needed = (cur_valid & rem.any() & ~nz_done) | null_wait
        m.d.comb += nz.ready.eq(drain | (nz_needed & credit_ok))
        nz_take = nz.valid & nz.ready & ~drain
        nz_last = nz.payload.last
        beat_final = ~gt_const(rem, P)    # this beat completes the announced row
        early_last = nz_last & ~beat_final

        lane_val, lane_ok, lane_bad = [], [], []
        for k in range(P):
            slot = nz.payload.data[k * self.slot_width:(k + 1) * self.slot_width]
            value, col = slot[:VF], slot[VF:]
            active = gt_const(rem, k)
            col_ok = lt_var(col, ncols)
            val_ok = fits_signed(value, self.value_width)
            lane_val.append(value[:self.value_width].as_signed())
            lane_ok.append(active & col_ok & val_ok)
            lane_bad.append(active & ~(col_ok & val_ok))
            m.d.comb += x_rd[k].addr.eq(Mux(active & col_ok, col, 0))

        empty_step = cur_valid & (~rem.any() | nz_done) & ~null_wait & credit_ok
        row_ends = empty_step | (nz_take & (beat_final | nz_last))
        issue = empty_step | nz_take
        nz_done_now = nz_done | (nz_take & nz_last)
        # Every matrix consumes exactly its own nz frame: one still open when the final
        # row ends has surplus beats (or a null frame longer than one beat); drop them.
        need_drain = row_ends & cur_final & ~nz_done_now
        null_bad = nz_take & null_wait & nz.payload.data.any()
        err_now = (err_in | (nz_take & (Cat(*lane_bad).any() | early_last)) | null_bad
                   | need_drain)

        # A row length is taken when the current row is done or ending now, so rows and
        # matrices follow each other without a gap; a pending x goes before a new matrix.
        starting_new = ~in_mat | (row_ends & cur_final)
        m.d.comb += row.ready.eq((~cur_valid | row_ends) & ~drain & ~need_drain & ~x_loading
                                 & ~(starting_new & x_in.valid))
        row_take = row.valid & row.ready
        length = row.payload.data
        row_full = rows_seen == Const(self.max_rows, len(rows_seen))
        row_bad = Signal()
        m.d.comb += row_bad.eq(lt_var(ncols, length) |
                               (~starting_new & nz_done_now & length.any()) |
                               (~starting_new & row_full))

        with m.If(nz_take & ~row_ends):
            # rem - lanes, with lanes = 2**j: decrement the bits from j up
            j = P.bit_length() - 1
            m.d.sync += rem.eq(Cat(rem[:j], rem[j:] - 1))
        m.d.sync += [nz_done.eq(nz_done_now), err_in.eq(err_now)]
        with m.If(row_ends):
            m.d.sync += cur_valid.eq(0)
            with m.If(cur_final):
                m.d.sync += in_mat.eq(0)
        with m.If(row_take):
            m.d.sync += [
                cur_valid.eq(1),
                cur_final.eq(row.payload.last),
                rem.eq(Mux(row_bad, 0, length)),
            ]
            with m.If(starting_new):
                m.d.sync += [
                    in_mat.eq(1), rows_seen.eq(1), nz_done.eq(0),
                    announced.eq(length.any()), err_in.eq(x_bad | row_bad),
                ]
            with m.Else():
                m.d.sync += [
                    rows_seen.eq(incr(rows_seen, ~row_full)),
                    announced.eq(announced | length.any()),
                    err_in.eq(err_now | row_bad),
                ]
        with m.If(need_drain):
            m.d.sync += drain.eq(1)
        with m.If(drain & nz.valid & nz_last):
            m.d.sync += drain.eq(0)

        # ---------------------------------- stage 1: x arrives from memory, multiply
        s1_valid, s1_end, s1_last, s1_err = Signal(), Signal(), Signal(), Signal()
        s1_val = [Signal(signed(self.value_width), name=f"s1_val{k}") for k in range(P)]
        m.d.sync += [s1_valid.eq(issue), s1_end.eq(row_ends), s1_last.eq(cur_final),
                     s1_err.eq(err_now)]
        for k in range(P):
            m.d.sync += s1_val[k].eq(Mux(nz_take & lane_ok[k], lane_val[k], 0))

        # Products, sums and the accumulator share one width so that every adder has
        # equal-width operands; the accumulator still holds an acc_width value.
        prod_width = self.value_width + self.x_width
        sum_width = prod_width + (P - 1).bit_length()
        width = max(self.acc_width, sum_width)
        s2_valid, s2_end, s2_last, s2_err = Signal(), Signal(), Signal(), Signal()
        s2_prod = [Signal(signed(width if P == 1 else prod_width), name=f"s2_prod{k}")
                   for k in range(P)]
        m.d.sync += [s2_valid.eq(s1_valid), s2_end.eq(s1_end), s2_last.eq(s1_last),
                     s2_err.eq(s1_err)]
        for k in range(P):
            m.d.sync += s2_prod[k].eq(s1_val[k] * x_rd[k].data)

        # ------------------------------- (lanes > 1) stage 2: registered adder tree
        if P == 1:
            a_valid, a_end, a_last, a_err, a_sum = s2_valid, s2_end, s2_last, s2_err, s2_prod[0]
        else:
            a_valid, a_end, a_last, a_err = Signal(), Signal(), Signal(), Signal()
            a_sum = Signal(signed(width))
            m.d.sync += [a_valid.eq(s2_valid), a_end.eq(s2_end), a_last.eq(s2_last),
                         a_err.eq(s2_err), a_sum.eq(tree_sum(s2_prod))]

        # ------------------------------------------ accumulate, queue the row's y
        acc = Signal(signed(width))
        acc_next = accumulate_next(m, acc, a_sum, self.acc_width, self.overflow)
        with m.If(a_valid):
            m.d.sync += acc.eq(Mux(a_end, 0, acc_next))

        y_word = Signal(signed(self.yf))
        m.d.comb += y_word.eq(acc_next)
        queue = m.submodules.queue = SyncFIFO(width=self.yf + 2, depth=OUT_DEPTH)
        m.d.comb += [
            queue.w_en.eq(a_valid & a_end),
            queue.w_data.eq(Cat(y_word, a_last, a_err)),
            y.valid.eq(queue.r_rdy),
            y.payload.data.eq(queue.r_data[:self.yf]),
            y.payload.last.eq(queue.r_data[self.yf]),
            queue.r_en.eq(y.ready),
        ]
        y_take = y.valid & y.ready
        reserve = issue & row_ends
        with m.If(reserve & ~y_take):
            m.d.sync += credits.eq(credits - Const(1, len(credits)))
        with m.Elif(y_take & ~reserve):
            m.d.sync += credits.eq(incr(credits, 1))

        err_shown = Signal()   # error of the last y taken
        head_err = queue.r_data[self.yf + 1]
        with m.If(y_take):
            m.d.sync += err_shown.eq(head_err)
        m.d.comb += [
            self.error.eq(Mux(y.valid, head_err, err_shown)),
            self.busy.eq(in_mat | drain | x_loading | (credits != Const(OUT_DEPTH, len(credits)))),
        ]
        return m
