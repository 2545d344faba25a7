"""Eyeriss-style run-length codec: :class:`RLCEncoder`, :class:`RLCDecoder` (in
:mod:`hw.rlc_decoder`, imported from here by everyone) and :class:`RLCLoopback`.

The code (bit-exact model: :mod:`golden.rlc`) packs three (run, level) pairs into a 64-bit
word.  Pair *k* (pair 0 is the earliest) sits in bits ``[21k+20 : 21k]`` with the 5-bit run
of zeros in its low bits and the 16-bit level above; bit 63 marks the final word of a
tensor.  A run reaching 31 with a further zero becomes the pair (31, 0); the zeros still
pending at the end of a tensor (at most 31) are not coded, because the decoder is told the
tensor length and zero-fills.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from golden.rlc import LEVEL_BITS, MAX_RUN, PAIR_BITS, PAIRS_PER_WORD, WORD_BITS

from .axis import RegisterSlice, stream_payload
from .rlc_decoder import (CHECKED_WORD, DECODER_ENTRY, LENGTH_BITS, RLCDecoder, RLCDecoderCore,
                          checked_word, decoder_entry)

__all__ = ["RLCEncoder", "RLCDecoder", "RLCLoopback"]


class RLCEncoder(wiring.Component):
    """Stream of 16-bit values in, stream of 64-bit RLC words out.

    Members
    -------
    i : ``In(stream.Signature(data=16, last=1))``
        Values; ``last`` marks the final element of a tensor.
    o : ``Out(stream.Signature(data=64, last=1))``
        Code words; ``last`` (and bit 63) mark the final word of a tensor.

    Throughput and latency
    ----------------------
    One value per clock, with no bubble between back-to-back tensors, whenever ``o`` is
    ready.  The final word of a tensor leaves two cycles after its last value was accepted,
    so a tensor of N values takes N + 2 cycles from first input to last output transfer.

    Backpressure
    ------------
    ``o`` holds its payload while ``o.ready`` is low; ``i.ready`` falls only when both the
    output register and the one-word hold register are occupied, so no value is ever lost.
    """

    #: Cycles, at most, from the transfer of a tensor's last value to the transfer of its
    #: final word while ``o`` is ready (1 when that word was already full).  With nothing
    #: stalling, N values (any number of back-to-back tensors) take at most N + latency
    #: cycles from the first input transfer to the last output transfer.
    latency = 2

    i: In(stream.Signature(stream_payload(LEVEL_BITS)))
    o: Out(stream.Signature(stream_payload(WORD_BITS)))

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o

        run = Signal(range(MAX_RUN + 1))          # zeros pending since the last pair
        run_full = Signal()                       # `run == MAX_RUN`, kept ahead (timing)
        acc = Signal(PAIR_BITS * PAIRS_PER_WORD)  # pairs of the word being filled
        fill = Signal(range(PAIRS_PER_WORD))      # pairs already in `acc`

        # A full word cannot leave straight away: whether it is the tensor's final word
        # (bit 63) is only known once another pair arrives or the tensor ends.  It waits in
        # `hold` until then ("resolved"), which also lets one input cycle produce a word
        # while the previous one is still being resolved.
        hold = Signal(PAIR_BITS * PAIRS_PER_WORD)
        hold_valid = Signal()
        hold_resolved = Signal()
        hold_final = Signal()

        o_free = ~o.valid | o.ready
        m.d.comb += i.ready.eq(~hold_valid | o_free)
        take = i.valid & i.ready
        value, last = i.payload.data, i.payload.last

        # -- Pair formation: a non-zero value, or the 32nd pending zero, closes a pair.
        emit_pair = Signal()
        m.d.comb += emit_pair.eq(take & ((value != 0) | run_full))
        with m.If(take):
            with m.If(emit_pair | last):
                m.d.sync += [run.eq(0), run_full.eq(0)]   # at `last` pending zeros are dropped
            with m.Else():
                m.d.sync += [run.eq(run + 1), run_full.eq(run == MAX_RUN - 1)]

        # -- The word as it stands after this cycle's pair.
        word_now = Signal.like(acc)
        fill_now = Signal(range(PAIRS_PER_WORD + 1))
        # The slots from `fill` on are always zero (`acc` is cleared with each new word),
        # so the pair is ORed into its slot rather than multiplexed (timing).
        pair_in = Signal.like(acc)
        with m.If(emit_pair):
            m.d.comb += pair_in.word_select(fill, PAIR_BITS).eq(Cat(run, value))
        m.d.comb += [word_now.eq(acc | pair_in), fill_now.eq(fill + emit_pair)]

        hold_pending = hold_valid & ~hold_resolved
        word_full = fill_now == PAIRS_PER_WORD
        word_ends = take & last & (fill_now != 0)
        # A tensor that produced no pair at all still ends with one word of padding.
        pad_only = take & last & (fill_now == 0) & ~hold_pending
        new_word = word_full | word_ends | pad_only

        # -- Resolving the held word: a new pair means it was not final; the end of the
        # tensor with no new pair means it was.
        resolve = hold_pending & take & (emit_pair | last)
        resolved_now = hold_resolved | resolve
        final_now = Signal()
        m.d.comb += final_now.eq(hold_final)
        with m.If(resolve):
            m.d.comb += final_now.eq(last & ~emit_pair)
        hold_leaves = hold_valid & resolved_now & o_free

        # Without a pair, `word_now` is `acc` and `fill_now` is `fill`, so `take` alone
        # enables the update and the late `emit_pair` only reaches the data (timing).
        with m.If(take):
            m.d.sync += [acc.eq(Mux(new_word, 0, word_now)), fill.eq(Mux(new_word, 0, fill_now))]

        # `new_word` only happens when `hold` is free or leaving (see i.ready above and the
        # fact that a pending `hold` keeps `acc` empty until a pair resolves it).
        with m.If(new_word):
            m.d.sync += [
                hold.eq(word_now),
                hold_valid.eq(1),
                hold_resolved.eq(last),
                hold_final.eq(last),
            ]
        with m.Elif(hold_leaves):
            m.d.sync += hold_valid.eq(0)
        with m.Elif(resolve):
            m.d.sync += [hold_resolved.eq(1), hold_final.eq(final_now)]

        # -- Output register.
        with m.If(hold_leaves):
            m.d.sync += [
                o.payload.data.eq(Cat(hold, final_now)),
                o.payload.last.eq(final_now),
                o.valid.eq(1),
            ]
        with m.Elif(o.ready):
            m.d.sync += o.valid.eq(0)
        return m


class RLCLoopback(wiring.Component):
    """:class:`RLCEncoder` feeding :class:`RLCDecoder`: the codec's bring-up harness.

    Values in, the same values out.  ``length`` is the decoder's and must hold the length
    of the tensor the decoder starts next (constant-length tensors are the intended use).

    Parameters
    ----------
    fifo_depth : int
        Words buffered between encoder and decoder (default 64, at least 2; a registry
        parameter: ``python -m hw generate rlc_loopback --param fifo_depth=N``).  The
        decoder can only start a word once the encoder has released it, up to
        :attr:`WORD_LAG` values after the word's first value.  The FIFO absorbs that lag so
        that it never turns into input backpressure: :attr:`FULL_RATE_DEPTH` words cover
        that many dense values.

    Throughput is one value per clock; the latency depends on the data, at most
    :attr:`WORD_LAG` values plus 7 cycles of pipeline (:attr:`latency` in all).
    """

    #: Cycles a word takes from the encoder to the decoder: 1 through a register slice
    #: that keeps the FIFO's level compare (its ``w_rdy``) off the encoder's paths, 1
    #: through the FIFO (:class:`SyncFIFO`, whose storage is read asynchronously and so
    #: maps to LUT RAM), then 1 through a register slice that holds the word already
    #: checked for the decoder (:func:`~hw.rlc_decoder.decoder_entry`), so that neither the
    #: read nor the 64-bit compares on the word are on the decoder's FSM paths.  (A
    #: :class:`SyncFIFOBuffered` maps to block RAM; a DP16KD FIFO with a slice measured
    #: 102-110 MHz, before fpga/pack.py put RAM output registers to use; the LUT-RAM
    #: FIFO between two slices is what the README's figures are for.)
    FIFO_LATENCY = 3
    #: Values by which the decoder can trail the encoder's input: a word spans up to
    #: 3 × 32 values of pairs, and is held until the next pair (up to 32 values on) shows
    #: that it is not the final word: (PAIRS_PER_WORD + 1) × (MAX_RUN + 1) = 128.
    WORD_LAG = (PAIRS_PER_WORD + 1) * (MAX_RUN + 1)
    #: The FIFO depth that holds :attr:`WORD_LAG` values of dense data (3 values a word),
    #: 43: with at least this depth the lag never pushes back on the input.
    FULL_RATE_DEPTH = -(-WORD_LAG // PAIRS_PER_WORD)
    #: With nothing stalling and ``fifo_depth >= FULL_RATE_DEPTH``, N values (any number of
    #: back-to-back tensors of the set ``length``) take at most N + latency cycles from the
    #: first input transfer to the last output transfer: 2 + 3 + 2 + 128 = 135.
    latency = RLCEncoder.latency + FIFO_LATENCY + RLCDecoder.latency + WORD_LAG

    i: In(stream.Signature(stream_payload(LEVEL_BITS)))
    o: Out(stream.Signature(stream_payload(LEVEL_BITS)))
    length: In(LENGTH_BITS)
    error: Out(1)

    def __init__(self, *, fifo_depth=64):
        if not isinstance(fifo_depth, int) or fifo_depth < 2:
            raise ValueError(f"FIFO depth must be an integer of at least 2, not {fifo_depth!r}")
        self.fifo_depth = fifo_depth
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.encoder = encoder = RLCEncoder()
        m.submodules.decoder = decoder = RLCDecoderCore()
        wiring.connect(m, wiring.flipped(self.i), encoder.i)
        # The FIFO stores each word already checked for the decoder (`checked_word`: the
        # word's fields and compares, computed from the encoder's output register), and
        # register slices sit on both sides of it: every path into or out of the FIFO starts
        # and ends at a register, and neither the FIFO's LUT-RAM read nor a 64-bit compare
        # is on the decoder's paths (timing).  The tensor length joins at the read side.
        m.submodules.w_slice = w_slice = RegisterSlice(CHECKED_WORD)
        m.submodules.fifo = fifo = SyncFIFO(width=CHECKED_WORD.size, depth=self.fifo_depth)
        m.submodules.r_slice = r_slice = RegisterSlice(DECODER_ENTRY)
        m.d.comb += [checked_word(encoder.o.payload, w_slice.i.payload),
                     w_slice.i.valid.eq(encoder.o.valid), encoder.o.ready.eq(w_slice.i.ready)]
        wiring.connect(m, w_slice.o, fifo.w_stream)
        m.d.comb += [decoder_entry(fifo.r_stream.payload, self.length, r_slice.i.payload),
                     r_slice.i.valid.eq(fifo.r_stream.valid),
                     fifo.r_stream.ready.eq(r_slice.i.ready)]
        wiring.connect(m, r_slice.o, decoder.i)
        wiring.connect(m, decoder.o, wiring.flipped(self.o))
        m.d.comb += self.error.eq(decoder.error)
        return m
