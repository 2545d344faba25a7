"""Verilog generation with reproducible output.

Amaranth tags every cell with a ``src`` attribute naming the Python line that made it,
which is what lets an engineer go from a Verilog net back to the gateware.  Those paths
are absolute, so they are rewritten relative to the project (or to ``site-packages`` for
Amaranth's own library): the output is then the same bytes on every machine and run.

Two more rewrites make the text one that every tool reads and that can share a design:

* The Yosys bundled with Amaranth writes an attribute such as ``(* full_case = 32'd1 *)``
  in front of a ``case``/``if`` it has emptied, leaving the attribute in front of nothing
  (``... *) end``).  Verilator accepts that; upstream Yosys and other tools reject it as a
  syntax error.  An attribute of an empty statement has no meaning, so it is dropped.
* ``module_name`` names the top; Amaranth names every submodule after it
  (``<module_name>.core``, ``<module_name>.core.fifo``, ...), so two builds of one block
  under two names share no module and can be read into one synthesis or lint run.
"""

import errno
import json
import os
import re
import sys
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog

from .blocks import build_top, get_block

__all__ = ["verilog", "component_verilog", "write_verilog", "check_module_name",
           "manifest_build"]

_PROJECT = Path(__file__).resolve().parent.parent
_SRC_ATTR = re.compile(r'\(\* src = "([^"]*)" \*\)')
# One or more attribute lines followed by a blank line: attributes of an empty statement
# (Yosys' Verilog backend writes each attribute on its own line right before its statement).
_DANGLING_ATTRS = re.compile(r"(?:^[ \t]*\(\*[^\n]*\*\)[ \t]*\n)+(?=[ \t]*\n)", re.M)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Verilog-2005 / SystemVerilog words a module cannot be called (the ones a name might hit).
_RESERVED = {"module", "endmodule", "input", "output", "inout", "wire", "reg", "logic",
             "begin", "end", "if", "else", "case", "casez", "endcase", "always", "assign",
             "initial", "function", "task", "parameter", "localparam", "integer", "signed",
             "default", "for", "while", "generate", "interface", "package", "class", "bit"}


def _relative_path(path):
    path = os.path.normpath(path)
    # The deepest root wins, so a virtualenv inside the project still yields "amaranth/...".
    roots = sorted({os.path.normpath(os.path.abspath(p)) for p in [_PROJECT, *sys.path] if p},
                   key=len, reverse=True)
    for root in roots:
        if path.startswith(root + os.sep):
            return os.path.relpath(path, root)
    return os.path.basename(path)


def _relative_src(match):
    # One attribute may list several locations separated by "|", each "path:line[.col]".
    locations = []
    for location in match.group(1).split("|"):
        path, sep, line = location.rpartition(":")
        locations.append(f"{_relative_path(path)}{sep}{line}" if sep else location)
    return f'(* src = "{"|".join(locations)}" *)'


def check_module_name(module_name):
    """``module_name`` if it can name a Verilog module (a plain identifier), else ValueError."""
    if not isinstance(module_name, str) or not _IDENTIFIER.fullmatch(module_name) \
            or module_name in _RESERVED:
        raise ValueError(f"Module name must be a Verilog identifier (letters, digits, '_', "
                         f"not starting with a digit, not a keyword), not {module_name!r}")
    return module_name


def verilog(name, module_name=None, **params):
    """Verilog text of block ``name`` with ``params``.

    The top module is called ``module_name`` (default: ``name``) and every submodule
    ``<module_name>.<path>``, so builds under different names never clash.
    """
    get_block(name)
    module_name = check_module_name(name if module_name is None else module_name)
    return component_verilog(build_top(name, **params), module_name)


def component_verilog(top, module_name):
    """Verilog text of any Amaranth component ``top``, with the rewrites above."""
    text = amaranth_verilog.convert(top, name=check_module_name(module_name))
    text = _DANGLING_ATTRS.sub("", text)
    return _SRC_ATTR.sub(_relative_src, text)


def write_verilog(name, out_dir, module_name=None, **params):
    """Write ``out_dir/<module_name>.v`` (default ``<name>.v``) only if its content changed;
    returns the path.

    Leaving an unchanged file alone keeps its timestamp, so downstream caches stay warm.
    A missing folder is created; a path that is a file, or a folder that cannot be
    written, raises :class:`OSError` naming it.
    """
    text = verilog(name, module_name, **params)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder", str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{module_name or name}.v"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".v.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


def manifest_build(path, block=None):
    """``(block, params)`` recorded in an export manifest's ``"hardware"`` entry.

    The pruning exporter writes, per layer, ``{"hardware": {"block": NAME, "params":
    {...}}}``: the build its streams were packed for.  ``block``, if given, must be the
    manifest's.  Raises ValueError with a one-line message on any mismatch.
    """
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"manifest {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"manifest {str(path)!r} cannot be read as JSON: {exc}") from None
    hardware = manifest.get("hardware") if isinstance(manifest, dict) else None
    if isinstance(manifest, dict) and "hardware" in manifest and hardware is None:
        raise ValueError(f"manifest {str(path)!r} records no hardware build (its format "
                         f"{manifest.get('format', '?')!r} has no block)")
    if not isinstance(hardware, dict):
        raise ValueError(f"manifest {str(path)!r} has no \"hardware\" entry (block and "
                         f"params); export it again with the current pruning package")
    recorded, params = hardware.get("block"), hardware.get("params")
    if not isinstance(recorded, str) or not isinstance(params, dict):
        raise ValueError(f"manifest {str(path)!r}: \"hardware\" must hold a \"block\" name "
                         f"and a \"params\" object, not {hardware!r}")
    get_block(recorded)
    if block is not None and block != recorded:
        raise ValueError(f"manifest {str(path)!r} is for block {recorded!r}, not {block!r}")
    get_block(recorded).params(params)           # unknown parameter names: ValueError
    return recorded, dict(params)
