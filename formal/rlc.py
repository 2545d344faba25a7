"""Properties of the RLC codec tops: ``rlc_encoder``, ``rlc_decoder``, ``rlc_loopback``.

The stream rules on every port come from :mod:`formal.axis` (via the harness); this file
adds each block's own promises (docstrings of :mod:`hw.rlc`):

* encoder: one final word (``tlast``, bit 63 equal to it) per input tensor, never more
  words than values, and the final word transfers exactly 2 cycles after the tensor's last
  value when the output is always ready (one value per clock: ``i.ready`` stays high);
* decoder: exactly N values per tensor, ``last`` on value N-1, whatever the words say
  (N = ``length`` held constant, N <= ``MAX_LEN``); values of a tensor in consecutive
  cycles, the first two cycles after its first word; ``error`` low after reset and only
  cleared by the next tensor's first word;
* loopback: the values out are exactly the values in, tensor by tensor, no error.
"""

from amaranth.hdl import Array, Assert, Assume, Const, Cover, Mux, Signal
from amaranth.hdl._ast import AnyConst   # 0.5: not re-exported by amaranth.hdl

from hw.rlc import WORD_BITS

from .harness import past

__all__ = ["MAX_LEN", "constant_length", "encoder_count", "encoder_live", "decoder_count",
           "decoder_error", "decoder_live", "loopback_roundtrip", "loopback_long_runs"]

MAX_LEN = 8   # tensor length bound of the decoder checks


def always_offering(env, prefix="s_axis"):
    """Assume the input stream offers a beat in every cycle after reset."""
    with env.m.If(~env.rst):
        env.m.d.comb += Assume(env.port[f"{prefix}_tvalid"], f"{prefix}: always offering")


def constant_length(env, lo, hi):
    """Assume the ``length`` input is one value in [lo, hi] for the whole trace."""
    m, length = env.m, env.port["length"]
    m.d.comb += Assume((length >= lo) & (length <= hi), f"length in [{lo}, {hi}]")
    prev = past(m, length)
    with m.If(~env.rst):
        m.d.comb += Assume(length == prev, "length constant")
    return length


# ------------------------------------------------------------------------- encoder

def encoder_count(env):
    """One final word per tensor, bit 63 == tlast, no word without a value behind it."""
    m, i, o = env.m, env.watch["s_axis"], env.watch["m_axis"]
    data, last = env.port["m_axis_tdata"], env.port["m_axis_tlast"]
    with m.If(o.valid):
        m.d.comb += Assert(data[WORD_BITS - 1] == last, "bit 63 differs from tlast")
    # in.lasts - out.lasts tensors are in flight: at most the output register and hold.
    m.d.comb += [
        Assert(o.lasts <= i.lasts, "a final word without its tensor"),
        Assert(i.lasts - o.lasts <= 2, "a tensor's final word lost"),
        Assert(o.count <= i.count, "more words than values"),
    ]


def encoder_live(env):
    """Output always ready: the encoder never stalls its input, and a tensor's final word
    transfers at most 2 cycles after its last value (N values: at most N + 2 cycles)."""
    m, i, o = env.m, env.watch["s_axis"], env.watch["m_axis"]
    always_offering(env)
    with m.If(~env.rst):
        m.d.comb += Assert(env.port["s_axis_tready"], "input stalled with the output ready")
    # Tensors whose last value went in 3 or more cycles ago have had their final word out.
    m.d.comb += Assert(o.lasts >= past(m, i.lasts, 2), "final word later than 2 cycles")
    m.d.comb += Cover(o.transfer & env.port["m_axis_tlast"] & (o.lasts == 2), "third tensor ends")


# ------------------------------------------------------------------------- decoder

def _value_index(env, prefix="m_axis"):
    """Index of the next value of stream ``prefix`` within its tensor."""
    m, s = env.m, env.watch[prefix]
    index = Signal(8, name=f"{prefix}_index")
    with m.If(s.transfer):
        m.d.sync += index.eq(index + 1)
        with m.If(env.port[f"{prefix}_tlast"]):
            m.d.sync += index.eq(0)
    return index


def _framed_input(env, n):
    """Assume the input comes in tensors of ``n`` values (``tlast`` on value n-1); returns
    the index of the next input value within its tensor."""
    in_index = _value_index(env, "s_axis")
    with env.m.If(env.port["s_axis_tvalid"]):
        env.m.d.comb += Assume(env.port["s_axis_tlast"] == (in_index == n - 1),
                               "input framed in tensors of N")
    return in_index


def _zero_run(env):
    """Zeros in a row at the input so far (within a tensor)."""
    zeros = Signal(8, name="zero_run")
    with env.m.If(env.watch["s_axis"].transfer):
        env.m.d.sync += zeros.eq(((env.port["s_axis_tdata"] == 0) & ~env.port["s_axis_tlast"])
                                 * (zeros + 1))
    return zeros


def _first_words(env):
    """Comb: a tensor's first word is accepted this cycle."""
    i = env.watch["s_axis"]
    return i.transfer & i.at_start


def decoder_count(env):
    """Exactly N values per tensor, ``last`` on value N-1; never a tensor not started."""
    m, o = env.m, env.watch["m_axis"]
    n = constant_length(env, 0, MAX_LEN)
    index = _value_index(env)
    started = Signal(8, name="tensors_started")
    with m.If(_first_words(env)):
        m.d.sync += started.eq(started + 1)
    with m.If(o.valid):
        m.d.comb += [
            Assert(n != 0, "a value for a tensor of length 0"),
            Assert(index < n, "more than N values"),
            Assert(env.port["m_axis_tlast"] == (index == n - 1), "last not on value N-1"),
        ]
    m.d.comb += Assert(o.lasts <= started, "a tensor ended that never started")
    m.d.comb += Cover(o.transfer & env.port["m_axis_tlast"] & (n == 3) & (o.lasts == 1),
                      "second tensor of 3 values ends")


def decoder_error(env):
    """``error``: low after reset; once high it stays high until the first word of the
    next tensor is accepted (the cycle after that transfer it may be low)."""
    m, error = env.m, env.port["error"]
    first = past(m, _first_words(env))
    with m.If(past(m, env.rst)):
        m.d.comb += Assert(~error, "error high after reset")
    with m.If(~env.rst & past(m, error) & ~error):
        m.d.comb += Assert(first, "error cleared without a new tensor")
    m.d.comb += [
        Cover(~env.rst & ~past(m, error) & error, "error rises"),
        Cover(~env.rst & past(m, error) & ~error, "error clears"),
    ]


def decoder_live(env):
    """Output always ready, input always offering: a tensor's values leave in consecutive
    cycles, the first 2 cycles after its first word (N values: N + 2 cycles)."""
    m, o = env.m, env.watch["m_axis"]
    always_offering(env)
    n = constant_length(env, 1, MAX_LEN)
    index = _value_index(env)
    began = past(m, _first_words(env), 2)
    with m.If(began):
        m.d.comb += Assert(o.transfer & (index == 0), "first value not 2 cycles after its word")
    with m.If(past(m, o.transfer & ~env.port["m_axis_tlast"])):
        m.d.comb += Assert(o.transfer, "a bubble inside a tensor")
    m.d.comb += Cover(o.transfer & env.port["m_axis_tlast"] & (n == MAX_LEN), "tensor of 8 ends")


# ------------------------------------------------------------------------ loopback

def loopback_roundtrip(lo, hi, depth):
    """Values out equal values in (tensor length N constant in [lo, hi], framed by the
    input's tlast on value N-1), ``last`` on value N-1, and ``error`` never rises."""
    def props(env):
        m, i, o = env.m, env.watch["s_axis"], env.watch["m_axis"]
        n = constant_length(env, lo, hi)
        _framed_input(env, n)
        # Scoreboard: every value in, in order (a trace of `depth` cycles holds fewer).
        seen = Array(Signal(16, name=f"sent{k}") for k in range(depth))
        with m.If(i.transfer):
            m.d.sync += seen[i.count].eq(env.port["s_axis_tdata"])
        index = _value_index(env)
        with m.If(o.valid):
            m.d.comb += [
                Assert(o.count < i.count, "a value out before it went in"),
                Assert(env.port["m_axis_tdata"] == seen[o.count], "value differs"),
                Assert(env.port["m_axis_tlast"] == (index == n - 1), "last not on value N-1"),
            ]
        m.d.comb += Assert(~env.port["error"], "error on the encoder's own code")
        zeros = _zero_run(env)
        m.d.comb += Cover(o.transfer & env.port["m_axis_tlast"] & (n == hi), "longest tensor out")
        if hi > 32:
            m.d.comb += Cover(i.transfer & (zeros == 32) & (env.port["s_axis_tdata"] != 0),
                              "a run of 32 zeros, then a value")
    props.__name__ = f"loopback_roundtrip({lo}, {hi})"
    return props


def loopback_long_runs(lo, hi, free=2):
    """Round trip of tensors of N in [lo, hi] values (N constant) that are zero except at
    ``free`` positions chosen freely (``AnyConst``), whose values are free too (one value
    per position for the whole trace): runs of zeros up to N - 1 long, runs over 31
    included, reach the decoder.  The input always offers and the output is always ready
    (the harness's ``live`` environment), so a tensor of N values passes in N + a few
    cycles, which keeps the BMC depth near N.  The expected value at index k is known
    without a scoreboard (the positions' values, else 0): values out equal values in,
    ``last`` on value N-1, ``error`` never rises.  The suite runs ``free = 1`` (N = 33);
    ``free = 2`` with N = 40 (depth 89) was still on step 54 after about 200 s."""
    def props(env):
        m, i, o = env.m, env.watch["s_axis"], env.watch["m_axis"]
        n = constant_length(env, lo, hi)
        always_offering(env)
        width = len(env.port["s_axis_tdata"])
        spots = [(AnyConst(8), AnyConst(width))
                 for k in range(free)]

        def expected(index):
            value = Const(0, width)
            for pos, val in spots:
                value = Mux(index == pos, val, value)
            return value

        in_index = _framed_input(env, n)
        with m.If(env.port["s_axis_tvalid"]):
            m.d.comb += Assume(env.port["s_axis_tdata"] == expected(in_index),
                               "zero except at the free positions")
        index = _value_index(env)
        with m.If(o.valid):
            m.d.comb += [
                Assert(env.port["m_axis_tdata"] == expected(index), "value differs"),
                Assert(env.port["m_axis_tlast"] == (index == n - 1), "last not on value N-1"),
            ]
        m.d.comb += Assert(~env.port["error"], "error on the encoder's own code")
        zeros = _zero_run(env)
        m.d.comb += [
            Cover(o.transfer & env.port["m_axis_tlast"] & (n == hi), "longest tensor out"),
            Cover(o.transfer & env.port["m_axis_tlast"] & (o.count == 32) & (n == 33)
                  & (spots[0][0] == 32) & (spots[0][1] != 0),
                  "32 zeros then a value, out"),
            Cover(o.transfer & env.port["m_axis_tlast"] & (o.count == 32) & (n == 33)
                  & (spots[0][0] == 0) & (spots[0][1] != 0),
                  "a value then 32 zeros, out"),
            Cover(i.transfer & (zeros >= 32) & (env.port["s_axis_tdata"] != 0),
                  "a run of 32 zeros, then a value"),
        ]
    props.__name__ = f"loopback_long_runs({lo}, {hi}, {free})"
    return props
