"""Deliberately broken designs, for anti-vacuity: a check run on one of these must FAIL.

A mutator edits the :class:`formal.harness.Env` before the top is wired in: it may replace
what a top input is fed (``env.drive[input]``) or what the properties see of an output
(``env.drive[output]``), reading the top's real ports as ``getattr(env.top, name)``.
Each models a bug the properties exist to catch.
"""

from amaranth.hdl import Signal

__all__ = ["corrupt_held_data", "drop_first_beat", "leaky_error", "slow_output",
           "zero_value_at"]


def corrupt_held_data(prefix):
    """The manager's ``tdata`` bit 0 toggles every cycle, also while a beat is held."""
    def mutate(env):
        toggle = Signal(name="mut_toggle")
        env.m.d.sync += toggle.eq(~toggle)
        data = getattr(env.top, f"{prefix}_tdata")
        env.drive[f"{prefix}_tdata"] = data ^ toggle
    mutate.__name__ = f"corrupt_held_data({prefix})"
    return mutate


def drop_first_beat(prefix):
    """The first beat the manager offers is swallowed: taken from the block, never shown."""
    def mutate(env):
        dropped = Signal(name="mut_dropped")
        valid = getattr(env.top, f"{prefix}_tvalid")
        drop_now = valid & ~dropped
        env.m.d.sync += dropped.eq(dropped | drop_now)
        env.drive[f"{prefix}_tvalid"] = valid & ~drop_now
        env.drive[f"{prefix}_tready"] = env.port[f"{prefix}_tready"] | drop_now
    mutate.__name__ = f"drop_first_beat({prefix})"
    return mutate


def leaky_error(env):
    """``error`` drops every other cycle on its own (a sticky flag that does not stick)."""
    toggle = Signal(name="mut_toggle")
    env.m.d.sync += toggle.eq(~toggle)
    env.drive["error"] = env.top.error & toggle


def slow_output(prefix):
    """The manager's ``tready`` is seen one cycle late (a bubble after every beat)."""
    def mutate(env):
        gate = Signal(name="mut_gate")
        env.m.d.sync += gate.eq(~gate)
        valid = getattr(env.top, f"{prefix}_tvalid")
        env.drive[f"{prefix}_tvalid"] = valid & gate
        env.drive[f"{prefix}_tready"] = env.port[f"{prefix}_tready"] & gate
    mutate.__name__ = f"slow_output({prefix})"
    return mutate


def zero_value_at(prefix, index):
    """Value ``index`` of every tensor the manager offers reads as 0 (a decoder that loses
    the value after a run of ``index`` zeros, e.g. a 5-bit run field that wraps at 32)."""
    def mutate(env):
        count = Signal(8, name="mut_index")
        valid, ready = getattr(env.top, f"{prefix}_tvalid"), env.port[f"{prefix}_tready"]
        with env.m.If(valid & ready):
            env.m.d.sync += count.eq(count + 1)
            with env.m.If(getattr(env.top, f"{prefix}_tlast")):
                env.m.d.sync += count.eq(0)
        data = getattr(env.top, f"{prefix}_tdata")
        env.drive[f"{prefix}_tdata"] = data & ~(count == index).replicate(len(data))
    mutate.__name__ = f"zero_value_at({prefix}, {index})"
    return mutate
