"""Register packing for ECP5: move fabric flip-flops into the DSP and block RAM primitives.

Yosys' ``synth_ecp5`` maps a multiplier to a ``MULT18X18D`` and a memory to a ``DP16KD``
with every internal register bypassed (``REG_*_CLK = NONE``, ``REGMODE = NOREG``): it has
no pass that absorbs the registers around them, as vendor mappers (Diamond, Radiant) and
Yosys' own ``ice40_dsp``/``xilinx_dsp`` do.  A combinational ``MULT18X18D`` costs 4.5 ns
and a ``DP16KD`` read 5.8 ns clock-to-data at speed grade 6, so every design that reads a
memory or multiplies stops near 130 MHz however it is pipelined.  This pass, run on Yosys'
JSON netlist before nextpnr, does what those mappers do, for the registers where it is
plainly the same circuit:

* a ``MULT18X18D``'s product register (``REG_OUTPUT``): every used product bit drives
  exactly one flip-flop and nothing else;
* its operand registers (``REG_INPUTA``/``REG_INPUTB``): every non-constant operand bit
  comes from a flip-flop (constant bits must be 0, a register's power-up value); the
  flip-flop stays when it has other loads, the DSP then holds a copy;
* a ``DP16KD`` port's output register (``REGMODE = OUTREG``, enabled by ``OCE``): every
  used data bit drives exactly one flip-flop, and the port's reset input is unused.

A flip-flop qualifies only when it is plain: the block's own (not the measurement
wrapper's, so a block output never gains a register it does not have), clocked on the
rising edge of the primitive's clock, no set/reset (``LSR`` tied 0: the datapath
registers of :mod:`hw` are ``reset_less`` for this reason), power-up 0 and, for a group
packed together, one clock enable.  Anything else is left as it is; the counts of what
was packed go into the synthesis record.
"""

import re

__all__ = ["pack_ecp5"]

_BLOCK_CELL = re.compile(r"dut\d+\.")      # cells of the block under test (fpga.wrapper)


class _Netlist:
    """Drivers and loads of every net bit of the flattened top module."""

    def __init__(self, module):
        self.cells = module["cells"]
        self.drivers, self.loads = {}, {}
        for name, cell in self.cells.items():
            for port, bits in cell["connections"].items():
                direction = cell["port_directions"].get(port, "input")
                for i, bit in enumerate(bits):
                    if isinstance(bit, str):
                        continue
                    if direction == "output":
                        self.drivers[bit] = (name, port, i)
                    else:
                        self.loads.setdefault(bit, []).append((name, port))
        for port in module.get("ports", {}).values():    # top-level ports load their nets
            for bit in port["bits"]:
                if not isinstance(bit, str):
                    self.loads.setdefault(bit, []).append(("<port>", ""))

    def plain_ff(self, name, clk):
        """The flip-flop's clock enable (``"1"`` when always enabled) if ``name`` is a plain
        block flip-flop on ``clk``, else None."""
        cell = self.cells.get(name)
        if cell is None or cell["type"] != "TRELLIS_FF" or not _BLOCK_CELL.match(name):
            return None
        p, c = cell["parameters"], cell["connections"]
        if (p.get("CLKMUX") != "CLK" or p.get("GSR") != "DISABLED" or p.get("REGSET") != "RESET"
                or c.get("LSR", ["0"]) != ["0"] or c["CLK"] != [clk]):
            return None
        cemux = p.get("CEMUX", "1").strip()
        if cemux == "1":
            return "1"
        if cemux == "CE" and "CE" in c:
            return c["CE"][0]
        return None

    def sole_ff_load(self, bit, clk):
        """(flip-flop, clock enable) when net ``bit`` drives only one plain flip-flop's D."""
        loads = self.loads.get(bit, [])
        if len(loads) != 1 or loads[0][1] != "DI":
            return None
        ce = self.plain_ff(loads[0][0], clk)
        return None if ce is None else (loads[0][0], ce)


def _pins(cell, prefix, count):
    return [f"{prefix}{i}" for i in range(count) if f"{prefix}{i}" in cell["connections"]]


def _output_group(net, cell, pins, clk):
    """{pin: flip-flop} and the one clock enable when every used output pin of ``cell``
    drives one plain flip-flop, else None."""
    group, ces = {}, set()
    for pin in pins:
        bit = cell["connections"][pin][0]
        if isinstance(bit, str) or not net.loads.get(bit):
            continue                                  # unused output bit
        found = net.sole_ff_load(bit, clk)
        if found is None:
            return None
        group[pin], _ = found
        ces.add(found[1])
    if not group or len(ces) != 1:
        return None
    return group, ces.pop()


def _absorb_outputs(net, cell, group):
    """Rewire each output pin to its flip-flop's Q and delete the flip-flop."""
    for pin, ff in group.items():
        cell["connections"][pin] = net.cells[ff]["connections"]["Q"]
        del net.cells[ff]


def _input_group(net, cell, pins, clk):
    """{pin: D bit} and the one clock enable when every non-constant input pin comes from a
    plain flip-flop (constant pins 0), else None."""
    group, ces = {}, set()
    for pin in pins:
        bit = cell["connections"][pin][0]
        if isinstance(bit, str):
            if bit != "0":
                return None
            continue
        driver = net.drivers.get(bit)
        ce = net.plain_ff(driver[0], clk) if driver and driver[1] == "Q" else None
        if ce is None:
            return None
        group[pin] = net.cells[driver[0]]["connections"]["DI"][0]
        ces.add(ce)
    if not group or len(ces) != 1:
        return None
    return group, ces.pop()


def _ce_slot(cell, ce, used):
    """The MULT18X18D clock-enable pin (CE0..CE3) carrying ``ce``, allocated on first use."""
    for slot in used:
        if used[slot] == ce:
            return slot
    slot = f"CE{len(used)}"
    used[slot] = ce
    cell["connections"][slot] = [ce]
    cell["port_directions"][slot] = "input"
    return slot


def _clock_of(net, cell, pins_in, pins_out):
    """The clock of the flip-flops around a DSP (the first one found), or None."""
    for pin in pins_out:
        bit = cell["connections"][pin][0]
        if not isinstance(bit, str):
            for load, port in net.loads.get(bit, []):
                if port == "DI" and load in net.cells:
                    return net.cells[load]["connections"]["CLK"][0]
    for pin in pins_in:
        bit = cell["connections"][pin][0]
        driver = net.drivers.get(bit) if not isinstance(bit, str) else None
        if driver and net.cells[driver[0]]["type"] == "TRELLIS_FF":
            return net.cells[driver[0]]["connections"]["CLK"][0]
    return None


def _pack_dsp(net, name, counts):
    cell = net.cells[name]
    params = cell["parameters"]
    if any(params.get(k, "NONE") != "NONE" for k in
           ("REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_OUTPUT_CLK", "REG_PIPELINE_CLK")):
        return
    a, b, p = _pins(cell, "A", 18), _pins(cell, "B", 18), _pins(cell, "P", 36)
    clk = _clock_of(net, cell, a + b, p)
    if clk is None:
        return
    used = {}
    out = _output_group(net, cell, p, clk)
    ins = {reg: _input_group(net, cell, pins, clk) for reg, pins in (("A", a), ("B", b))}
    if out is None and not any(ins.values()):
        return
    cell["connections"].update(CLK0=[clk], RST0=["0"])
    cell["port_directions"].update(CLK0="input", RST0="input")
    params.update(GSR="DISABLED", RESETMODE="SYNC")
    if out is not None:
        group, ce = out
        _absorb_outputs(net, cell, group)
        params.update(REG_OUTPUT_CLK="CLK0", REG_OUTPUT_CE=_ce_slot(cell, ce, used),
                      REG_OUTPUT_RST="RST0")
        counts["dsp_output_ffs"] += len(group)
    for reg, found in ins.items():
        if found is None:
            continue
        group, ce = found
        for pin, d in group.items():
            cell["connections"][pin] = [d]
        params.update({f"REG_INPUT{reg}_CLK": "CLK0",
                       f"REG_INPUT{reg}_CE": _ce_slot(cell, ce, used),
                       f"REG_INPUT{reg}_RST": "RST0"})
        counts["dsp_input_pins"] += len(group)
    counts["dsp_packed"] += 1


def _pack_bram_port(net, cell, side, counts):
    params, conns = cell["parameters"], cell["connections"]
    if params.get(f"REGMODE_{side}", "NOREG") != "NOREG" or conns.get(f"RST{side}") != ["0"]:
        return
    clk = conns.get(f"CLK{side}", ["0"])[0]
    if isinstance(clk, str) or params.get(f"CLK{side}MUX", f"CLK{side}") != f"CLK{side}":
        return
    found = _output_group(net, cell, _pins(cell, f"DO{side}", 18), clk)
    if found is None:
        return
    group, ce = found
    _absorb_outputs(net, cell, group)
    params[f"REGMODE_{side}"] = "OUTREG"
    conns[f"OCE{side}"] = [ce]
    counts["bram_output_ffs"] += len(group)
    counts["bram_ports_packed"] += 1


def _drop_unloaded(net, candidates):
    """Delete the flip-flops among ``candidates`` whose output no longer drives anything."""
    dropped = 0
    for ff in candidates:
        q = net.cells[ff]["connections"]["Q"][0]
        if not net.loads.get(q):
            del net.cells[ff]
            dropped += 1
    return dropped


def pack_ecp5(netlist, top="fpga_wrap"):
    """Pack registers into ``top``'s DP16KD and MULT18X18D cells, in place; returns counts.

    Block RAM ports go first: a register between a RAM and a DSP becomes the RAM's output
    register (a RAM read is the slower of the two without one).
    """
    module = netlist["modules"][top]
    cells = module["cells"]
    counts = dict.fromkeys(("bram_ports_packed", "bram_output_ffs", "dsp_packed",
                            "dsp_input_pins", "dsp_output_ffs", "ff_removed"), 0)
    before = sum(c["type"] == "TRELLIS_FF" for c in cells.values())
    for name in [n for n, c in cells.items() if c["type"] == "DP16KD"]:
        for side in "AB":
            _pack_bram_port(_Netlist(module), cells[name], side, counts)
    for name in [n for n, c in cells.items() if c["type"] == "MULT18X18D"]:
        net = _Netlist(module)
        feeding = {net.drivers[b][0] for pins in ("A", "B")
                   for pin in _pins(cells[name], pins, 18)
                   for b in cells[name]["connections"][pin]
                   if not isinstance(b, str) and b in net.drivers}
        _pack_dsp(net, name, counts)
        net = _Netlist(module)
        _drop_unloaded(net, [f for f in feeding
                             if f in cells and cells[f]["type"] == "TRELLIS_FF"
                             and _BLOCK_CELL.match(f)])
    counts["ff_removed"] = before - sum(c["type"] == "TRELLIS_FF" for c in cells.values())
    return counts
