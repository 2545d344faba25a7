"""Verilog generation with reproducible output.

Amaranth tags every cell with a ``src`` attribute naming the Python line that made it,
which is what lets an engineer go from a Verilog net back to the gateware.  Those paths
are absolute, so they are rewritten relative to the project (or to ``site-packages`` for
Amaranth's own library): the output is then the same bytes on every machine and run.
"""

import os
import re
import sys
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog

from .blocks import build_top, get_block

__all__ = ["verilog", "write_verilog"]

_PROJECT = Path(__file__).resolve().parent.parent
_SRC_ATTR = re.compile(r'\(\* src = "([^"]*)" \*\)')


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


def verilog(name, **params):
    """Verilog text of block ``name`` with ``params``; the top module is called ``name``."""
    get_block(name)
    text = amaranth_verilog.convert(build_top(name, **params), name=name)
    return _SRC_ATTR.sub(_relative_src, text)


def write_verilog(name, out_dir, **params):
    """Write ``out_dir/<name>.v`` only if its content changed; returns the path.

    Leaving an unchanged file alone keeps its timestamp, so downstream caches stay warm.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    text = verilog(name, **params)
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".v.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path
