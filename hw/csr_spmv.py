"""CSR sparse matrix × dense vector: :class:`CSRSpMV` computes ``y = A·x`` from streams.

Bit-exact model: :func:`golden.csr.spmv` (same widths, overflow mode and ``lanes``);
stream words: :func:`golden.csr.to_streams` (slot widths :func:`golden.csr.nz_field_widths`);
the answer to any streams, malformed included: :mod:`golden.csr_lenient`.  The
stages of :meth:`CSRSpMV.elaborate` are in :mod:`hw.csr_sequencer` (the issue stage) and
:mod:`hw.csr_stages` (the rest).

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
:attr:`CSRSpMV.latency` is 5 for ``lanes = 1`` with the default DSP multipliers (memory
read, x register, registered multiply, accumulate, y register + output queue) and
``5 + log2(lanes)`` for ``lanes > 1`` (plus an adder tree registered at every level);
with ``multipliers="lut"`` and 16-bit x, three more (x copied into fabric, then three
adder levels of partial products: 8 for one lane, 9 for two).  The
formula is :func:`golden.csr.matrix_cycles`; :meth:`CSRSpMV.cycles` applies it with this
block's latency (:meth:`CSRSpMV.latency_of` gives it without building a block).
Consecutive non-zeros of one row accumulate in a single-cycle register loop, so there is
no read-after-write hazard and nothing to forward.

Backpressure
------------
``y`` comes from a queue of ``max(8, latency + 2)`` entries; a step ending a row needs a
free entry, so when ``y`` stalls long enough the block lowers ``nz.ready``/``row.ready``, never
drops a result.  ``y`` holds valid and payload until taken; no valid depends on a ready.
``row.ready`` does depend combinationally on ``nz.valid``/``nz.last`` (the next row
length is taken in the cycle the current row's final beat arrives) and on ``x.valid``.

Bad input (the matrix still yields exactly one ``y`` per announced row, then ``last``)
------------------------------------------------------------------------------------
* a non-zero with ``col_idx >= ncols`` or a value that is not a sign extension of
  ``value_width`` bits: contributes 0 (a bad ``col_idx`` reads the word its low bits
  select, inside the memory, and the word is ignored);
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
(sampled with that y's transfer, like ``tdata``), and reset clears it.

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

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.csr import matrix_cycles, nz_field_widths

from .axis import stream_payload
from .csr_sequencer import Sequencer
from .csr_stages import (accumulate_rows, adder_tree, multiply, product_stages, tree_stages,
                         x_memory)
from .datapath import (MULTIPLIERS, OVERFLOW_MODES, CheckedFirst, Credits, byte_width,
                       choice_param, credit_depth, int_param)

__all__ = ["CSRSpMV"]


class CSRSpMV(CheckedFirst, wiring.Component):
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
    multipliers : "dsp" (default) or "lut"
        How each lane multiplies: one inferred DSP (ECP5 MULT18X18D; its unregistered
        multiply leaves about 137 MHz between registers), or radix-4 partial products in
        LUTs and carry chains, pipelined one adder level per clock (no DSP; about twice the
        LUTs).  Same results and throughput; the latency differs (:meth:`latency_of`).

    Bad parameters raise ValueError naming the parameter, before the object exists
    (:class:`hw.datapath.CheckedFirst`).
    """

    def __init__(self, *, value_width=16, x_width=16, acc_width=32, overflow="wrap",
                 max_rows=1024, max_cols=1024, lanes=1, col_width=16, row_width=16,
                 multipliers="dsp"):
        # The values were checked by check_params, before the object was created.
        self.value_width, self.x_width, self.acc_width = value_width, x_width, acc_width
        self.overflow, self.max_rows, self.max_cols = overflow, max_rows, max_cols
        self.lanes, self.col_width, self.row_width = lanes, col_width, row_width
        self.multipliers = multipliers
        self.latency = self.latency_of(lanes, multipliers=multipliers, x_width=x_width)
        # the nz slot layout is the packing contract of golden.csr.to_streams
        self.vf, _ = nz_field_widths(value_width, col_width)
        self.xf, self.yf = byte_width(x_width), byte_width(acc_width)
        self.slot_width = self.vf + col_width
        super().__init__({
            "x": In(stream.Signature(stream_payload(self.xf))),
            "row": In(stream.Signature(stream_payload(self.row_width))),
            "nz": In(stream.Signature(stream_payload(self.lanes * self.slot_width))),
            "y": Out(stream.Signature(stream_payload(self.yf))),
            "error": Out(1),
            "busy": Out(1),
        })

    @staticmethod
    def check_params(*, value_width, x_width, acc_width, overflow, max_rows, max_cols, lanes,
                     col_width, row_width, multipliers):
        """Raise ValueError naming the first bad parameter (see the class docstring)."""
        int_param("value_width", value_width, 1, 32)
        int_param("x_width", x_width, 1, 32)
        int_param("acc_width", acc_width, value_width + x_width, 64)
        choice_param("overflow", overflow, OVERFLOW_MODES)
        nz_field_widths(value_width, col_width)          # col_width: 8, 16, 24 or 32
        choice_param("row_width", row_width, (8, 16, 24, 32))
        int_param("max_rows", max_rows, 1, 1 << 32)
        int_param("max_cols", max_cols, 1, 1 << col_width)
        if max_cols >= 1 << row_width:
            raise ValueError(f"row_width {row_width} cannot hold a row length of max_cols = "
                             f"{max_cols}; use a wider row_width")
        int_param("lanes", lanes, 1, 16)
        if lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two (1, 2, 4, 8 or 16), not {lanes}")
        choice_param("multipliers", multipliers, MULTIPLIERS)

    @staticmethod
    def latency_of(lanes=1, *, multipliers="dsp", x_width=16):
        """Cycles from a matrix's final step to its final y: memory read, x register,
        the product (:func:`hw.csr_stages.product_stages`: 1 with a DSP, 4 with LUTs and
        16-bit x), the adder tree (:func:`hw.csr_stages.tree_stages`: log2(lanes)),
        accumulate, y register.  Defaults: the block's."""
        return 4 + product_stages(x_width, multipliers) + tree_stages(lanes)

    @classmethod
    def cycles(cls, row_lengths, lanes=1, *, multipliers="dsp", x_width=16):
        """Cycles from a matrix's first row-length transfer to its final y when nothing
        stalls (:func:`golden.csr.matrix_cycles` with this block's latency)."""
        return matrix_cycles(row_lengths, lanes=lanes, latency=cls.latency_of(
            lanes, multipliers=multipliers, x_width=x_width))

    def elaborate(self, platform):
        m = Module()
        # Declared first: the sequencer's "inside a matrix" state decides when x may load,
        # and the y queue's credits decide when a step may issue.
        seq = Sequencer(self)
        credits = Credits(credit_depth(self.latency))

        xmem = x_memory(m, self, self.x, between_matrices=~seq.in_mat & ~seq.drain)
        seq.build(m, self.row, self.nz, xmem, x_pending=self.x.valid, credit_ok=credits.ok)

        # Products, sums and the accumulator share one width so that every adder has
        # equal-width operands; the accumulator still holds an acc_width value.
        prod_width = self.value_width + self.x_width
        width = max(self.acc_width, prod_width + (self.lanes - 1).bit_length())
        tag, products = multiply(m, self, seq, xmem.read, width)
        tag, total = adder_tree(m, tag, products, width)
        accumulate_rows(m, self, tag, total, self.y, self.error, credits,
                        reserve=seq.issue & seq.row_ends)

        m.d.comb += self.busy.eq(seq.in_mat | seq.drain | xmem.loading | ~credits.all_free)
        return m
