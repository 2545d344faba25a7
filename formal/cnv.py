"""Properties of the Cnvlutin chain: zero-skip mode proven equal to dense mode (a miter).

``zero_skip_equals_dense``: the ``cnv_chain`` under check runs in zero-skip mode (``dense =
0``, ``threshold = 0``, or with ``free_threshold`` a free constant ``T``: any
``value_width``-bit value, 0 included); a twin built with the same parameters runs in dense
mode (``dense = 1``, ``threshold = 0``), the baseline that sends every activation, zeros
included. With a free ``T`` the twin's activations are the workload's with every ``|a| <
T`` replaced by 0 (strictly below, as :func:`golden.cnv.apply_threshold` defines it and
:func:`golden.cnv.reference` sums; computed here from the magnitude, not by the encoder's
mask stage), so the check proves the encoders' thresholding as well: zero-skip with
threshold ``T`` = dense, unthresholded, on the thresholded activations. The two consume
their inputs at different rates, so they do not share handshakes: both get the same
*workload*, free constants chosen once per trace (``AnyConst``): ``K`` weights per filter
and the activations of ``windows`` windows, and each chain is fed by its own driver
(:class:`_Driver`): the ``K`` weight beats, then (from the clock after the first weight
beat, so no window can start before the load) the windows' bricks, one per lane and window
in :data:`SMALL` (``K = lanes·brick``), every valid held until its own chain takes it. Each
driver stream has a free stall bit (``AnySeq``, an input of the harness) and each chain's
output a free ``tready``, so every interleaving of backpressure is covered; with ``live``
(the harness's bounded-liveness environment) nothing stalls; with ``input_stalls=False``
only the outputs' ready is free. The suite (:mod:`formal.suite`, which says why) runs one
window with every stall free and a free ``T``, and two windows with nothing stalled and
``T = 0``.

Asserted in every cycle, to the BMC depth: output ``n`` of the zero-skip chain equals
output ``n`` of the dense chain once both have produced it (every filter's sum), neither
produces more than ``windows`` outputs, and ``error``/``enc_error`` stay low on both.
With ``live``: the zero-skip chain produces every output no later than the dense chain,
and both have produced all of them by the dense chain's cycle count from the cycle model
(:func:`dense_done`, from :mod:`golden.cnv`'s latencies), so the equality is not only
asserted about outputs that might never come.  Equality holds for any wrapped sum, since
``overflow = "wrap"`` is modular (a saturating accumulator depends on the step order, which
zero skipping changes, so the property is stated for ``wrap``).

:func:`drop_small_values` is the broken design: the zero-skip chain's encoders see
threshold 2 (whatever ``T`` is), so every ``±1`` activation is dropped as if it were zero;
the miter must fail.
:func:`threshold_off_by_one` breaks the free-``T`` miter: the encoders see ``T + 1``
(``|a| <= T`` dropped, a ``<=`` written for ``<``); it must fail too.
"""

from amaranth.asserts import AnyConst, AnySeq      # 0.5: their public home
from amaranth.hdl import Array, Assert, Assume, Cat, Const, Cover, Mux, ResetSignal, Signal

from golden.cnv import chain_latency, unit_latency
from hw.blocks import build_top

from .harness import past

__all__ = ["SMALL", "WINDOWS", "K", "dense_done", "zero_skip_equals_dense",
           "drop_small_values", "threshold_off_by_one"]

# Four lanes of one brick of two activations each (K = 8), one filter, 2-bit signed values
# and weights (the constructor minimum; in the 8-bit fields), an 8-bit accumulator: sums
# of 8 products of [-2, 1] x [-2, 1] never wrap.  lanes = 4 is also the AXI port set the
# harness watches for cnv_chain (the block's default streams).
SMALL = dict(lanes=4, filters=1, brick=2, value_width=2, weight_width=2, acc_width=8,
             max_k=8)
K = SMALL["lanes"] * SMALL["brick"]     # weights per filter = activations per window
WINDOWS = 2


def dense_done(params=SMALL, windows=WINDOWS):
    """The cycle (counted from reset, cycle 0) in which the dense chain's last output
    transfers, nothing stalled: weight beat ``i`` in cycle ``1 + i``; the bricks from cycle
    2 reach the unit ``chain_latency - unit_latency`` clocks later (the encoders and the
    FIFO between them and the unit); the first step waits for both; a dense window takes
    ``brick`` steps (one beat per activation); the last output leaves ``unit_latency``
    after the final step."""
    k, lanes = params["lanes"] * params["brick"], params["lanes"]
    first_step = max(1 + k, 2 + chain_latency(lanes) - unit_latency(lanes))
    return first_step + windows * params["brick"] - 1 + unit_latency(lanes)


class _Driver:
    """One chain's inputs: ``K`` weight beats (``tlast`` on the last), then ``windows``
    windows of one brick per lane (``tlast`` on each: the lane's only brick), each stream
    with its own stall bit; data come from the counters, so they hold with ``valid``."""

    def __init__(self, m, name, params, weights, acts, ready_w, ready_lanes, stalls):
        L, B, F = params["lanes"], params["brick"], params["filters"]
        rst = ResetSignal()
        # -- weights: beat i holds w[f][i] of every filter, sign-extended to 8 bits
        wi = Signal(range(K + 1), name=f"{name}_wi")
        words = Array(Cat(_sext(weights[f][i], 8) for f in range(F)) for i in range(K))
        self.w_valid, self.w_data, self.w_last = self._offer(
            m, f"{name}_w", ~rst & (wi < K), stalls[0], ready_w, wi), words[wi], wi == K - 1
        # -- lanes: window n's brick k holds a[n][k·B + j]; length B above the values
        self.lanes = []
        started = wi != 0              # the load has begun: no window can start before it
        for k in range(L):
            n = Signal(range(len(acts) + 1), name=f"{name}_n{k}")
            bricks = Array(Cat(*(_sext(acts[w][k * B + j], 8) for j in range(B)), Const(B, 8))
                           for w in range(len(acts)))
            valid = self._offer(m, f"{name}_lane{k}", ~rst & started & (n < len(acts)),
                                stalls[1 + k], ready_lanes[k], n)
            self.lanes.append((valid, bricks[n], Const(1)))

    @staticmethod
    def _offer(m, name, pending, stall, ready, counter):
        """``valid``: ``pending`` and not stalled, or held since it was offered."""
        valid, held = Signal(name=f"{name}_valid"), Signal(name=f"{name}_held")
        m.d.comb += valid.eq(pending & (held | ~stall))
        m.d.sync += held.eq(valid & ~ready)
        with m.If(valid & ready):
            m.d.sync += counter.eq(counter + 1)
        return valid


def _sext(value, width):
    return Cat(value, value[-1].replicate(width - len(value)))


def _workload(m, params, windows):
    """Free constants: ``weights[f][i]`` and ``acts[n][i]``, 2-bit signed values each."""
    VW, WW, F = params["value_width"], params["weight_width"], params["filters"]
    weights = [[Signal(WW, name=f"w{f}_{i}") for i in range(K)] for f in range(F)]
    acts = [[Signal(VW, name=f"a{n}_{i}") for i in range(K)] for n in range(windows)]
    for sig in [s for row in weights + acts for s in row]:
        m.d.comb += sig.eq(AnyConst(len(sig)))
    return weights, acts


def _free_bits(m, name, count, live):
    """``count`` free bits, new each cycle (stall bits, a ready); all 0 with ``live``."""
    bits = [Signal(name=f"{name}{s}") for s in range(count)]
    for b in bits:
        m.d.comb += b.eq(0 if live else AnySeq(1))
    return bits


class _Outputs:
    """The first ``windows`` output beats of one chain, in order, as they transfer."""

    def __init__(self, m, name, transfer, data, windows):
        self.count = Signal(range(windows + 2), name=f"{name}_outs")
        self.have = [Signal(name=f"{name}_have{n}") for n in range(windows)]
        self.data = [Signal(len(data), name=f"{name}_out{n}") for n in range(windows)]
        with m.If(transfer):
            with m.If(self.count <= windows):
                m.d.sync += self.count.eq(self.count + 1)
            for n in range(windows):
                with m.If(self.count == n):
                    m.d.sync += [self.have[n].eq(1), self.data[n].eq(data)]


def zero_skip_equals_dense(windows=WINDOWS, input_stalls=True, free_threshold=False):
    """The miter on ``windows`` windows; ``input_stalls`` False: the drivers never pause
    (only the two outputs' ready is free), a smaller search for the solver.
    ``free_threshold``: the zero-skip chain's ``threshold`` is a free constant ``T`` (any
    ``value_width``-bit value) instead of 0, and the dense twin (threshold 0) is fed the
    activations with every ``|a| < T`` replaced by 0 (:func:`golden.cnv.apply_threshold`,
    the reference :func:`golden.cnv.reference` sums)."""
    def props(env):
        _miter(env, windows, input_stalls, free_threshold)
    props.__name__ = f"zero_skip_equals_dense({windows}, {input_stalls}, {free_threshold})"
    return props


def _thresholded(m, acts, threshold):
    """``acts`` with every ``|a| < threshold`` replaced by 0 (``golden.cnv.apply_threshold``),
    written independently of the encoder's mask stage: the magnitude one bit wider."""
    out = []
    for n, row in enumerate(acts):
        out.append([])
        for i, a in enumerate(row):
            mag = Mux(a[-1], -a.as_signed(), a.as_signed()).as_unsigned()[:len(a) + 1]
            kept = Signal(len(a), name=f"t{n}_{i}")
            m.d.comb += kept.eq(Mux(mag < threshold, 0, a))
            out[-1].append(kept)
    return out


def _miter(env, windows, input_stalls, free_threshold=False):
    m, p, params = env.m, env.port, env.params
    L = params["lanes"]
    twin = build_top("cnv_chain", **params)
    m.submodules.twin = twin
    weights, acts = _workload(m, params, windows)
    calm = env.live or not input_stalls
    threshold = Signal(params["value_width"], name="threshold_T")
    m.d.comb += threshold.eq(AnyConst(len(threshold)) if free_threshold else 0)
    dense_acts = _thresholded(m, acts, threshold) if free_threshold else acts

    # -- the chain under check: zero-skip, fed by its driver (its inputs are free in the
    #    harness, so they are assumed equal to the driver's outputs)
    stalls = _free_bits(m, "zs_stall", 1 + L, calm)  # its output ready: the free port
    zs = _Driver(m, "zs", params, weights, acts, p["s_axis_w_tready"],
                 [p[f"s_axis_lane{k}_tready"] for k in range(L)], stalls)
    m.d.comb += [Assume(p["threshold"] == threshold, "threshold T"),
                 Assume(~p["dense"], "zero-skip"),
                 Assume(p["s_axis_w_tvalid"] == zs.w_valid, "w driven"),
                 Assume(p["s_axis_w_tdata"] == zs.w_data, "w driven"),
                 Assume(p["s_axis_w_tlast"] == zs.w_last, "w driven")]
    for k, (valid, data, last) in enumerate(zs.lanes):
        m.d.comb += [Assume(p[f"s_axis_lane{k}_tvalid"] == valid, "lane driven"),
                     Assume(p[f"s_axis_lane{k}_tdata"] == data, "lane driven"),
                     Assume(p[f"s_axis_lane{k}_tlast"] == last, "lane driven")]

    # -- the dense twin: the same workload through its own driver
    stalls = _free_bits(m, "dn_stall", 1 + L, calm)
    (out_busy,) = _free_bits(m, "dn_out_busy", 1, env.live)
    dn = _Driver(m, "dn", params, weights, dense_acts, twin.s_axis_w_tready,
                 [getattr(twin, f"s_axis_lane{k}_tready") for k in range(L)], stalls)
    m.d.comb += [twin.threshold.eq(0), twin.dense.eq(1), twin.m_axis_tready.eq(~out_busy),
                 twin.s_axis_w_tvalid.eq(dn.w_valid), twin.s_axis_w_tdata.eq(dn.w_data),
                 twin.s_axis_w_tlast.eq(dn.w_last)]
    for k, (valid, data, last) in enumerate(dn.lanes):
        m.d.comb += [getattr(twin, f"s_axis_lane{k}_tvalid").eq(valid),
                     getattr(twin, f"s_axis_lane{k}_tdata").eq(data),
                     getattr(twin, f"s_axis_lane{k}_tlast").eq(last)]

    # -- the miter: output n against output n
    mine = _Outputs(m, "zs", env.watch["m_axis"].transfer, p["m_axis_tdata"], windows)
    dense_transfer = twin.m_axis_tvalid & twin.m_axis_tready & ~ResetSignal()
    base = _Outputs(m, "dn", dense_transfer, twin.m_axis_tdata, windows)
    for n in range(windows):
        with m.If(mine.have[n] & base.have[n]):
            m.d.comb += Assert(mine.data[n] == base.data[n], f"zero-skip output {n} != dense")
    m.d.comb += [Assert(mine.count <= windows, "zero-skip: an output without a window"),
                 Assert(base.count <= windows, "dense: an output without a window"),
                 Assert(~p["enc_error"] & ~twin.enc_error, "encoder error on good bricks")]
    with m.If(p["m_axis_tvalid"]):
        m.d.comb += Assert(~p["error"], "zero-skip: error on a good window")
    with m.If(twin.m_axis_tvalid):
        m.d.comb += Assert(~twin.error, "dense: error on a good window")
    done = dense_done(params, windows)
    if env.live:
        for n in range(windows):
            m.d.comb += Assert(mine.have[n] | ~base.have[n], f"zero-skip output {n} later")
        with m.If(env.cycle > done):
            m.d.comb += Assert(mine.have[-1] & base.have[-1],
                               f"not every output by cycle {done}")

    # -- not vacuous: both finish, skipping happened, a non-zero sum, zero-skip earlier
    zero_act = Cat(a == 0 for row in acts for a in row).any()
    m.d.comb += [
        Cover(mine.have[-1] & base.have[-1] & zero_act & (mine.data[0] != 0)
              & (mine.data[-1] != 0), "both chains done, a zero skipped, non-zero sums"),
        Cover(mine.have[-1] & ~base.have[-1] & zero_act, "zero-skip done first"),
    ]
    if free_threshold:
        dropped = Cat((a != 0) & (t == 0) for ra, rt in zip(acts, dense_acts)
                      for a, t in zip(ra, rt)).any()
        m.d.comb += Cover(mine.have[-1] & base.have[-1] & dropped & (mine.data[-1] != 0),
                          "both done, a non-zero below T dropped, a non-zero sum")
    # Backpressure reached: each chain's output held a beat against a low ready.  (The
    # inputs' held-beat covers of the harness are out of reach here: weights are offered
    # only outside a window, and two bricks per lane never fill a zero-skip encoder.)
    for name, valid, ready in (("zero-skip", p["m_axis_tvalid"], p["m_axis_tready"]),
                               ("dense", twin.m_axis_tvalid, twin.m_axis_tready)):
        waited = past(m, valid & ~ready & ~ResetSignal())
        m.d.comb += Cover(waited & valid & ready, f"{name} output held, then taken")


def threshold_off_by_one(env):
    """Broken design: the zero-skip chain's encoders see ``T + 1`` (saturating), so
    ``|a| <= T`` is dropped instead of ``|a| < T`` (a ``<=`` written for ``<``)."""
    t = env.port["threshold"]
    top = (1 << len(t)) - 1
    env.drive["threshold"] = Mux(t == top, t, (t + 1)[:len(t)])


def drop_small_values(env):
    """Broken design: the zero-skip chain's encoders see threshold 2 (``|a| < 2`` dropped,
    so ``±1`` activations are skipped as if they were zeros)."""
    env.drive["threshold"] = Const(2, len(env.port["threshold"]))
