"""hw.axis's stream buffers, RegisterSlice and TwoEntryFIFO, in the Amaranth simulator:
every beat through in order under random pauses on both sides, one transfer per clock
and latency 1 when nothing stalls, and ``i.ready`` a register (it cannot follow
``o.ready`` within the clock)."""

import pytest
from amaranth.lib import data

from hw.axis import RegisterSlice, TwoEntryFIFO
from tests.amaranth_sim import StreamSim, framed

LAYOUT = data.StructLayout({"data": 16, "last": 1})
BUFFERS = [RegisterSlice, TwoEntryFIFO]


def run(buffer, words, *, seed, in_pause, out_pause, cycles=5000):
    """Push ``words`` through a fresh ``buffer``; returns (beats out, put cycles, get
    cycles)."""
    sim = StreamSim(buffer(LAYOUT), seed=seed)
    dut, got, put_at, got_at = sim.dut, [], [], []

    async def producer(ctx):
        for word, last in words:
            put_at.append(await sim.put(ctx, dut.i, word, last, pause=in_pause))

    async def consumer(ctx):
        while len(got) < len(words):
            taken, _, word, last, cycle = await sim.get(ctx, dut.o, ready=not sim.wants(out_pause))
            if taken:
                got.append((word, bool(last)))
                got_at.append(cycle)
            assert cycle < cycles, f"only {len(got)} of {len(words)} beats by cycle {cycles}"

    sim.run(producer, consumer)
    return got, put_at, got_at


@pytest.mark.parametrize("buffer", BUFFERS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_in_order_nothing_lost_under_pauses(buffer, seed):
    words = framed([(seed * 7919 + n * 104729) & 0xFFFF for n in range(300)])
    got, _, _ = run(buffer, words, seed=seed, in_pause=0.3, out_pause=0.4)
    print(f"seed {seed}")
    assert got == words


@pytest.mark.parametrize("buffer", BUFFERS, ids=lambda b: b.__name__)
def test_full_rate_latency_one(buffer):
    words = framed(list(range(100)))
    got, put_at, got_at = run(buffer, words, seed=0, in_pause=0.0, out_pause=0.0)
    assert got == words
    assert [b - a for a, b in zip(put_at, put_at[1:])] == [1] * 99, "input not one per clock"
    assert [g - p for p, g in zip(put_at, got_at)] == [1] * 100, "latency is not 1 clock"


@pytest.mark.parametrize("buffer", BUFFERS, ids=lambda b: b.__name__)
def test_input_ready_is_registered(buffer):
    """With the output stalled, ``i.ready`` does not change within the clock in which
    ``o.ready`` rises: a buffer that passes ``ready`` through would."""
    sim = StreamSim(buffer(LAYOUT))
    dut, seen = sim.dut, []

    async def bench(ctx):
        ctx.set(dut.o.ready, 0)
        for word in range(3):                   # fill it while the output is stalled
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, {"data": word, "last": 0})
            await ctx.tick()
        ctx.set(dut.i.valid, 0)
        await ctx.tick()
        before = ctx.get(dut.i.ready)
        ctx.set(dut.o.ready, 1)
        await ctx.delay(1e-9)
        seen.append((before, ctx.get(dut.i.ready)))

    sim.run(bench)
    assert seen == [(0, 0)], seen
