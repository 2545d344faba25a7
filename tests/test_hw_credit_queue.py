"""hw.datapath.CreditQueue: the output queue of a block that reserves its entries with
credits (cnv_unit), in the Amaranth simulator: order, no loss under random stalls on
both sides, the stated latency, and the documented overwrite when the credits are wrong."""

import random

import pytest
from amaranth.sim import Simulator

from hw.datapath import CreditQueue, credit_depth


def run_queue(depth, writes, *, seed, w_pause, r_pause, cycles=4000):
    """Write ``writes`` (values) whenever a credit is free (``depth`` credits, one
    returned per read), read with random ``ready``; returns the values read and, per
    value, the cycles from its write to its first offer."""
    dut = CreditQueue(16, depth)
    rng = random.Random(seed)
    got, waits = [], []

    async def bench(ctx):
        credits, pending, written_at, cycle = depth, list(writes), [], 0
        while len(got) < len(writes) and cycle < cycles:
            write = bool(pending) and credits > 0 and rng.random() >= w_pause
            ready = rng.random() >= r_pause
            ctx.set(dut.w_en, write)
            ctx.set(dut.w_data, pending[0] if write else 0)
            ctx.set(dut.r.ready, ready)
            await ctx.delay(1e-9)
            if ctx.get(dut.r.valid) and len(waits) < len(written_at):
                waits.append(cycle - written_at[len(waits)])
            taken = ctx.get(dut.r.valid) and ready
            if taken:
                got.append(ctx.get(dut.r.payload))
                credits += 1
            if write:
                pending.pop(0)
                credits -= 1
                written_at.append(cycle)
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, waits


@pytest.mark.parametrize("depth", [2, 5, 12])
@pytest.mark.parametrize("seed", [1, 2])
def test_in_order_nothing_lost_under_stalls(depth, seed):
    values = [random.Random(seed).randrange(1 << 16) for _ in range(200)]
    got, _ = run_queue(depth, values, seed=seed, w_pause=0.3, r_pause=0.4)
    assert got == values


def test_latency_one_and_full_rate():
    values = list(range(100))
    got, waits = run_queue(4, values, seed=0, w_pause=0.0, r_pause=0.0)
    assert got == values
    assert set(waits) == {1}, "an entry is offered the clock after its write"


def test_a_write_beyond_the_credits_overwrites_the_oldest():
    """Documented: the write enable is not gated by a full check (the point of the
    queue), so a broken credit count shows as an overwritten entry, not a refused write."""
    dut = CreditQueue(8, 2)
    seen = []

    async def bench(ctx):
        for value in (1, 2, 3):          # three writes into two entries, nothing read
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_data, value)
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        ctx.set(dut.r.ready, 1)
        await ctx.delay(1e-9)
        seen.append(ctx.get(dut.r.payload))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [3]


@pytest.mark.parametrize("kwargs, message", [
    (dict(width=0, depth=4), "width"),
    (dict(width=8, depth=1), "depth"),
])
def test_parameters_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CreditQueue(**kwargs)


def test_credit_depth_covers_the_round_trip():
    """8 entries at least; latency + 2 (a reservation to its entry's release) beyond."""
    assert [credit_depth(n) for n in (0, 5, 6, 7, 12)] == [8, 8, 8, 9, 14]
    with pytest.raises(ValueError, match="latency"):
        credit_depth(-1)
