"""cocotb bench of the AXI4-Stream agents themselves (tb/axis.py), on small pass-through
tops that tests/test_hw_stream_rules.py builds: a correct one and one whose tvalid waits
for tready.  The agents must pass the first and fail the second."""

import cocotb

from .axis import Beat
from .bench import start


@cocotb.test()
async def passthrough(dut):
    """Random beats through the top with pauses on both sides; the data must arrive."""
    env = await start(dut, "passthrough")
    src = env.source("s_axis", pause_probability=0.3)
    sink = env.sink("m_axis", stall_probability=0.4)
    n = 200
    values = [int(v) for v in env.rng.integers(0, 256, n)]
    src.send(Beat(v, last=i == n - 1) for i, v in enumerate(values))
    await sink.wait_for(n, within=20 * n)
    assert [b.data for b in sink.beats] == values
    assert [b.last for b in sink.beats] == [i == n - 1 for i in range(n)]
    env.report(elements=n, first=src.sent[0], last=sink.beats[-1], bound=None)

