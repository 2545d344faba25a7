"""The Cnvlutin unit in the Amaranth simulator: a *program* of weight loads and windows
driven into it with random pauses on every stream, shared by tests/test_hw_cnv.py and
tests/test_cnv_weight_load.py (built on :mod:`amaranth_sim`).

A program is a list of ``("load", words)`` (:func:`golden.cnv.weight_words` or any words)
and ``("window", lane streams)`` items, run in order: a load is offered only once every
earlier window's beats are in, a window only once every earlier load is.
:func:`run_program` returns ``[(outputs, error)]`` of the windows.
"""

from golden.bits import to_signed

from amaranth_sim import StreamSim

__all__ = ["run_program", "MAX_CYCLES"]

MAX_CYCLES = 6000   # every wait is bounded: a hang fails the test


def run_program(dut, program, seed):
    """Drive ``program`` into the :class:`~hw.cnv_unit.CnvUnit` ``dut``; returns
    ``[(outputs, error)]`` of its windows (see the module docstring)."""
    sim = StreamSim(dut, seed=seed)
    L, F, YF = dut.lanes, dut.filters, dut.yf
    loads_done, lanes_done = set(), [set() for _ in range(L)]
    n_windows = sum(kind == "window" for kind, _ in program)
    got = []

    async def wait_for(ctx, ready):
        for _ in range(MAX_CYCLES):
            if ready():
                return
            await ctx.tick()
        raise AssertionError("the program's order cannot advance: the unit hangs")

    def lane_tb(k):
        async def tb(ctx):
            for i, (kind, item) in enumerate(program):
                if kind == "load":
                    await wait_for(ctx, lambda i=i: i in loads_done)
                    continue
                beats = item[k]
                for j, beat in enumerate(beats):
                    await sim.put(ctx, getattr(dut, f"lane{k}"), beat, j == len(beats) - 1,
                                  pause=0.3)
                lanes_done[k].add(i)
        return tb

    async def w_tb(ctx):
        for i, (kind, words) in enumerate(program):
            if kind != "load":
                continue
            await wait_for(ctx, lambda i=i: all(
                j in done for done in lanes_done
                for j, (kd, _) in enumerate(program[:i]) if kd == "window"))
            for j, word in enumerate(words):
                await sim.put(ctx, dut.w, word, j == len(words) - 1, pause=0.3)
            loads_done.add(i)

    async def out_tb(ctx):
        for _ in range(MAX_CYCLES):
            taken, _, data, _, err, _ = await sim.get(ctx, dut.out, ready=sim.wants(0.7),
                                                      sample=(dut.error,))
            if taken:
                got.append(([to_signed(data >> (YF * f), YF) for f in range(F)], bool(err)))
                if len(got) == n_windows:
                    return
        raise AssertionError(f"{len(got)} of {n_windows} outputs: the unit hangs")

    sim.run(out_tb, background=[w_tb] + [lane_tb(k) for k in range(L)])
    return got
