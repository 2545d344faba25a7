"""The RLC decoder, :class:`RLCDecoder` (format: :mod:`hw.rlc` and :mod:`golden.rlc`).

It has a module of its own because of its size: the checks of an incoming word
(:func:`checked_word`, :func:`decoder_entry`), then one FSM (IDLE, WAIT, RUN, FILL, DRAIN) in
:class:`RLCDecoderCore` with the datapath stages and actions that FSM uses
(:class:`_DecoderDatapath`).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.rlc import LAST_BIT, LEVEL_BITS, MAX_RUN, PAIR_BITS, PAIRS_PER_WORD, RUN_BITS, WORD_BITS

from .axis import stream_payload

__all__ = ["RLCDecoder", "RLCDecoderCore", "CHECKED_WORD", "DECODER_ENTRY", "checked_word",
           "decoder_entry", "LENGTH_BITS"]

LENGTH_BITS = 32   # width of the decoder's tensor-length port


def _above_run(count, extra=0):
    """``count > MAX_RUN + extra`` (``extra`` 0 or 1) from its bits: a wide OR instead of a
    32-bit carry chain on the path to the error flag (timing)."""
    above = count[RUN_BITS:] != 0
    if extra:
        above = (count[RUN_BITS + 1:] != 0) | (count[RUN_BITS] & (count[:RUN_BITS] != 0))
    return above


def _pair_fields(word, k):
    """Pair ``k`` of ``word``, with its run and level fields."""
    pair = word[PAIR_BITS * k:PAIR_BITS * (k + 1)]
    return pair, pair[:RUN_BITS], pair[RUN_BITS:]


#: A word with every check the decoder's FSM makes of a new word (:func:`checked_word`).
CHECKED_WORD = data.StructLayout({
    "word": PAIR_BITS * PAIRS_PER_WORD,     # the three pairs
    "tlast": 1,             # the input framing ends with this word
    "final": 1,             # the code ends in this word (bit 63 or `tlast`)
    "empty": 1,             # final, with padding in slot 0: no pair in this word
    "run0_zero": 1,         # pair 0 has a run of 0
    "next_pair": 1,         # pair 1 exists (not padding in a final word)
    "noncanonical": 1,      # pair 0 is (r, 0) with r < 31
    "bad": 1,               # framing disagrees, or a pair after padding
    "canonical_empty": 1,   # exactly `1 << 63` with `tlast`: the code of a length-0 tensor
})

#: An entry of :class:`RLCDecoderCore`'s input: a checked word, and the tensor length as it
#: was when the word arrived (the port is sampled with a tensor's first word) with its
#: compares (:func:`decoder_entry`).
DECODER_ENTRY = data.StructLayout({
    "code": CHECKED_WORD,
    "length": LENGTH_BITS,
    "length_zero": 1,
    "length_one": 1,
    "length_long": 1,       # length > MAX_RUN: too long for an empty code's trailing zeros
})


def checked_word(payload, out):
    """Assignments that fill ``out`` (a :data:`CHECKED_WORD` view) from a raw word stream's
    ``payload`` (``data``, ``last``)."""
    word = payload.data[:PAIR_BITS * PAIRS_PER_WORD]
    bit63, tlast = payload.data[LAST_BIT], payload.last
    final = bit63 | tlast
    p0, p1, p2 = (_pair_fields(word, k)[0] for k in range(PAIRS_PER_WORD))
    return [
        out.word.eq(word), out.tlast.eq(tlast), out.final.eq(final),
        out.empty.eq(final & (p0 == 0)),
        out.run0_zero.eq(_pair_fields(word, 0)[1] == 0),
        out.next_pair.eq(~(final & (p1 == 0))),
        out.noncanonical.eq(_noncanonical(word)),
        out.bad.eq((bit63 != tlast) |                                   # framing disagrees
                   (final & (((p0 == 0) & ((p1 != 0) | (p2 != 0))) |    # pair after padding
                             ((p1 == 0) & (p2 != 0))))),
        out.canonical_empty.eq(bit63 & tlast & (word == 0)),
    ]


def decoder_entry(code, length, entry):
    """Assignments that fill ``entry`` (a :data:`DECODER_ENTRY` view) from a checked word
    ``code`` (a :data:`CHECKED_WORD` value) and the tensor ``length``."""
    return [entry.code.eq(code), entry.length.eq(length), entry.length_zero.eq(length == 0),
            entry.length_one.eq(length == 1), entry.length_long.eq(_above_run(length))]


def _noncanonical(pair):
    """Pair 0 of ``pair`` is ``(r, 0)`` with ``r < 31`` (a zero level that is not a
    maximal run)."""
    _, run, level = _pair_fields(pair, 0)
    return (level == 0) & (run != MAX_RUN)


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

    #: Cycles from the transfer of a tensor's first word to the transfer of its first
    #: value while ``o`` is ready.  With nothing stalling, N values of well-formed codes (any
    #: number of back-to-back tensors) take N + latency cycles from the first input
    #: transfer to the last output transfer.  Bad input costs extra cycles (draining).
    latency = 2

    i: In(stream.Signature(stream_payload(WORD_BITS)))
    o: Out(stream.Signature(stream_payload(LEVEL_BITS)))
    length: In(LENGTH_BITS)
    error: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = RLCDecoderCore()
        # The word's checks and fields, computed on the way in (no register here: the
        # latency stays 2; the RLC loopback registers them instead, see RLCDecoderCore).
        code = Signal(CHECKED_WORD)
        m.d.comb += [checked_word(self.i.payload, code),
                     decoder_entry(code, self.length, core.i.payload),
                     core.i.valid.eq(self.i.valid), self.i.ready.eq(core.i.ready)]
        wiring.connect(m, core.o, wiring.flipped(self.o))
        m.d.comb += self.error.eq(core.error)
        return m


class RLCDecoderCore(wiring.Component):
    """:class:`RLCDecoder` behind its input checks: the same decoder, whose input stream
    carries :data:`DECODER_ENTRY` entries (the word with its checks and fields, and the
    tensor length, from :func:`decoder_entry`) instead of raw words.  A design may register
    entries between the two (the RLC loopback does) to keep the 64-bit compares on the
    word off the FSM's paths.  Throughput, latency (from the entry's transfer), backpressure
    and bad input: as :class:`RLCDecoder`.
    """

    i: In(stream.Signature(DECODER_ENTRY))
    o: Out(stream.Signature(stream_payload(LEVEL_BITS)))
    error: Out(1)

    def elaborate(self, platform):
        m = Module()
        d = _DecoderDatapath(m, self)
        with m.FSM(init="IDLE"):
            with m.State("IDLE"):
                d.accept(first=True)

            with m.State("WAIT"):       # mid-tensor, the next word has not arrived yet
                d.accept(first=False)

            with m.State("RUN"):        # expanding pair k: its zeros, then its level
                d.run()

            with m.State("FILL"):       # the code has ended; zero-fill up to N
                with m.If(d.o_free):
                    d.emit(0)
                    with m.If(d.rem_one):
                        d.tensor_done(err_now=0)

            with m.State("DRAIN"):      # values done, discard this tensor's other words
                m.d.comb += d.inp.ready.eq(1)
                with m.If(d.inp.valid & d.inp.payload.code.tlast):
                    m.next = "IDLE"
        return m


class _DecoderDatapath:
    """Everything :meth:`RLCDecoder.elaborate` builds besides the FSM, in stages: the state
    of the tensor being decoded, the sticky error, the output register, the fields of the
    word on the input and the pair being expanded; then the FSM's actions, each used in
    several states: :meth:`emit`, :meth:`accept`, :meth:`tensor_done`, :meth:`run`."""

    def __init__(self, m, dut):
        self.m, self.dut = m, dut
        self._tensor_state()
        self._sticky_error()
        self._output_register()
        self._incoming_word()
        self._current_pair()
        self._word_register()

    def _tensor_state(self):
        self.word = Signal(PAIR_BITS * PAIRS_PER_WORD)
        self.word_final = Signal()   # the code ends in this word (bit 63 or the input's last)
        self.word_tlast = Signal()   # the input framing ends with this word
        self.k = Signal(range(PAIRS_PER_WORD))
        self.zeros = Signal(range(MAX_RUN + 1))   # zeros still to emit before pair k's level
        self.at_level = Signal()   # `zeros == 0`, written with `zeros` (timing)
        self.remaining = Signal(LENGTH_BITS)      # values still owed for this tensor
        # `remaining == 1`, kept in a register of its own (written with `remaining`) so that
        # no decision of the FSM waits for a 32-bit compare or decrement (timing).
        self.rem_one = Signal()

    def _sticky_error(self):
        # The sticky flag is written in one place: `flag` marks a problem seen this cycle,
        # `clear` the start of a new tensor (whose own first word may carry a problem).
        # Problems of the word being taken (`take_first`/`take_mid`, judged by `word_bad`)
        # go to registers of their own, so that the compares on the incoming word and the
        # FSM's decisions run side by side instead of one after the other (timing); the
        # output is the OR of the three, which behaves exactly as one sticky register.
        m = self.m
        self.flag, self.take_first, self.take_mid = Signal(), Signal(), Signal()
        self.clear = self.take_first
        state_error, first_error, mid_error = Signal(), Signal(), Signal()
        self.word_bad_first, self.word_bad_mid = Signal(), Signal()
        m.d.sync += [
            state_error.eq((state_error & ~self.clear) | self.flag),
            first_error.eq(Mux(self.clear, self.word_bad_first, first_error)),
            mid_error.eq((mid_error & ~self.clear) | (self.take_mid & self.word_bad_mid)),
        ]
        m.d.comb += self.dut.error.eq(state_error | first_error | mid_error)

    def _output_register(self):
        m, o = self.m, self.dut.o
        self.o_free = ~o.valid | o.ready
        with m.If(o.ready):
            m.d.sync += o.valid.eq(0)

    def _incoming_word(self):
        """The entry on ``i``: its word, fields and checks were computed before it arrived
        (:func:`decoder_entry`); only the choice between first and later word remains."""
        m = self.m
        self.inp = self.dut.i
        entry = self.inp.payload
        w = entry.code
        self.in_word, self.in_tlast, self.in_final = w.word, w.tlast, w.final
        self.in_run0, self.in_empty = w.word[:RUN_BITS], w.empty
        # The problems of a word taken as a tensor's first word (with its length), or later.
        m.d.comb += [
            self.word_bad_first.eq(w.bad | Mux(
                entry.length_zero,
                ~w.canonical_empty,                           # length 0: only `1<<63`
                w.empty & entry.length_long)),                    # too many trailing zeros
            # Past a tensor's first word, a final word with no pair is non-canonical.
            self.word_bad_mid.eq(w.bad | w.empty),
        ]

    def _current_pair(self):
        """Pair k of the word, and whether another pair follows it in this word.  The word
        shifts down by a pair as k advances, so the current pair is always the lowest and no
        multiplexer selects it; whether a pair follows is computed one step ahead, into a
        register (timing)."""
        word = self.word
        self.cur_run, self.cur_level = _pair_fields(word, 0)[1:]
        self.next_run = _pair_fields(word, 1)[1]
        self.has_next = Signal()    # pair k + 1 exists: k < 2 and not padding in a final word
        self.noncanonical = Signal()   # pair k is (r, 0) with r < 31, also computed ahead
        # Their combinations the FSM asks for, written with them: pair k is the code's
        # last and canonical (`end_ok`), or the last of a word that is not final.
        self.end_ok, self.needs_word = Signal(), Signal()

    def _set_pair(self, has_next, noncanonical, final):
        """Write the flags of the pair about to become pair k."""
        self.m.d.sync += [
            self.has_next.eq(has_next), self.noncanonical.eq(noncanonical),
            self.end_ok.eq(~has_next & ~noncanonical & final),
            self.needs_word.eq(~has_next & ~final),
        ]

    def _word_register(self):
        """The word is loaded from the input or shifted down by a pair, in one place:
        `has_next` alone selects which (it is 0 outside RUN, and in RUN a word is only
        taken after the last pair), so the FSM's decisions only drive the enable (timing)."""
        self.word_write = Signal()
        with self.m.If(self.word_write):
            self.m.d.sync += self.word.eq(
                Mux(self.has_next, self.word >> PAIR_BITS, self.in_word))

    # -- actions of the FSM

    def emit(self, value):
        """Put ``value`` on the output; ``remaining`` (>= 1) values were owed."""
        o = self.dut.o
        self.m.d.sync += [
            o.payload.data.eq(value),
            o.payload.last.eq(self.rem_one),
            o.valid.eq(1),
            self.remaining.eq(self.remaining - 1),  # truncates: only ever called with >= 1
            self.rem_one.eq(self.remaining == 2),
        ]

    def accept(self, *, first):
        """Take the word on `i` this cycle; `first` whether this word starts the tensor."""
        m, i = self.m, self.inp
        m.d.comb += i.ready.eq(1)
        with m.If(i.valid):
            # The word's own problems (see `_incoming_word`) are flagged through these.
            m.d.comb += (self.take_first if first else self.take_mid).eq(1)
            m.d.comb += self.word_write.eq(1)
            m.d.sync += [
                self.word_final.eq(self.in_final),
                self.word_tlast.eq(self.in_tlast),
                self.k.eq(0), self.zeros.eq(self.in_run0),
                self.at_level.eq(i.payload.code.run0_zero),
            ]
            self._set_pair(i.payload.code.next_pair, i.payload.code.noncanonical, self.in_final)
            # Mid-tensor, `remaining` already holds the count (`emit` wrote it), and it is
            # at least 1, so only the first word needs the tests on the count.
            if first:
                m.d.sync += [self.remaining.eq(i.payload.length),
                             self.rem_one.eq(i.payload.length_one)]
            with m.If(i.payload.length_zero if first else 0):     # length 0: nothing to emit
                m.d.sync += self.has_next.eq(0)         # outside RUN (`_word_register`)
                m.next = "IDLE"
                with m.If(~self.in_tlast):
                    m.next = "DRAIN"
            with m.Elif(self.in_empty):
                m.d.sync += self.has_next.eq(0)
                m.next = "FILL"
            with m.Else():
                m.next = "RUN"
        with m.Else():
            m.next = "IDLE" if first else "WAIT"

    def tensor_done(self, err_now):
        """The last value leaves this cycle; start the next tensor without a bubble,
        unless the framing says words of this one are still to come."""
        m = self.m
        with m.If(~self.word_tlast):
            m.d.comb += self.flag.eq(1)                    # more code than values
            m.d.sync += self.has_next.eq(0)                # see `_word_register`
            m.next = "DRAIN"
        with m.Elif(err_now):
            # Keep the error visible for at least one cycle before the next tensor
            # clears it, so it can always be attributed to the tensor that caused it.
            m.d.comb += self.flag.eq(1)
            m.d.sync += self.has_next.eq(0)
            m.next = "IDLE"
        with m.Else():
            self.accept(first=True)

    def run(self):
        """State RUN: one zero of pair k's run, or its level, per free output cycle."""
        m, remaining = self.m, self.remaining
        with m.If(self.o_free):
            with m.If(~self.at_level):
                self.emit(0)
                m.d.sync += [self.zeros.eq(self.zeros - 1), self.at_level.eq(self.zeros == 1)]
                with m.If(self.rem_one):
                    self.tensor_done(err_now=1)            # the pair's level is beyond N
            with m.Else():
                self.emit(self.cur_level)
                noncanonical = self.noncanonical
                with m.If(noncanonical):
                    m.d.comb += self.flag.eq(1)
                with m.If(self.rem_one):
                    self.tensor_done(err_now=~self.end_ok)
                with m.Elif(self.has_next):
                    # k + 1 < 2 only from k = 0; then pair 2 follows unless it is padding.
                    after = (self.k == 0) & ~(self.word_final &
                                              (_pair_fields(self.word, 2)[0] == 0))
                    m.d.sync += [self.k.eq(self.k + 1), self.zeros.eq(self.next_run),
                                 self.at_level.eq(self.next_run == 0)]
                    m.d.comb += self.word_write.eq(1)          # shifts (`has_next`)
                    self._set_pair(after, _noncanonical(self.word[PAIR_BITS:]),
                                   self.word_final)
                with m.Elif(self.needs_word):              # not final: the next word
                    self.accept(first=False)
                with m.Else():                             # final: zero-fill the rest
                    with m.If(_above_run(remaining, 1)):
                        m.d.comb += self.flag.eq(1)        # too many trailing zeros
                    m.next = "FILL"
