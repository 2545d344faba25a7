"""Properties of the N:M MAC: the sparse unit proven equal to its dense twin (a miter).

``sparse_equals_dense``: the ``sparse_mac`` under check and a ``dense_mac`` built with the
same ``m``, groups, widths, accumulator and multipliers run side by side.  The twin gets
everything the sparse unit gets (valids, ``tlast``, the ``a`` beat, ``o.tready``) except
its ``w`` beat, which is the sparse beat decompressed: value ``(g, j)`` at dense position
``g·m + index[g, j]``, zeros elsewhere (what :func:`golden.sparse24.decompress` makes of
it).  The inputs obey the stream rules and nothing else, besides what makes the two
comparable: sparse mode (mode bit 0) and well-formed metadata (indices strictly rising in
each group; what malformed metadata yields is :func:`golden.nm_mac.mac_beats`'s, checked
by the benches).  Asserted in every cycle, for all values, to the BMC depth: both units
take the same beats (equal ``tready``), offer results in the same cycles, and every result
is equal, with ``error`` low.  So ``n·G`` multipliers compute exactly what ``m·G`` do.
The suite runs it through :func:`narrow_values` (weights and activations in a few signed
bits), since the full-width multiplier miter does not close in reasonable time; on 2:4
with one group, on 1:4 (one multiplier against four) and, with two groups (the group
offset ``g·m`` of the selection), on LUT multipliers (the widths and why:
:mod:`formal.suite`; the measured times: README, "Formal proofs").

:func:`swap_indices` is the broken design: the sparse unit sees the two indices of group
0 swapped (a multiplexer wired to the wrong slot), so the miter must fail;
:func:`swap_group_meta` (two groups) pairs each group's values with the other group's
indices; :func:`shift_index` (any ``n``, run on 1:4) adds one to slot 0's index.
"""

from amaranth.hdl import Assert, Assume, Cat, Const, Cover, Mux

from hw.blocks import build_top

__all__ = ["SMALL", "narrow_values", "sparse_equals_dense", "swap_indices", "swap_group_meta",
           "shift_index"]

# 2:4, one group, int8 with a 16-bit accumulator: two multipliers against four.
SMALL = dict(n=2, m=4, groups=1, width=8, acc_width=16)


def _fields(env, data):
    """[(value, index)] per group of the sparse ``w`` beat ``data``."""
    cfg = env.inner.cfg
    W, b = cfg.width, cfg.b
    groups = []
    for g in range(cfg.groups):
        slots = [g * cfg.n + j for j in range(cfg.n)]
        groups.append([(data[s * W:(s + 1) * W],
                        data[cfg.meta_at + s * b:cfg.meta_at + (s + 1) * b]) for s in slots])
    return groups


def sparse_equals_dense(env, negative=-100):
    m, p, cfg = env.m, env.port, env.inner.cfg
    W = cfg.width
    twin = build_top("dense_mac", m=cfg.m, groups=cfg.groups, width=W,
                     acc_width=cfg.acc_width, overflow=cfg.overflow,
                     multipliers=env.params["multipliers"])
    m.submodules.twin = twin

    # -- comparable inputs: sparse mode, indices rising in every group
    w_data = p["s_axis_w_tdata"]
    groups = _fields(env, w_data)
    with m.If(p["s_axis_w_tvalid"]):
        m.d.comb += Assume(~w_data[cfg.mode_at], "sparse mode")
        for pairs in groups:
            for (_, lo), (_, hi) in zip(pairs, pairs[1:]):
                m.d.comb += Assume(lo < hi, "indices rising in a group")

    # -- the twin: the same beats, its w beat the decompressed sparse one
    dense = []
    for pairs in groups:
        for i in range(cfg.m):
            dense.append(_select(pairs, i, W))
    m.d.comb += [
        twin.s_axis_w_tdata.eq(Cat(*dense)),
        twin.s_axis_w_tvalid.eq(p["s_axis_w_tvalid"]),
        twin.s_axis_w_tlast.eq(p["s_axis_w_tlast"]),
        twin.s_axis_a_tdata.eq(p["s_axis_a_tdata"]),
        twin.s_axis_a_tvalid.eq(p["s_axis_a_tvalid"]),
        twin.m_axis_o_tready.eq(p["m_axis_o_tready"]),
    ]

    # -- the miter
    m.d.comb += [
        Assert(twin.s_axis_w_tready == p["s_axis_w_tready"], "w taken differently"),
        Assert(twin.s_axis_a_tready == p["s_axis_a_tready"], "a taken differently"),
        Assert(twin.m_axis_o_tvalid == p["m_axis_o_tvalid"], "results in different cycles"),
    ]
    with m.If(p["m_axis_o_tvalid"]):
        m.d.comb += [
            Assert(twin.m_axis_o_tdata == p["m_axis_o_tdata"], "sparse result != dense result"),
            Assert(~p["error"], "error on well-formed input"),
        ]
    o, w = env.watch["m_axis_o"], env.watch["s_axis_w"]
    m.d.comb += [
        Cover(o.transfer & (p["m_axis_o_tdata"] != 0) & (w.count >= 3) & (o.count >= 1),
              "a second non-zero result after 3 w beats"),
        Cover(o.transfer & (p["m_axis_o_tdata"][:W].as_signed() < negative),
              f"a result below {negative}"),
    ]


def _select(pairs, i, width):
    """Dense position ``i`` of a group: the value whose index is ``i``, else 0."""
    out = Const(0, width)
    for value, idx in pairs:
        out = Mux(idx == i, value, out)
    return out


def swap_indices(env):
    """Broken design: the sparse unit sees group 0's first two indices swapped."""
    cfg = env.inner.cfg
    data = env.port["s_axis_w_tdata"]
    b, at = cfg.b, cfg.meta_at
    first, second = data[at:at + b], data[at + b:at + 2 * b]
    env.drive["s_axis_w_tdata"] = Cat(data[:at], second, first, data[at + 2 * b:])


def shift_index(env):
    """Broken design: the sparse unit sees slot 0's index plus one (modulo ``m``), an
    off-by-one in the selection multiplexer (any ``n``, e.g. 1:4)."""
    cfg = env.inner.cfg
    data = env.port["s_axis_w_tdata"]
    b, at = cfg.b, cfg.meta_at
    env.drive["s_axis_w_tdata"] = Cat(data[:at], (data[at:at + b] + 1)[:b], data[at + b:])


def swap_group_meta(env):
    """Broken design (``groups >= 2``): the sparse unit sees the metadata of groups 0 and 1
    exchanged (values paired with the other group's indices, a group offset wired wrong)."""
    cfg = env.inner.cfg
    data = env.port["s_axis_w_tdata"]
    size, at = cfg.n * cfg.b, cfg.meta_at
    g0, g1 = data[at:at + size], data[at + size:at + 2 * size]
    env.drive["s_axis_w_tdata"] = Cat(data[:at], g1, g0, data[at + 2 * size:])


def narrow_values(bits):
    """:func:`sparse_equals_dense` with every weight and activation assumed to be a
    ``bits``-bit signed value (sign-extended in its ``width``-bit field), indices, mode,
    valids, ``tlast`` and ready still free.  With full-width values the solver does not
    get past the first result (a miter of 8-bit multipliers behind different pipeline
    registers: more than 15 minutes on step 7 with yices), so the values are narrowed;
    the multipliers, tree and accumulator are the real full-width ones (the width the
    suite runs, and why: :data:`formal.suite.NM_BITS`)."""
    def props(env):
        cfg, p, W = env.inner.cfg, env.port, env.inner.cfg.width
        w, a = p["s_axis_w_tdata"], p["s_axis_a_tdata"]
        values = ([w[s * W:(s + 1) * W] for s in range(cfg.n * cfg.groups)]
                  + [a[k * W:(k + 1) * W] for k in range(cfg.m * cfg.groups)])
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        for v in values:
            env.m.d.comb += Assume((v.as_signed() >= lo) & (v.as_signed() <= hi),
                                   f"values in [{lo}, {hi}]")
        sparse_equals_dense(env, negative=-(1 << (2 * bits - 2)))
    props.__name__ = f"narrow_values({bits})"
    return props
