"""AXI4-Stream rules that a bench cannot see from outside the clock edge: on every
exported top, no manager's tvalid or tdata depends combinationally on its tready (and the
cocotb sink of tb/axis.py catches a top that breaks it, in Verilator).

Each block runs 300 cycles of random (often malformed) input in the Amaranth simulator;
every cycle, every manager port is read with tready low and with tready high before the
clock edge, and must look the same both ways.
"""

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hw.axis import AXIStreamExport, stream_payload
from hw.blocks import BLOCKS, build_top


@pytest.mark.parametrize("name", list(BLOCKS))
def test_valid_and_data_do_not_depend_on_ready(name):
    check_no_ready_dependency(build_top(name), BLOCKS[name].streams.values(), seed=name)


class _ValidWaitsOnReady(wiring.Component):
    """A deliberately broken block: it only offers data once the sink is ready."""
    i: In(stream.Signature(stream_payload(8)))
    o: Out(stream.Signature(stream_payload(8)))

    def elaborate(self, platform):
        m = Module()
        beats = Signal(8)                      # gives the block a clock domain
        m.d.sync += beats.eq(beats + (self.o.valid & self.o.ready))
        m.d.comb += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid & self.o.ready),
                     self.i.ready.eq(self.o.ready)]
        return m


class _Passthrough(wiring.Component):
    """The same block done right: tvalid follows the input, whatever tready does."""
    i: In(stream.Signature(stream_payload(8)))
    o: Out(stream.Signature(stream_payload(8)))

    def elaborate(self, platform):
        m = Module()
        beats = Signal(8)
        m.d.sync += beats.eq(beats + (self.o.valid & self.o.ready))
        m.d.comb += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid),
                     self.i.ready.eq(self.o.ready)]
        return m


def test_the_check_catches_a_violation():
    top = AXIStreamExport(_ValidWaitsOnReady(), {"i": "s_axis", "o": "m_axis"})
    with pytest.raises(AssertionError, match="change with tready"):
        check_no_ready_dependency(top, ["s_axis", "m_axis"], seed=0)


@pytest.mark.sim
@pytest.mark.parametrize("component, name, broken", [
    (_Passthrough, "axis_passthrough", False),
    (_ValidWaitsOnReady, "axis_valid_waits_on_ready", True),
])
def test_the_bench_sink_catches_a_violation_in_simulation(component, name, broken):
    """tb.axis.AxisSink looks at the offer with tready low before raising it, so a DUT
    whose tvalid waits for tready fails its cocotb bench, even though every beat it
    transfers is right; the correct pass-through passes the same bench."""
    from hw.generate import component_verilog
    from tb.runner import run_bench
    source = component_verilog(AXIStreamExport(component(), {"i": "s_axis", "o": "m_axis"}), name)
    result = run_bench(name, "tb.bench_axis", seed=3, tag="pytest", source=source)
    [test] = result.tests
    if broken:
        assert not test.passed
        assert "m_axis: AXI4-Stream rule broken" in test.message
        assert "tvalid/tdata must not wait on tready" in test.message
    else:
        assert test.passed, test.message


def check_no_ready_dependency(top, prefixes, seed):
    prefixes = list(prefixes)
    managers = [p for p in prefixes if p.startswith("m_axis")]
    subordinates = [p for p in prefixes if p.startswith("s_axis")]
    inputs = [sig for member, sig in ((m, getattr(top, m)) for m in top.signature.members)
              if top.signature.members[member].flow.name == "In"
              and not member.endswith("_tready")
              and not any(member.startswith(p) for p in subordinates)]
    checked = []

    async def bench(ctx):
        rng = random.Random(seed)
        for _ in range(300):
            for p in subordinates:
                data = getattr(top, f"{p}_tdata")
                ctx.set(data, rng.getrandbits(len(data)) if rng.random() < 0.3
                        else rng.getrandbits(min(len(data), 6)))
                ctx.set(getattr(top, f"{p}_tvalid"), rng.random() < 0.7)
                if hasattr(top, f"{p}_tlast"):
                    ctx.set(getattr(top, f"{p}_tlast"), rng.random() < 0.1)
            for sig in inputs:                      # e.g. the decoder's length
                ctx.set(sig, rng.getrandbits(min(len(sig), 6)))
            for p in managers:
                seen = []
                for ready in (0, 1):
                    ctx.set(getattr(top, f"{p}_tready"), ready)
                    seen.append((ctx.get(getattr(top, f"{p}_tvalid")),
                                 ctx.get(getattr(top, f"{p}_tdata"))))
                assert seen[0] == seen[1], f"{p}: tvalid/tdata change with tready: {seen}"
                checked.append(seen[0][0])
                ctx.set(getattr(top, f"{p}_tready"), rng.random() < 0.7)
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert any(checked), "the random input never made an output valid: the check was vacuous"
