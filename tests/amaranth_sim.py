"""A small Amaranth-simulator harness for stream blocks, shared by the gateware tests.

The cocotb benches (``tb/``) run the exported Verilog; these helpers drive the Amaranth
component itself through ``amaranth.sim``, which is fast enough for hypothesis.

API
---
:func:`framed` ``(words)``
    ``[(data, last), ...]`` with ``last`` on the final word: one stream frame.
:class:`StreamSim` ``(dut, *, seed=0)``
    The block plus a free-running 32-bit cycle counter (``cycle``), a seeded
    ``random.Random`` (``rng``) and a simulator with a 1 MHz clock.
    ``put(ctx, stream, data, last, *, pause=0.0)``
        (async) offer one beat on ``stream`` (an ``amaranth.lib.stream`` interface of the
        DUT) after random idle cycles (each with probability ``pause``), hold valid and
        payload until ``ready`` (as the stream rules require), drop valid; returns the
        transfer's cycle.
    ``get(ctx, stream, *, ready=True, sample=())``
        (async) drive ``stream.ready`` for one clock and sample it: returns
        ``(taken, valid, data, last, *samples, cycle)``, ``taken`` being valid and ready,
        ``samples`` the values of the extra signals in ``sample`` (e.g. an ``error``).
    ``wants(p)``
        True with probability ``p`` (``p >= 1``: always), from ``rng``.
    ``run(*testbenches, background=())``
        add the testbenches (``async def tb(ctx)``), the ``background`` ones as
        background testbenches (drivers that may never finish), and run until every
        foreground one returns.

A test writes its drivers and its collector as coroutines over these, and bounds every
loop on ``cycle``, so that a hang fails the test instead of stalling it.
"""

import random

from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

__all__ = ["framed", "StreamSim"]


def framed(words):
    """(data, last) pairs with last on the final word."""
    return [(w, i == len(words) - 1) for i, w in enumerate(words)]


class _Harness(Elaboratable):
    """The block plus a free-running cycle counter sampled at every transfer."""

    def __init__(self, dut):
        self.dut = dut
        self.cycle = Signal(32)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        m.d.sync += self.cycle.eq(self.cycle + 1)
        return m


class StreamSim:
    """Drive and sample a block's streams in ``amaranth.sim`` (see the module docstring)."""

    def __init__(self, dut, *, seed=0):
        self.dut = dut
        self.rng = random.Random(seed)
        self._harness = _Harness(dut)
        self.cycle = self._harness.cycle
        self._sim = Simulator(self._harness)
        self._sim.add_clock(1e-6)

    def wants(self, probability):
        return probability >= 1.0 or self.rng.random() < probability

    async def put(self, ctx, stream, data, last=False, *, pause=0.0):
        while pause and self.rng.random() < pause:
            await ctx.tick()
        ctx.set(stream.valid, 1)
        ctx.set(stream.payload, {"data": data, "last": last})
        cycle, = await ctx.tick().sample(self.cycle).until(stream.ready)
        ctx.set(stream.valid, 0)
        return cycle

    async def get(self, ctx, stream, *, ready=True, sample=()):
        ctx.set(stream.ready, ready)
        _, _, valid, data, last, *rest = await ctx.tick().sample(
            stream.valid, stream.payload.data, stream.payload.last, *sample, self.cycle)
        return (bool(ready and valid), valid, data, last, *rest)

    def run(self, *testbenches, background=()):
        for tb in background:
            self._sim.add_testbench(tb, background=True)
        for tb in testbenches:
            self._sim.add_testbench(tb)
        self._sim.run()
