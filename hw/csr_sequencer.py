"""The issue stage of :class:`hw.csr_spmv.CSRSpMV`: row lengths and ``nz`` beats -> one
*step* per clock (a beat of up to ``lanes`` non-zeros, or one empty row) with its row end,
final row and error, every matrix paired with exactly its own ``nz`` frame.

* :class:`Sequencer`: the row and beat state, the modes (what the next step may be, from
  registers alone), the takes and the register updates;
* :func:`decode_lanes`: a beat's slots (value, column, active, in range), and the memory
  read addresses (0 for an inactive slot).

The pipeline behind it (x memory, multiply, adder tree, accumulator and y queue) is in
:mod:`hw.csr_stages`.
"""

from typing import NamedTuple

from amaranth.hdl import Cat, Const, Mux, Signal

from .datapath import fits_signed, gt_const, incr, lt_var

__all__ = ["Lane", "decode_lanes", "Sequencer"]


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
    matrix's error one stage later (:func:`hw.csr_stages.multiply`), off the paths that
    decide what is taken.
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
        """``x`` is the :class:`hw.csr_stages.XMemory`, ``x_pending`` the x stream's valid
        (a pending x goes before a new matrix), ``credit_ok`` a free y-queue entry."""
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
        # This step's data checks, registered apart and combined one stage on (stage 1,
        # in hw.csr_stages): the slots' compares with ncols end at flip-flops
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
