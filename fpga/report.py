"""Reading what the tools wrote: cell counts from Yosys ``stat -json``, Fmax, utilisation
and the critical path from nextpnr's ``--report`` JSON, and the results table.

The critical path is named back to the Python line that made it: every net nextpnr lists
carries the ``src`` attributes of the Verilog, which :mod:`hw.generate` writes relative to
the project (``hw/rlc.py:71``); the start and end registers are named by the signal their
output drives (``core.hold_valid``), looked up in the synthesised netlist.
"""

import re

__all__ = ["block_resources", "parse_report", "format_table", "COLUMNS"]

# Yosys cell type -> column, per family.  Cells not listed (wide-function muxes PFUMX and
# L6MUX21, which combine LUT4s already counted) are kept in "cells" only.
_CELLS = {
    "ecp5": {"LUT": ("LUT4", "LUT2"), "FF": ("TRELLIS_FF",), "carry": ("CCU2C",),
             "DSP": ("MULT18X18D", "ALU54B"), "BRAM": ("DP16KD", "PDPW16KD"),
             "LUTRAM": ("TRELLIS_DPR16X4", "DPR16X4C")},
    "ice40": {"LUT": ("SB_LUT4",), "FF": ("SB_DFF",), "carry": ("SB_CARRY",),
              "DSP": ("SB_MAC16",), "BRAM": ("SB_RAM40_4K",), "LUTRAM": (),
              "SPRAM": ("SB_SPRAM256KA",)},
}
# The nextpnr utilisation entries worth keeping (the rest are I/O and clocking specials).
_UTIL = {"ecp5": ("TRELLIS_COMB", "TRELLIS_FF", "TRELLIS_RAMW", "DP16KD", "MULT18X18D"),
         "ice40": ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_DSP", "ICESTORM_SPRAM")}


def _module_stat(stat, module):
    modules = stat["modules"]
    return modules.get(module) or modules.get("\\" + module) or {}


def block_resources(stat, modules, family):
    """{column: count} summed over ``modules`` in a Yosys ``stat -json`` document."""
    counts = {}
    for module in modules:
        for cell, n in _module_stat(stat, module).get("num_cells_by_type", {}).items():
            if not cell.startswith("$"):
                counts[cell] = counts.get(cell, 0) + n
    out = {}
    for column, types in _CELLS[family].items():
        # iCE40 flip-flops come in many flavours (SB_DFFE, SB_DFFESR, ...): match by prefix.
        out[column] = sum(n for cell, n in counts.items()
                          if cell in types or (column == "FF" and family == "ice40"
                                               and cell.startswith("SB_DFF")))
    out["cells"] = dict(sorted((c, n) for c, n in counts.items() if c not in modules))
    return out


_PRIMITIVE = re.compile(r"_(?:SB_LUT4|SB_CARRY|SB_DFF\w*|SB_RAM40_4K|SB_MAC16|LUT4|LUT2|CCU2C|"
                        r"PFUMX|L6MUX21|TRELLIS_\w+|DP16KD|PDPW16KD|MULT18X18D|ALU54B)_.*$")


_HARD_BLOCKS = {"DP16KD", "PDPW16KD", "MULT18X18D", "ALU54B", "TRELLIS_DPR16X4",
                "SB_RAM40_4K", "SB_MAC16", "SB_SPRAM256KA"}


class _Netlist:
    """Lookups in a flattened Yosys JSON netlist: a net bit's name, a cell's output net."""

    def __init__(self, netlist, top="fpga_wrap"):
        module = netlist["modules"][top]
        self.cells = module["cells"]
        self.net_src = {name: net.get("attributes", {}).get("src", "")
                        for name, net in module["netnames"].items()}
        self.bit_names = {}
        # A bit has several names; the most telling wins: a visible name inside the block
        # ("dut0.core.acc", which the Python names) over the wrapper's ("sin[3]") or a
        # tool's ("$abc$123"), and the deeper one ("dut0.core.acc" over "dut0.m_axis_tdata").
        names = sorted(module["netnames"].items(),
                       key=lambda kv: (kv[1].get("hide_name", 0), kv[0].startswith("$"),
                                       not kv[0].startswith("dut"), -kv[0].count("."),
                                       len(kv[0])))
        self.port_names = {}     # bit -> a top's port name ("dut0.s_axis_tdata[3]")
        for name, net in names:
            src = net.get("attributes", {}).get("src", "")
            port = re.fullmatch(r"dut\d+\.[^.]+", name)
            for index, bit in enumerate(net["bits"]):
                if not isinstance(bit, int):
                    continue
                label = name if len(net["bits"]) == 1 else f"{name}[{index}]"
                self.bit_names.setdefault(bit, (label, src))
                if port:
                    self.port_names.setdefault(bit, (label, src))

    def cell(self, name):
        """The netlist cell behind a path endpoint's nextpnr cell name.

        Packing renames: ECP5 keeps the flip-flop's name, iCE40 puts a LUT and a flip-flop
        in one logic cell named after the LUT (``x_SB_DFFESR_Q_1_D_SB_LUT4_O_LC``), so the
        flip-flop's own name is looked for first."""
        ff = re.match(r"(.*?_(?:SB_DFF\w*?|TRELLIS_FF)_Q(?:_\d+)?)(?=_|$)", name)
        candidates = ([ff.group(1)] if ff else []) + [name, re.sub(r"_(DFF)?LC$", "", name)]
        for candidate in candidates:
            if candidate in self.cells:
                return candidate, self.cells[candidate]
        return name, None

    def output_of(self, cell):
        """(name, src) of a path endpoint: the net a register drives (its Q), or a RAM or
        DSP block itself (``core.xmem.0.0 (DP16KD)``)."""
        cell, info = self.cell(cell)
        if info is None:
            return cell, ""
        cell_src = info.get("attributes", {}).get("src", "")
        if info["type"] in _HARD_BLOCKS:
            return f"{cell} ({info['type']})", cell_src
        directions = info.get("port_directions", {})
        # A wrapper register is named by the top's port it drives or samples.
        wrapper = not cell.startswith("dut")
        for port, bits in info.get("connections", {}).items():
            if directions.get(port) == "output":
                for bit in bits:
                    if wrapper and bit in self.port_names:
                        return self.port_names[bit]
                    if wrapper:       # an output register: named by its D input's port
                        for d in (info["connections"].get("D", []) +
                                  info["connections"].get("DI", [])):
                            if d in self.port_names:
                                return self.port_names[d]
                    if bit in self.bit_names:
                        name, src = self.bit_names[bit]
                        return name, src or cell_src
        return cell, cell_src

    def signal_of(self, cell):
        """(signal, src) a logic cell was named after by Yosys (``dut0.core.x_LUT4_Z`` ->
        ``dut0.core.x``), or None."""
        name = re.sub(r"^\$gbuf_", "", cell)
        base = _PRIMITIVE.sub("", name)
        if base == name or base not in self.net_src or "$" in base and not self.net_src[base]:
            return None
        return base, self.net_src[base]


def _project_sources(sources):
    """The Python locations among a net's ``src`` strings (not Yosys' cell library, not the
    generated wrapper)."""
    found = []
    for text in sources or []:
        for location in text.split("|"):
            location = location.strip()
            if location and not location.startswith("/") and ".v:" not in location:
                found.append(location)
    return found


def _line(location):
    """``hw/rlc.py:71.3-71.9`` -> ``hw/rlc.py:71``."""
    return re.sub(r":(\d+)(\.\d+)?(-\d+(\.\d+)?)?$", r":\1", location)


def _display(name, modules):
    """``dut0.core.acc[3]`` -> ``core.acc[3]`` (one top) or ``csr_spmv_lanes4.core.acc[3]``."""
    match = re.match(r"dut(\d+)\.(.*)", name)
    if not match:
        return name
    index, rest = int(match.group(1)), match.group(2)
    return rest if len(modules) == 1 else f"{modules[index]}.{rest}"


def _critical_path(report, netlist, modules):
    paths = [p for p in report.get("critical_paths", [])
             if p["from"].startswith("posedge") and p["to"].startswith("posedge")]
    if not paths:
        return None
    steps = paths[0]["path"]
    net = _Netlist(netlist)
    start_cell, end_cell = steps[0]["from"]["cell"], steps[-1]["to"]["cell"]
    start_name, start_src = net.output_of(start_cell)
    end_name, end_src = net.output_of(end_cell)
    # Endpoints in the wrapper are the registers on the top's ports (see fpga/wrapper.py).
    if not net.cell(start_cell)[0].startswith("dut"):
        start_name = f"input register of {_display(start_name, modules)}"
    if not net.cell(end_cell)[0].startswith("dut"):
        end_name = f"output register of {_display(end_name, modules)}"
    through, signals = [], []
    for step in steps:
        for location in _project_sources(step.get("sources")):
            location = _line(location)
            if location not in through:
                through.append(location)
        found = net.signal_of(step["to"]["cell"]) if step["type"] == "logic" else None
        if found and _display(found[0], modules) not in [n for n, _ in signals]:
            src = [_line(s) for s in _project_sources([found[1]])]
            signals.append((_display(found[0], modules), src[0] if src else ""))
    start_src = [_line(s) for s in _project_sources([start_src])]
    end_src = [_line(s) for s in _project_sources([end_src])]
    return {
        "from": _display(start_name, modules), "from_src": start_src[0] if start_src else "",
        "to": _display(end_name, modules), "to_src": end_src[0] if end_src else "",
        "through": through,
        "signals": [f"{name} ({src})" if src else name for name, src in signals],
        "logic_levels": sum(1 for s in steps if s["type"] == "logic"),
        "logic_ns": round(sum(s["delay"] for s in steps if s["type"] != "routing"), 3),
        "routing_ns": round(sum(s["delay"] for s in steps if s["type"] == "routing"), 3),
        "from_cell": start_cell, "to_cell": end_cell,
    }


def parse_report(report, netlist, family, modules=None):
    """{fmax_mhz, utilisation, critical_path} from nextpnr's report and Yosys' netlist."""
    modules = modules or ["top"]
    fmax = [v["achieved"] for k, v in report.get("fmax", {}).items()]
    util = {k: [v["used"], v["available"]] for k, v in report.get("utilization", {}).items()
            if k in _UTIL[family]}
    return {"fmax_mhz": round(min(fmax), 2) if fmax else None, "utilisation": util,
            "critical_path": _critical_path(report, netlist, modules)}


def path_text(path):
    """One line: ``core.a (hw/x.py:1) -> core.b (hw/x.py:9), 4 levels``."""
    if not path:
        return "-"
    via = [s.split(" (")[0] for s in path.get("signals", [])
           if s.split(" (")[0] not in (path["from"], path["to"])]
    def end(name, src):
        return f"{name} ({src})" if src else name
    return (f"{end(path['from'], path['from_src'])} -> {end(path['to'], path['to_src'])}, "
            f"{path['logic_levels']} levels"
            + (f" via {', '.join(via[:4])}" if via else ""))


COLUMNS = ["top", "device", "LUT", "FF", "carry", "DSP", "BRAM", "LUTRAM", "Fmax",
           "seeds", "critical path"]


def _fmt_seeds(fmaxes):
    if len(fmaxes) < 2:
        return ""
    return f"{min(fmaxes):.0f}-{max(fmaxes):.0f}"


def table_rows(rows):
    """Rows per (top, device): seed-lowest row's figures, Fmax of the first seed, spread."""
    groups = {}
    for row in rows:
        groups.setdefault((row["top"], row["device"], row.get("tried")), []).append(row)
    out = []
    for (top, device, tried), group in groups.items():
        group = sorted(group, key=lambda r: r["seed"])
        first = group[0]
        name = device if not tried else f"{device} ({tried}: no fit)"
        if "error" in first:
            out.append([top, name] + [""] * 6 + ["-", "", first["error"][:70]])
            continue
        fmaxes = [r["fmax_mhz"] for r in group if r.get("fmax_mhz")]
        out.append([top, name] + [str(first.get(c, "")) for c in
                                  ("LUT", "FF", "carry", "DSP", "BRAM", "LUTRAM")]
                   + [f"{first['fmax_mhz']:.1f}", _fmt_seeds(fmaxes),
                      path_text(first.get("critical_path"))])
    return out


def format_table(rows):
    """The results as a fixed-width text table (one line per top and device)."""
    body = table_rows(rows)
    widths = [max(len(str(r[i])) for r in [COLUMNS] + body) for i in range(len(COLUMNS))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in [COLUMNS] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(rows):
    """The same table in Markdown (for the README)."""
    body = table_rows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in body]
    return "\n".join(lines)
