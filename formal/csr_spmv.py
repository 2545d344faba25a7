"""Properties of the ``csr_spmv`` top, on a small build (:data:`SMALL`).

The stream rules on every port come from :mod:`formal.axis` (via the harness).  Here:

* ``count`` (any input at all, malformed included): one ``y`` per announced row and none
  before its row length was taken; ``y.tlast`` exactly on the y of a row whose length came
  with ``tlast``;
* ``error``: low after reset; between y beats it holds the value of the last y taken;
  within a matrix, once a y showed it, every later y of that matrix shows it too (so the
  ``last`` y covers the whole matrix) and the first y of the next matrix may clear it;
* ``golden``: for one well-formed matrix of up to ``max_rows`` x ``max_cols`` (x of C
  elements, M rows of lengths L[r] <= C, columns < C), every y equals the golden sum
  ``sum(A[r, c] * x[c])`` wrapped to ``acc_width`` bits, for all values, with error low;
* ``live``: same matrix, every input offering and y always ready: the final y transfers
  exactly in cycle ``C + 1 + steps + latency`` after reset (x takes C cycles, the first row
  length the next one, then the block's ``matrix_cycles``), ``steps = sum max(1, L[r])``.
"""

from amaranth.asserts import AnyConst       # 0.5: the public home of AnyConst
from amaranth.hdl import Array, Assert, Assume, Cover, Signal, signed

__all__ = ["SMALL", "csr_count", "csr_error", "csr_golden", "csr_live"]

# The smallest build that still has every feature: 4x4 matrices, 4-bit values and x.
SMALL = dict(value_width=4, x_width=4, acc_width=8, max_rows=4, max_cols=4, lanes=1,
             col_width=8, row_width=8)


def _fits(value, width):
    """``value`` (a byte field) is the sign extension of its low ``width`` bits."""
    return value[:width].as_signed() == value.as_signed()


def csr_count(depth):
    """One y per announced row, ``last`` on the matrix's final row, whatever the input."""
    def props(env):
        m, row, y = env.m, env.watch["s_axis_row"], env.watch["m_axis_y"]
        row_last = Array(Signal(name=f"row_last{k}") for k in range(depth))
        with m.If(row.transfer):
            m.d.sync += row_last[row.count].eq(env.port["s_axis_row_tlast"])
        with m.If(env.port["m_axis_y_tvalid"]):
            m.d.comb += [
                Assert(y.count < row.count, "a y without its row"),
                Assert(env.port["m_axis_y_tlast"] == row_last[y.count], "y last not on the final row"),
            ]
        m.d.comb += Cover(y.transfer & env.port["m_axis_y_tlast"] & (y.lasts == 1),
                          "second matrix ends")
    props.__name__ = "csr_count"
    return props


def csr_error(env):
    """``error`` travels with y: held between beats, monotone within a matrix."""
    m, y, error = env.m, env.watch["m_axis_y"], env.port["error"]
    valid = env.port["m_axis_y_tvalid"]
    shown = Signal(name="error_shown")          # error of the last y taken
    with m.If(y.transfer):
        m.d.sync += shown.eq(error)
    with m.If(~valid):
        m.d.comb += Assert(error == shown, "error changed between y beats")
    with m.If(valid & ~y.at_start & shown):
        m.d.comb += Assert(error, "error cleared inside a matrix")
    m.d.comb += [
        Cover(y.transfer & error & y.at_start, "error on a matrix's first y"),
        Cover(y.transfer & shown & ~error & y.at_start & (y.lasts == 1), "error cleared by the next matrix"),
    ]


def _well_formed(env, live):
    """Assume one well-formed matrix: x of C elements, then M rows of lengths L[r] <= C,
    then its non-zeros (columns < C), all values in range.  Returns (C, M, L, xs, NNZ)
    where xs mirrors the x memory as the monitor saw it."""
    m, p = env.m, env.port
    inner = env.inner
    wx, wr, wz = env.watch["s_axis_x"], env.watch["s_axis_row"], env.watch["s_axis_nz"]
    rows, cols = inner.max_rows, inner.max_cols
    # Free constants: the solver picks them once per trace.
    c, mm = Signal(range(cols + 1), name="C"), Signal(range(rows + 1), name="M")
    lens = [Signal(range(cols + 1), name=f"L{r}") for r in range(rows)]
    for sig in [c, mm, *lens]:
        m.d.comb += sig.eq(AnyConst(len(sig)))
    m.d.comb += [Assume((c >= 1) & (c <= cols) & (mm >= 1) & (mm <= rows))]
    m.d.comb += [Assume(l <= c) for l in lens]
    nnz = Signal(range(rows * cols + 1), name="NNZ")
    m.d.comb += nnz.eq(sum((r < mm) * lens[r] for r in range(rows)))
    beats = Signal.like(nnz, name="beats")         # the null beat when NNZ = 0
    m.d.comb += beats.eq(nnz | (nnz == 0))

    x_done = wx.count == c
    x_data, nz_data = p["s_axis_x_tdata"], p["s_axis_nz_tdata"]
    vf = inner.vf
    value, col = nz_data[:vf], nz_data[vf:]
    offer = {"s_axis_x": wx.count < c, "s_axis_row": x_done & (wr.count < mm),
             "s_axis_nz": wz.count < beats}
    for prefix, allowed in offer.items():
        with m.If(p[f"{prefix}_tvalid"]):
            m.d.comb += Assume(allowed, f"{prefix}: only the matrix's beats")
        if live:
            with m.If(~env.rst & allowed):
                m.d.comb += Assume(p[f"{prefix}_tvalid"], f"{prefix}: always offering")
    m.d.comb += [
        Assume(p["s_axis_x_tlast"] == (wx.count == c - 1)),
        Assume(_fits(x_data, inner.x_width)),
        Assume(p["s_axis_row_tdata"] == Array(lens)[wr.count[:2]]),
        Assume(p["s_axis_row_tlast"] == (wr.count == mm - 1)),
        Assume(p["s_axis_nz_tlast"] == (wz.count == beats - 1)),
    ]
    with m.If(nnz == 0):
        m.d.comb += Assume(nz_data == 0, "the null beat")
    with m.Else():
        m.d.comb += [Assume(col < c), Assume(_fits(value, inner.value_width))]

    xs = Array(Signal(signed(inner.x_width), name=f"xs{k}") for k in range(cols))
    with m.If(wx.transfer):
        m.d.sync += xs[wx.count[:2]].eq(x_data[:inner.x_width])
    return c, mm, lens, xs, nnz


def csr_golden(env):
    """Every y equals the golden (wrapped) sum of its row; error low; y last on row M-1."""
    m, p, inner = env.m, env.port, env.inner
    c, mm, lens, xs, nnz = _well_formed(env, live=False)
    wz, y = env.watch["s_axis_nz"], env.watch["m_axis_y"]
    rows = inner.max_rows
    exp = [Signal(signed(inner.acc_width), name=f"exp{r}") for r in range(rows)]
    value = p["s_axis_nz_tdata"][:inner.value_width].as_signed()
    col = p["s_axis_nz_tdata"][inner.vf:]
    product = value * xs[col[:2]]
    start = 0
    for r in range(rows):
        mine = (wz.count >= start) & (wz.count < start + lens[r]) & (nnz != 0)
        with m.If(wz.transfer & mine):
            m.d.sync += exp[r].eq(exp[r] + product)     # wraps at acc_width like the block
        start = start + lens[r]
    with m.If(p["m_axis_y_tvalid"]):
        m.d.comb += [
            Assert(y.count < mm, "more y than rows"),
            Assert(p["m_axis_y_tdata"].as_signed() == Array(exp)[y.count[:2]], "y differs from the golden sum"),
            Assert(p["m_axis_y_tlast"] == (y.count == mm - 1), "y last not on row M-1"),
            Assert(~p["error"], "error on a well-formed matrix"),
        ]
    m.d.comb += Cover(y.transfer & p["m_axis_y_tlast"] & (mm == rows) & (nnz >= 4),
                      f"a {rows}-row matrix with 4+ non-zeros ends")


def csr_live(env):
    """Everything offered, y always ready: the final y leaves in cycle C + 1 + steps +
    latency (reset is cycle 0), no sooner, no later."""
    m, p, inner = env.m, env.port, env.inner
    c, mm, lens, xs, nnz = _well_formed(env, live=True)
    y = env.watch["m_axis_y"]
    steps = sum((r < mm) * (lens[r] | (lens[r] == 0)) for r in range(inner.max_rows))
    due = Signal(8, name="due")
    m.d.comb += due.eq(c + 1 + steps + inner.latency)
    done = y.transfer & p["m_axis_y_tlast"]
    with m.If(done):
        m.d.comb += Assert(env.cycle == due, "final y not in its documented cycle")
    with m.If(env.cycle == due):
        m.d.comb += Assert(done, "final y late")
    m.d.comb += Cover(done & (mm == inner.max_rows), "a full-height matrix completes")
