"""Eyeriss-style run-length codec: :class:`RLCEncoder` and :class:`RLCDecoder`.

The code (bit-exact model: :mod:`golden.rlc`) packs three (run, level) pairs into a 64-bit
word.  Pair *k* (pair 0 is the earliest) sits in bits ``[21k+20 : 21k]`` with the 5-bit run
of zeros in its low bits and the 16-bit level above; bit 63 marks the final word of a
tensor.  A run reaching 31 with a further zero becomes the pair (31, 0); the zeros still
pending at the end of a tensor (at most 31) are not coded, because the decoder is told the
tensor length and zero-fills.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .axis import stream_payload

__all__ = ["RUN_BITS", "LEVEL_BITS", "PAIRS_PER_WORD", "WORD_BITS", "RLCEncoder", "RLCDecoder",
           "RLCLoopback"]

RUN_BITS = 5
LEVEL_BITS = 16
PAIR_BITS = RUN_BITS + LEVEL_BITS
PAIRS_PER_WORD = 3
WORD_BITS = 64
MAX_RUN = (1 << RUN_BITS) - 1
LENGTH_BITS = 32


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

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(stream_payload(LEVEL_BITS))),
            "o": Out(stream.Signature(stream_payload(WORD_BITS))),
        })

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o

        run = Signal(range(MAX_RUN + 1))          # zeros pending since the last pair
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
        m.d.comb += emit_pair.eq(take & ((value != 0) | (run == MAX_RUN)))
        with m.If(take):
            with m.If(emit_pair | last):
                m.d.sync += run.eq(0)             # at `last` the pending zeros are dropped
            with m.Else():
                m.d.sync += run.eq(run + 1)

        # -- The word as it stands after this cycle's pair.
        word_now = Signal.like(acc)
        fill_now = Signal(range(PAIRS_PER_WORD + 1))
        m.d.comb += [word_now.eq(acc), fill_now.eq(fill + emit_pair)]
        with m.If(emit_pair):
            m.d.comb += word_now.word_select(fill, PAIR_BITS).eq(Cat(run, value))

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

        with m.If(take):
            with m.If(new_word):
                m.d.sync += [acc.eq(0), fill.eq(0)]
            with m.Elif(emit_pair):
                m.d.sync += [acc.eq(word_now), fill.eq(fill_now)]

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


class RLCDecoder(wiring.Component):
    """Stream of 64-bit RLC words in, stream of 16-bit values out.

    Members
    -------
    i : ``In(stream.Signature(data=64, last=1))``
        Code words of one tensor after another; ``last`` frames a tensor's words.
    o : ``Out(stream.Signature(data=16, last=1))``
        Exactly ``length`` values per tensor, ``last`` on value ``length - 1``.
    length : ``In(32)``
        Tensor length N, sampled with the first word of each tensor.
    error : ``Out(1)``
        Sticky malformed-code flag.  It rises the cycle after the problem is seen and stays
        high until the first word of the next tensor is accepted (or reset).  Its class of
        problems is exactly :func:`golden.rlc.validate`'s.

    Throughput and latency
    ----------------------
    One value per clock whenever ``o`` is ready, through zero runs and the zero-fill, and
    with no bubble between back-to-back tensors.  The first value of a tensor leaves two
    cycles after its first word is accepted, so N values take N + 2 cycles.

    Bad input
    ---------
    Whatever the words say, the tensor ends with exactly N values and ``last``: pairs beyond
    N are dropped (the remaining words of the tensor are drained up to the input ``last``),
    a code that ends early is zero-filled, and a non-canonical pair is decoded literally.
    The decoded values equal :func:`golden.rlc.decode_lenient`.  A tensor of length 0 emits
    nothing and drains its words.
    """

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(stream_payload(WORD_BITS))),
            "o": Out(stream.Signature(stream_payload(LEVEL_BITS))),
            "length": In(LENGTH_BITS),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o

        def pair_fields(word, k):
            pair = word[PAIR_BITS * k:PAIR_BITS * (k + 1)]
            return pair, pair[:RUN_BITS], pair[RUN_BITS:]

        # -- State of the tensor being decoded.
        word = Signal(PAIR_BITS * PAIRS_PER_WORD)
        word_final = Signal()   # the code ends in this word (bit 63 or the input's last)
        word_tlast = Signal()   # the input framing ends with this word
        k = Signal(range(PAIRS_PER_WORD))
        zeros = Signal(range(MAX_RUN + 1))   # zeros still to emit before pair k's level
        remaining = Signal(LENGTH_BITS)      # values still owed for this tensor

        # The sticky flag is written in one place: `flag` marks a problem seen this cycle,
        # `clear` the start of a new tensor (whose own first word may carry a problem).
        error, flag, clear = Signal(), Signal(), Signal()
        m.d.sync += error.eq((error & ~clear) | flag)
        m.d.comb += self.error.eq(error)

        owed_after = Signal(LENGTH_BITS)      # values owed once this cycle's value leaves
        m.d.comb += owed_after.eq(remaining - 1)

        o_free = ~o.valid | o.ready
        with m.If(o.ready):
            m.d.sync += o.valid.eq(0)

        def emit(value, remaining_now):
            m.d.sync += [
                o.payload.data.eq(value),
                o.payload.last.eq(remaining_now == 1),
                o.valid.eq(1),
                remaining.eq(remaining_now - 1),  # truncates: only ever called with >= 1
            ]

        # -- Decoding of an incoming word, shared by every place that accepts one.
        in_word = i.payload.data[:PAIR_BITS * PAIRS_PER_WORD]
        in_bit63 = i.payload.data[WORD_BITS - 1]
        in_tlast = i.payload.last
        in_final = in_bit63 | in_tlast
        p0, r0, _ = pair_fields(in_word, 0)
        p1, _, _ = pair_fields(in_word, 1)
        p2, _, _ = pair_fields(in_word, 2)
        in_empty = in_final & (p0 == 0)     # padding in slot 0: no pair in this word
        in_bad = Signal()
        m.d.comb += in_bad.eq(
            (in_bit63 != in_tlast) |                                   # framing disagrees
            (in_final & (((p0 == 0) & ((p1 != 0) | (p2 != 0))) |       # pair after padding
                         ((p1 == 0) & (p2 != 0)))))

        def accept(*, first, owed):
            """Take the word on `i` this cycle; `owed` is the tensor's count of values
            still owed, `first` whether this word starts the tensor."""
            m.d.comb += i.ready.eq(1)
            with m.If(i.valid):
                m.d.comb += clear.eq(first)
                # Past a tensor's first word, a final word with no pair is non-canonical.
                with m.If(in_bad if first else (in_bad | in_empty)):
                    m.d.comb += flag.eq(1)
                m.d.sync += [
                    word.eq(in_word), word_final.eq(in_final), word_tlast.eq(in_tlast),
                    k.eq(0), zeros.eq(r0), remaining.eq(owed),
                ]
                with m.If(owed == 0):
                    # Length 0: nothing to emit; only the single padding word is canonical.
                    with m.If(~(in_empty & in_bit63 & in_tlast & (in_word == 0))):
                        m.d.comb += flag.eq(1)
                    m.next = "IDLE"
                    with m.If(~in_tlast):
                        m.next = "DRAIN"
                with m.Elif(in_empty):
                    with m.If(owed > MAX_RUN):
                        m.d.comb += flag.eq(1)            # too many trailing zeros
                    m.next = "FILL"
                with m.Else():
                    m.next = "RUN"
            with m.Else():
                m.next = "IDLE" if first else "WAIT"

        def tensor_done(err_now):
            """The last value leaves this cycle; start the next tensor without a bubble,
            unless the framing says words of this one are still to come."""
            with m.If(~word_tlast):
                m.d.comb += flag.eq(1)                    # more code than values
                m.next = "DRAIN"
            with m.Elif(err_now):
                # Keep the error visible for at least one cycle before the next tensor
                # clears it, so it can always be attributed to the tensor that caused it.
                m.d.comb += flag.eq(1)
                m.next = "IDLE"
            with m.Else():
                accept(first=True, owed=self.length)

        cur_pair, cur_run, cur_level = Signal(PAIR_BITS), Signal(RUN_BITS), Signal(LEVEL_BITS)
        m.d.comb += cur_pair.eq(word.word_select(k, PAIR_BITS))
        m.d.comb += [cur_run.eq(cur_pair[:RUN_BITS]), cur_level.eq(cur_pair[RUN_BITS:])]
        next_pair = Signal(PAIR_BITS)
        with m.Switch(k):
            for kk in range(PAIRS_PER_WORD - 1):
                with m.Case(kk):
                    m.d.comb += next_pair.eq(pair_fields(word, kk + 1)[0])
        has_next = (k != PAIRS_PER_WORD - 1) & ~(word_final & (next_pair == 0))

        with m.FSM(init="IDLE"):
            with m.State("IDLE"):
                accept(first=True, owed=self.length)

            with m.State("WAIT"):       # mid-tensor, the next word has not arrived yet
                accept(first=False, owed=remaining)

            with m.State("RUN"):
                with m.If(o_free):
                    with m.If(zeros != 0):
                        emit(0, remaining)
                        m.d.sync += zeros.eq(zeros - 1)
                        with m.If(remaining == 1):
                            tensor_done(err_now=1)        # the pair's level is beyond N
                    with m.Else():
                        emit(cur_level, remaining)
                        noncanonical = (cur_level == 0) & (cur_run != MAX_RUN)
                        with m.If(noncanonical):
                            m.d.comb += flag.eq(1)
                        with m.If(remaining == 1):
                            tensor_done(err_now=noncanonical | has_next | ~word_final)
                        with m.Elif(has_next):
                            m.d.sync += [k.eq(k + 1), zeros.eq(next_pair[:RUN_BITS])]
                        with m.Elif(word_final):
                            with m.If(remaining > MAX_RUN + 1):
                                m.d.comb += flag.eq(1)    # too many trailing zeros
                            m.next = "FILL"
                        with m.Else():
                            accept(first=False, owed=owed_after)

            with m.State("FILL"):       # the code has ended; zero-fill up to N
                with m.If(o_free):
                    emit(0, remaining)
                    with m.If(remaining == 1):
                        tensor_done(err_now=0)

            with m.State("DRAIN"):      # values done, discard this tensor's other words
                m.d.comb += i.ready.eq(1)
                with m.If(i.valid & i.payload.last):
                    m.next = "IDLE"
        return m


class RLCLoopback(wiring.Component):
    """:class:`RLCEncoder` feeding :class:`RLCDecoder`: the codec's bring-up harness.

    Values in, the same values out.  ``length`` is the decoder's and must hold the length
    of the tensor the decoder starts next (constant-length tensors are the intended use).

    Parameters
    ----------
    fifo_depth : int
        Words buffered between encoder and decoder (default 64).  The decoder can only
        start a word once the encoder has released it, up to 128 values after the word's
        first value (96 values of pairs, then up to 32 more before the next pair shows it
        was not the final word).  The FIFO absorbs that lag so that it never turns into
        input backpressure: 43 words cover 128 dense values.

    Throughput is one value per clock; the latency depends on the data, at most 128
    values plus 6 cycles of pipeline.
    """

    def __init__(self, *, fifo_depth=64):
        if not isinstance(fifo_depth, int) or fifo_depth < 2:
            raise ValueError(f"FIFO depth must be an integer of at least 2, not {fifo_depth!r}")
        self._fifo_depth = fifo_depth
        super().__init__({
            "i": In(stream.Signature(stream_payload(LEVEL_BITS))),
            "o": Out(stream.Signature(stream_payload(LEVEL_BITS))),
            "length": In(LENGTH_BITS),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.encoder = encoder = RLCEncoder()
        m.submodules.decoder = decoder = RLCDecoder()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=WORD_BITS + 1, depth=self._fifo_depth)
        wiring.connect(m, wiring.flipped(self.i), encoder.i)
        m.d.comb += [
            fifo.w_data.eq(encoder.o.payload), fifo.w_en.eq(encoder.o.valid),
            encoder.o.ready.eq(fifo.w_rdy),
            decoder.i.payload.eq(fifo.r_data), decoder.i.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(decoder.i.ready),
        ]
        wiring.connect(m, decoder.o, wiring.flipped(self.o))
        m.d.comb += [decoder.length.eq(self.length), self.error.eq(decoder.error)]
        return m
