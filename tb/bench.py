"""Per-test setup shared by every bench: clock, reset, seeded RNG, parameters, metrics."""

import json
import os
import zlib

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import convert
from cocotb.triggers import ClockCycles, FallingEdge

from .axis import AxisSink, AxisSource, SignalSampler, always, random_pauses, random_ready

__all__ = ["PERIOD_NS", "Env", "start", "block_params", "record_metrics", "test_name"]

PERIOD_NS = 10


def block_params():
    """The hardware parameters this model was built with (set by tb.runner)."""
    return json.loads(os.environ.get("TB_PARAMS", "{}"))


def test_name(func, **options):
    """The name cocotb gives ``func`` parametrised with ``options`` (cocotb.parametrize)."""
    return func + "".join(f"/{k}={v if isinstance(v, str) else repr(v)}"
                          for k, v in options.items())


def record_metrics(test, **values):
    """Append a row of figures (elements, cycles, bound, ...) for the make sim summary."""
    path = os.environ.get("TB_METRICS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"test": test, **values}) + "\n")


class Env:
    """A started bench: clock running, reset done, agents created on demand."""

    def __init__(self, dut, name):
        self.dut = dut
        self.name = name
        self.clock = dut.clk
        self.period = None
        # cocotb derives a per-test seed from the regression seed; what reproduces a run
        # is the regression seed itself (SEED=), so that is what seeds and is printed.
        seed = int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))
        self.seed = seed
        self.rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        dut._log.info("seed %d (test %s): reproduce with `make sim SEED=%d`", seed, name, seed)

    def source(self, prefix, pause_probability=0.0):
        pauses = (random_pauses(self.rng, pause_probability) if pause_probability
                  else always(False))
        return AxisSource(self.dut, prefix, self.clock, self.period, pauses)

    def sink(self, prefix, stall_probability=0.0, side=(), ready=None):
        """A sink whose tready is low with ``stall_probability`` each cycle, or follows
        the ``ready`` pattern if one is given (e.g. :func:`tb.axis.bursty_ready`)."""
        if ready is None:
            ready = (random_ready(self.rng, stall_probability) if stall_probability
                     else always(True))
        return AxisSink(self.dut, prefix, self.clock, self.period, ready, side)

    def sampler(self, signal):
        return SignalSampler(signal, self.clock, self.period)

    async def cycles(self, n):
        await ClockCycles(self.clock, n)

    def report(self, *, elements, first, last, bound, **extra):
        """Cycles from transfer ``first`` to transfer ``last`` (both :class:`Beat`), checked
        against ``bound`` (None: not asserted, e.g. under random stalls) and recorded for
        the make sim summary with ``extra`` figures.  Returns the cycle count."""
        cycles = last.cycle - first.cycle + 1 if first is not None and last is not None else 0
        if bound is not None:
            assert cycles <= bound, f"{self.name}: {cycles} cycles for {elements} elements; " \
                                    f"the bound is {bound}"
        record_metrics(self.name, elements=elements, cycles=cycles, bound=bound, **extra)
        return cycles


async def start(dut, name, reset_cycles=3):
    """Start the clock, hold ``rst`` for ``reset_cycles`` and return the :class:`Env`."""
    env = Env(dut, name)
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    env.period = int(convert(PERIOD_NS, "ns", to="step"))
    dut.rst.value = 1
    await ClockCycles(dut.clk, reset_cycles)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    return env
