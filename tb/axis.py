"""AXI4-Stream driver and monitor for the cocotb benches, with random pause generators.

Sampling discipline (the same on every simulator, including cycle-based Verilator): every
agent wakes on the falling clock edge, drives what it wants the DUT to see at the next
rising edge, then waits for ``ReadOnly`` and looks at the settled handshake.  ``valid &
ready`` seen there is exactly the transfer the DUT performs at the next rising edge.

A sink also looks once with its tready low, in the ReadWrite phase of the same time step,
before raising it: an offer that depends on tready (tvalid waiting for tready, or tdata
changing with it) fails the test, although every transfer it makes would look right.

Cycle numbers are ``sim_time // period`` at that falling edge, so cycle *c* is the transfer
at rising edge *c + 1*; all agents of one bench share the same numbering.
"""

import itertools
from collections import deque
from dataclasses import dataclass, field

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import (Event, FallingEdge, ReadOnly, ReadWrite, SimTimeoutError,
                             with_timeout)

__all__ = ["Beat", "AxisSource", "AxisSink", "always", "random_pauses", "random_ready",
           "bursty_ready", "SignalSampler"]


@dataclass
class Beat:
    data: int
    last: bool = False
    side: dict = field(default_factory=dict)   # other DUT inputs held with this beat
    cycle: int = -1                            # transfer cycle, filled in by the agents


async def _bounded(coro, within, period, message):
    """Await ``coro``, failing with ``message()`` after ``within`` cycles (None: no limit)."""
    if within is None:
        await coro
        return
    try:
        await with_timeout(coro, within * period, "step")
    except SimTimeoutError:
        raise AssertionError(message()) from None


def bursty_ready(rng, longest):
    """tready pattern with long stalls: alternating runs of ready and not ready, each up
    to ``longest`` cycles, to fill every buffer inside the DUT."""
    while True:
        for value in (True, False):
            for _ in range(int(rng.integers(1, longest + 1))):
                yield value


def always(value=True):
    """A pause/ready pattern that never changes."""
    return itertools.repeat(value)


def random_pauses(rng, probability):
    """True (pause) with ``probability`` each cycle, from a NumPy Generator."""
    while True:
        yield bool(rng.random() < probability)


def random_ready(rng, probability_low):
    """tready pattern: low with ``probability_low`` each cycle."""
    while True:
        yield bool(rng.random() >= probability_low)


class _Agent:
    def __init__(self, dut, prefix, clock, period_steps):
        self.dut = dut
        self.clock = clock
        self.period = period_steps
        self.tdata = getattr(dut, f"{prefix}_tdata")
        self.tvalid = getattr(dut, f"{prefix}_tvalid")
        self.tready = getattr(dut, f"{prefix}_tready")
        self.tlast = getattr(dut, f"{prefix}_tlast", None)
        self.prefix = prefix

    def cycle(self):
        return get_sim_time("step") // self.period


class AxisSource(_Agent):
    """Drives a subordinate port (``s_axis_*``) from a queue of :class:`Beat`.

    ``pauses`` yields True for every cycle in which no new beat may start.  Once a beat is
    presented, tvalid, tdata and tlast (and the beat's side signals) are held until it is
    taken, as the AXI4-Stream rules require; tvalid never waits for tready.
    """

    def __init__(self, dut, prefix, clock, period_steps, pauses=None):
        super().__init__(dut, prefix, clock, period_steps)
        self.pauses = pauses or always(False)
        self.queue = deque()
        self.sent = []
        self.idle = Event()
        self.idle.set()
        self.tvalid.value = 0
        self._task = cocotb.start_soon(self._run())

    def send(self, beats):
        for beat in beats:
            self.queue.append(beat)
        if self.queue:
            self.idle.clear()

    async def wait_idle(self, within=None):
        """Wait until every queued beat has been taken (at most ``within`` cycles)."""
        async def drain():
            while self.queue or not self.idle.is_set():
                await self.idle.wait()
        await _bounded(drain(), within, self.period,
                       lambda: f"{self.prefix}: {len(self.queue)} beats still queued after "
                               f"{within} cycles: the DUT stopped taking input")

    async def _run(self):
        current = None
        while True:
            await FallingEdge(self.clock)
            pause = next(self.pauses)
            if current is None and self.queue and not pause:
                current = self.queue.popleft()
                self.tdata.value = current.data
                if self.tlast is not None:
                    self.tlast.value = int(current.last)
                for name, value in current.side.items():
                    getattr(self.dut, name).value = value
                self.tvalid.value = 1
            elif current is None:
                self.tvalid.value = 0
            await ReadOnly()
            if current is not None and self.tvalid.value and self.tready.value:
                current.cycle = self.cycle()
                self.sent.append(current)
                current = None
                if not self.queue:
                    self.idle.set()


class AxisSink(_Agent):
    """Collects the beats of a manager port (``m_axis_*``) and checks the stream rules.

    ``ready`` yields the tready value for each cycle.  A beat that is offered and not taken
    must come back unchanged in the next cycle; a change is an AXI4-Stream violation and
    fails the test at once.  ``side`` names DUT outputs sampled with every transfer (into
    ``Beat.side``), for signals that travel with the stream such as a per-result error.
    """

    def __init__(self, dut, prefix, clock, period_steps, ready=None, side=()):
        super().__init__(dut, prefix, clock, period_steps)
        self.ready = ready or always(True)
        self.side = {name: getattr(dut, name) for name in side}
        self.beats = []
        self.new_beat = Event()
        self.tready.value = 0
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        offered = None            # (data, last) offered last cycle and not taken
        while True:
            await FallingEdge(self.clock)
            ready = int(next(self.ready))
            # Probe: look at the offer with tready low first, then raise tready in the same
            # time step (no clock edge in between).  An offer that appears, changes or
            # vanishes when tready rises means tvalid/tdata wait on tready: a violation
            # that a sink sampling only with its own tready high would never see.
            self.tready.value = 0
            await ReadWrite()     # exactly one: the write above makes it come in this step
            probe = self._offer()
            if ready:
                self.tready.value = 1
            await ReadOnly()
            assert self._offer() == probe, (
                f"{self.prefix}: AXI4-Stream rule broken at cycle {self.cycle()}: with tready "
                f"low the port offers {probe or 'nothing'}, with tready high "
                f"{self._offer() or 'nothing'}: tvalid/tdata must not wait on tready")
            valid = bool(self.tvalid.value)
            if offered is not None:
                now = (int(self.tdata.value), self._last()) if valid else None
                assert now == offered, (
                    f"{self.prefix}: AXI4-Stream rule broken at cycle {self.cycle()}: beat "
                    f"{offered} offered without transfer, then {now or 'tvalid dropped'}")
            if valid:
                beat = (int(self.tdata.value), self._last())
                if self.tready.value:
                    side = {name: int(sig.value) for name, sig in self.side.items()}
                    self.beats.append(Beat(beat[0], beat[1], side, cycle=self.cycle()))
                    self.new_beat.set()
                    offered = None
                else:
                    offered = beat
            else:
                offered = None

    def _last(self):
        return bool(self.tlast.value) if self.tlast is not None else False

    def _offer(self):
        """(tdata, tlast) on offer now, or None if tvalid is low."""
        return (int(self.tdata.value), self._last()) if self.tvalid.value else None

    async def wait_for(self, count, within=None):
        """Wait until ``count`` beats have been collected in total.

        ``within`` bounds the wait in clock cycles, so a DUT that hangs fails the test
        with a message instead of hanging the regression.
        """
        async def collect():
            while len(self.beats) < count:
                self.new_beat.clear()
                await self.new_beat.wait()
        await _bounded(collect(), within, self.period,
                       lambda: f"{self.prefix}: {len(self.beats)} of {count} beats after "
                               f"{within} cycles: the DUT hangs or lost data")


class SignalSampler:
    """Records a DUT output each cycle (at ReadOnly after the falling edge)."""

    def __init__(self, signal, clock, period_steps):
        self.signal = signal
        self.clock = clock
        self.period = period_steps
        self.samples = []           # (cycle, value)
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await FallingEdge(self.clock)
            await ReadOnly()
            self.samples.append((get_sim_time("step") // self.period, int(self.signal.value)))
