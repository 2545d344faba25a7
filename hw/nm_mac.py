"""N:M structured-sparse MAC (:class:`SparseMAC`, 2:4 by default) and its dense twin
(:class:`DenseMAC`), after NVIDIA's Sparse Tensor Core (Mishra et al., 2021).

Bit-exact model: :mod:`golden.nm_mac` (:func:`~golden.nm_mac.mac_beats` for the sparse unit,
:func:`~golden.nm_mac.dense_beats` for the twin); the beat layouts are defined there once, in
:class:`golden.nm_mac.NMConfig`, and read from it here.

Ports (``G`` = groups, ``VF`` = width; AXI names at the exported top in brackets)
----------------------------------------------------------------------------------
=========  ===  ===========================================================  =========
member     dir  ``data``                                                     ``last``
=========  ===  ===========================================================  =========
``w``      in   sparse unit: ``n·G`` values (slot ``g·n+j`` at bit           ends the
[s_axis_w]      ``(g·n+j)·VF``), then ``G·n·log2(m)`` bits of metadata        dot
                exactly as :func:`golden.sparse24.pack_meta` lays out ``G``  product
                groups, then the mode bit (0 sparse, 1 dense fallback),
                zero-padded to a byte multiple.  Dense twin: ``m·G`` weights
``a``      in   ``m·G`` activations, slot ``g·m+i`` at bit ``(g·m+i)·VF``    (none)
[s_axis_a]
``o``      out  the dot product, ``acc_width`` bits sign-extended to a byte  always 1
[m_axis_o]      multiple; one beat (one packet) per dot product
``error``  out  1 bit, see "Bad input" (the twin's is constant 0)
=========  ===  ===========================================================  =========

Widths are whole bytes for AXI4-Stream: operands are 8 or 16 bits, so the value and
activation fields are byte multiples; the metadata and the mode bit share the top bytes of
``w`` (for 2:4, ``G = 4``, int8: 64 value bits + 16 metadata bits + 1 mode bit = 88 bits),
whose padding bits are ignored.

Modes (sampled from the mode bit of the first ``w`` beat of each dot product)
----------------------------------------------------------------------------
* sparse (0): each ``w`` beat pairs with one ``a`` beat: the ``n·G`` multipliers take
  ``value[g,j] · a[g·m + index[g,j]]`` (the index drives an ``m``-way multiplexer), one
  full vector of ``m·G`` dense-equivalent MACs per clock.
* dense fallback (1), for layers that were not pruned: the ``m·G`` dense weights of one
  ``a`` beat come as ``m/n`` ``w`` beats; in phase ``t`` slot ``(g, j)`` holds in-group
  position ``t·n + j`` (the multiplexers get that index instead of metadata, see
  :func:`golden.nm_mac.pack_dense_fallback`).  The ``a`` beat is taken with the last phase
  or with ``w.last``.  Rate: ``n/m`` of sparse mode, e.g. two cycles per dense group for 2:4.

The mode can change from one dot product to the next with no cost.

Throughput, latency, backpressure
---------------------------------
One ``w`` beat per clock in either mode, with no bubble between dot products.  The result
of a dot product whose final ``w`` beat is taken in cycle ``c`` is offered in cycle ``c +``
:func:`latency_of` (5 with DSP multipliers and up to 16 of them, :data:`LATENCY`:
selected operands registered, products registered, the adder tree in
:func:`tree_stages` registered stages (its levels split evenly, at most two between
registers: 2 stages up to 16 products, one more per 4× beyond), accumulate into the
output register), so back-to-back dot products totalling ``B`` ``w`` beats take ``B +
latency`` cycles from the first ``w`` transfer to the last result
(:func:`golden.nm_mac.frame_cycles`).  ``w.ready``/``a.ready`` depend on the other
input's ``valid`` (both operands are needed) and on ``o.ready``: the whole pipeline holds
while a finished result waits in the output register and another one arrives behind it.
``o`` holds valid and data until taken; no valid depends on a ready.

Bad input (sparse unit; exact result and flag: :func:`golden.nm_mac.mac_beats`)
-------------------------------------------------------------------------------
* metadata with duplicate or out-of-order indices inside a group (sparse mode): the
  multiplexers select what the indices say and the dot product is flagged;
* a ``w`` beat whose mode bit differs from its dot product's first beat: computed in the
  dot product's mode and flagged;
* an index ``>= m`` cannot be encoded in ``log2(m)`` bits, so it cannot arrive.

``error`` travels with ``o``: while a result is offered, ``error`` says whether its dot
product had bad input; between results it holds the flag of the last result taken.  The
dot product still finishes and emits its result; the next one starts clean.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.nm_mac import NMConfig

from .axis import stream_payload
from .datapath import (MULTIPLIERS, CheckedFirst, accumulate_next, choice_param, incr,
                       int_param, radix4_multiples, radix4_terms, sum_stage, tree_sum)

__all__ = ["LATENCY", "TREE_STAGES", "PRODUCT_STAGES", "tree_stages", "latency_of",
           "SparseMAC", "DenseMAC"]

TREE_STAGES = 2   # registered stages of the adder tree, at least (:func:`tree_stages`)
# registered stages of a product: one inferred DSP multiply, or LUT radix-4 partial
# products (the operand's multiples, then two adder levels)
PRODUCT_STAGES = {"dsp": 1, "lut": 3}


def tree_stages(products):
    """Registered stages of the adder tree over ``products`` (a power of two) terms: at
    most two adder levels between registers (a third held 32 products to 113 MHz on
    ECP5), and :data:`TREE_STAGES` at least."""
    int_param("products", products, 1)
    return max(TREE_STAGES, -(-(products - 1).bit_length() // 2))


def latency_of(multipliers="dsp", products=16):
    """Cycles from a dot product's final ``w`` transfer to its result's transfer with
    ``products`` multipliers (a unit's lanes; up to 16 the tree has 2 stages): operands,
    the product's stages, the tree's stages, accumulator into the output register (5
    with DSP multipliers, 7 with LUT ones, one more per 4× beyond 16 products)."""
    return 2 + PRODUCT_STAGES[choice_param("multipliers", multipliers, MULTIPLIERS)] \
        + tree_stages(products)


LATENCY = latency_of("dsp")   # the default build's


def _config(n, m, groups, width, acc_width, overflow):
    """The checked :class:`NMConfig` (its checks, the format's, name the first bad
    parameter), plus what only the hardware needs: a balanced adder tree."""
    cfg = NMConfig(n=n, m=m, groups=groups, width=width, acc_width=acc_width,
                   overflow=overflow)
    if groups & (groups - 1):
        raise ValueError(f"groups must be a power of two (1, 2, 4, 8, 16 or 32), not {groups} "
                         f"(the adder tree is balanced)")
    return cfg


class _MACUnit(CheckedFirst, wiring.Component):
    """What both units share: the streams, the pipeline behind the operand selection, the
    output register and the error flag.  Parameters are checked before the object exists
    (:class:`hw.datapath.CheckedFirst`)."""

    @staticmethod
    def check_params(*, n=1, multipliers, **params):
        _config(n=n, **params)
        choice_param("multipliers", multipliers, MULTIPLIERS)

    def _setup(self, params, *, dense, multipliers):
        self.cfg = _config(**params)
        self.multipliers = multipliers
        self._p = PRODUCT_STAGES[multipliers]
        self._lanes = self.cfg.span if dense else self.cfg.lanes
        self._acc = 1 + self._p + tree_stages(self._lanes)   # the accumulator's stage
        self.latency = latency_of(multipliers, self._lanes)
        w_width = self.cfg.a_width if dense else self.cfg.w_width
        super().__init__({
            "w": In(stream.Signature(stream_payload(w_width))),
            "a": In(stream.Signature(stream_payload(self.cfg.a_width, last=False))),
            "o": Out(stream.Signature(stream_payload(self.cfg.o_width))),
            "error": Out(1),
        })

    def _advance(self, m, fin):
        """The pipeline moves unless a result waits untaken and another one (``fin``)
        would overwrite it."""
        adv = Signal()
        m.d.comb += adv.eq(~self.o.valid | self.o.ready | ~fin)
        return adv

    def _pipeline(self, m, adv, take, last, err, pairs):
        """Operands ``pairs`` [(weight, activation)] of a beat taken with ``take`` ->
        products -> adder tree (:func:`tree_stages` registered stages) -> accumulator ->
        output register, every stage moving with ``adv``."""
        cfg = self.cfg
        s = self._stages

        def follow(i):                   # valid/last/err of stage i-1 move on to stage i
            m.d.sync += [s[i][f].eq(s[i - 1][f]) for f in ("valid", "last", "err")]

        # stage 1: the selected operands, registered (the multiplexers stay before it)
        with m.If(adv):
            m.d.sync += [s[1]["valid"].eq(take), s[1]["last"].eq(last), s[1]["err"].eq(err)]
            for k, (wv, av) in enumerate(pairs):
                m.d.sync += [s[1]["w"][k].eq(wv), s[1]["a"][k].eq(av)]
        products = self._products(m, adv, follow)
        terms = self._tree(m, adv, follow, products, first=2 + self._p)
        step, s_acc = terms, s[self._acc]
        # last stage: accumulate; the final beat's sum goes to the output register
        acc = Signal(signed(len(step)))
        acc_next = accumulate_next(m, acc, step, cfg.acc_width, cfg.overflow)
        with m.If(adv & s_acc["valid"]):
            m.d.sync += acc.eq(Mux(s_acc["last"], 0, acc_next))
        self._output(m, adv, acc_next)

    def _products(self, m, adv, follow):
        """Stages ``2 .. 1 + PRODUCT_STAGES``: each lane's ``2·width``-bit product,
        registered.  ``"dsp"``: one inferred multiplier between registers.  ``"lut"``:
        stage 2 registers the activation's multiples ``a, 3a, -a`` and the weight, then
        radix-4 partial products (multiplexers, :func:`hw.datapath.radix4_terms`) are
        summed one adder level per stage (two levels for 16-bit operands), so no DSP and
        no long path: the option for devices or clocks where a DSP between fabric
        registers is the limit."""
        s, W = self._stages, self.cfg.width
        lanes = len(s[1]["w"])
        if self.multipliers == "dsp":
            # reset-less like every datapath register: ECP5's MULT18X18D can then hold it
            # and the operand registers (fpga.pack); valid bits say when they mean anything
            prods = [Signal(signed(2 * W), name=f"prod{k}", reset_less=True)
                     for k in range(lanes)]
            with m.If(adv):
                follow(2)
                m.d.sync += [p.eq(s[1]["w"][k] * s[1]["a"][k]) for k, p in enumerate(prods)]
            return prods
        w2 = [Signal(signed(W), name=f"s2_w{k}", reset_less=True) for k in range(lanes)]
        with m.If(adv):
            follow(2)
            m.d.sync += [r.eq(v) for r, v in zip(w2, s[1]["w"])]
            mults = [radix4_multiples(m, s[1]["a"][k], 2 * W, name=f"s2_a{k}")
                     for k in range(lanes)]
        size = 2 if W <= 8 else 4                     # 4 or 8 partial products: 2 stages
        terms = [radix4_terms(m, mults[k], w2[k], 2 * W, name=f"pp{k}") for k in range(lanes)]
        with m.If(adv):
            follow(3)
            groups = [sum_stage(m, t, 2 * W, name=f"s3_p{k}", size=size)
                      for k, t in enumerate(terms)]
        with m.If(adv):
            follow(4)
            return [sum_stage(m, g, 2 * W, name=f"prod{k}", size=size)[0]
                    for k, g in enumerate(groups)]

    def _tree(self, m, adv, follow, terms, first):
        """The adder tree over ``terms`` (a power-of-two count), its levels split evenly
        over the registered stages ``first`` .. ``1 + PRODUCT_STAGES + tree_stages``;
        returns the last stage's register, the beat's step, as wide as the accumulator."""
        stages = self._acc + 1 - first
        levels = (len(terms) - 1).bit_length()
        for t in range(stages):
            fold = 1 << (levels * (t + 1) // stages - levels * t // stages)
            sums = [tree_sum(terms[i:i + fold]) for i in range(0, len(terms), fold)]
            final = t == stages - 1
            regs = [Signal(signed(max(self.cfg.acc_width, len(v)) if final else len(v)),
                           name="step" if final else f"tree{first + t}_{i}")
                    for i, v in enumerate(sums)]
            with m.If(adv):
                follow(first + t)
                m.d.sync += [r.eq(v) for r, v in zip(regs, sums)]
            terms = regs
        return terms[0]

    def _stage_signals(self):
        """Valid/last/err of the stages before the accumulator and the stage-1 operands;
        returns ``fin``, the final beat of a dot product entering the accumulator."""
        W, lanes = self.cfg.width, self._lanes
        self._stages = {i: {f: Signal(name=f"s{i}_{f}") for f in ("valid", "last", "err")}
                        for i in range(1, self._acc + 1)}
        # LUT multipliers take 3a from the register: two bits of headroom
        # (hw.datapath.radix4_multiples)
        aw = W if self.multipliers == "dsp" else W + 2
        self._stages[1]["w"] = [Signal(signed(W), name=f"s1_w{k}", reset_less=True)
                                for k in range(lanes)]
        self._stages[1]["a"] = [Signal(signed(aw), name=f"s1_a{k}", reset_less=True)
                                for k in range(lanes)]
        last = self._stages[self._acc]
        return last["valid"] & last["last"]

    def _output(self, m, adv, acc_next):
        o, s3 = self.o, self._stages[self._acc]
        o_err, err_shown = Signal(), Signal()
        o_data = Signal(signed(self.cfg.o_width))
        o_take = o.valid & o.ready
        with m.If(adv & s3["valid"] & s3["last"]):
            m.d.sync += [o.valid.eq(1), o_data.eq(acc_next), o_err.eq(s3["err"])]
        with m.Elif(o_take):
            m.d.sync += o.valid.eq(0)
        with m.If(o_take):
            m.d.sync += err_shown.eq(o_err)
        m.d.comb += [o.payload.data.eq(o_data), o.payload.last.eq(1),
                     self.error.eq(Mux(o.valid, o_err, err_shown))]


class SparseMAC(_MACUnit):
    """N:M sparse dot products with ``n·groups`` multipliers and a dense fallback; see the
    module docstring for ports, modes, latency, throughput, backpressure and bad input.

    Parameters (keyword only)
    -------------------------
    n, m : int (default 2, 4)
        ``n`` values stored per group of ``m`` weights; ``m`` a power of two up to 16,
        ``1 <= n < m`` and ``n`` dividing ``m`` (dense fallback takes ``m/n`` beats).
    groups : int, power of two 1..32 (default 4)
        ``G``, groups per beat: ``n·G`` multipliers, ``m·G`` activations per beat.
    width : 8 or 16 (default 8)
        Signed width of weights and activations.
    acc_width : int, 2·width .. 64 (default 32)
        Signed accumulator width (INT8 accumulates in INT32, as on the A100).
    overflow : "wrap" or "saturate"
        Two's-complement wrap, or clamping after every beat's step.
    multipliers : "dsp" (default) or "lut"
        One inferred DSP per multiplier, or radix-4 partial products in LUTs and carry
        chains, pipelined (no DSP; same results and throughput, latency
        :func:`latency_of`: 5 or 7 up to 16 multipliers).
    """

    def __init__(self, *, n=2, m=4, groups=4, width=8, acc_width=32, overflow="wrap",
                 multipliers="dsp"):
        self._setup(dict(n=n, m=m, groups=groups, width=width, acc_width=acc_width,
                         overflow=overflow), dense=False, multipliers=multipliers)

    def elaborate(self, platform):
        m = Module()
        cfg, W = self.cfg, self.cfg.width
        w, a = self.w, self.a
        fin = self._stage_signals()
        adv = self._advance(m, fin)

        # -------------------------------------------- dot-product framing and mode
        first = Signal(init=1)           # the next w beat starts a dot product
        mode = Signal()                  # mode of the current dot product (1: dense)
        phase = Signal(range(cfg.phases))
        mode_bit = w.payload.data[cfg.mode_at]
        dense = Mux(first, mode_bit, mode)
        cur_phase = Signal.like(phase)   # phase of this beat (0 on a first beat)
        m.d.comb += cur_phase.eq(Mux(first, 0, phase))
        final_phase = cur_phase == Const(cfg.phases - 1, len(cur_phase))
        a_release = ~dense | final_phase | w.payload.last
        take = w.valid & a.valid & adv
        m.d.comb += [w.ready.eq(a.valid & adv),
                     a.ready.eq(w.valid & adv & a_release)]
        with m.If(take):
            m.d.sync += [first.eq(w.payload.last), mode.eq(dense),
                         phase.eq(Mux(dense & ~final_phase & ~w.payload.last,
                                      incr(cur_phase, 1), 0))]

        # ---------------------------------- indices, multiplexers, bad-input checks
        pairs, bad = [], []
        jbits = (cfg.n - 1).bit_length()         # n is a power of two: t·n + j = {t, j}
        for g in range(cfg.groups):
            acts = a.payload.data[g * cfg.m * W:(g + 1) * cfg.m * W]
            idx = []
            for j in range(cfg.n):
                s = g * cfg.n + j
                meta = w.payload.data[cfg.meta_at + s * cfg.b:cfg.meta_at + (s + 1) * cfg.b]
                implied = Cat(Const(j, jbits), cur_phase) if jbits else cur_phase
                sel = Signal(cfg.b, name=f"idx{s}")
                m.d.comb += sel.eq(Mux(dense, implied, meta))
                idx.append(meta)
                pairs.append((w.payload.data[s * W:(s + 1) * W].as_signed(),
                              acts.word_select(sel, W).as_signed()))
            bad += [idx[j] >= idx[j + 1] for j in range(cfg.n - 1)]
        beat_bad = (~dense & Cat(*bad).any()) if bad else Const(0)
        mode_bad = ~first & (mode_bit != mode)
        err_run = Signal()                       # bad input so far in this dot product
        err_now = (~first & err_run) | beat_bad | mode_bad
        with m.If(take):
            m.d.sync += err_run.eq(err_now)

        self._pipeline(m, adv, take, w.payload.last, err_now, pairs)
        return m


class DenseMAC(_MACUnit):
    """The dense twin of :class:`SparseMAC`: ``m·groups`` multipliers, one ``w`` beat of
    ``m·G`` dense weights with one ``a`` beat per clock, the same pipeline, latency
    (:func:`latency_of` its products), output and backpressure; ``error`` is always 0.
    Parameters as :class:`SparseMAC` without ``n``.
    """

    def __init__(self, *, m=4, groups=4, width=8, acc_width=32, overflow="wrap",
                 multipliers="dsp"):
        self._setup(dict(n=1, m=m, groups=groups, width=width, acc_width=acc_width,
                         overflow=overflow), dense=True, multipliers=multipliers)

    def elaborate(self, platform):
        m = Module()
        W, w, a = self.cfg.width, self.w, self.a
        fin = self._stage_signals()
        adv = self._advance(m, fin)
        take = w.valid & a.valid & adv
        m.d.comb += [w.ready.eq(a.valid & adv), a.ready.eq(w.valid & adv)]
        pairs = [(w.payload.data[p * W:(p + 1) * W].as_signed(),
                  a.payload.data[p * W:(p + 1) * W].as_signed())
                 for p in range(self.cfg.span)]
        self._pipeline(m, adv, take, w.payload.last, Const(0), pairs)
        return m
