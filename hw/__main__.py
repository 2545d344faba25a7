"""``python -m hw``: list the blocks and generate their Verilog.

    python -m hw list
    python -m hw generate [BLOCK ...] [--out build/verilog] [--param NAME=VALUE ...]
    python -m hw generate BLOCK --name MODULE [--param NAME=VALUE ...]
    python -m hw generate [BLOCK] --from-manifest DIR/LAYER.json [--name MODULE]

``--name`` names the top module and prefixes every submodule (file ``<out>/MODULE.v``), so
several configurations of one block can live in one design.  ``--from-manifest`` builds
exactly the hardware a pruning export's manifest was packed for (its "hardware" entry).
"""

import argparse
import sys

from amaranth.hdl import Shape

from .blocks import BLOCKS, build_top, get_block
from .generate import check_module_name, manifest_build, write_verilog


def _parse_param(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"Parameter must look like NAME=VALUE, not {text!r}")
    try:
        return name, int(value, 0)
    except ValueError:
        return name, value


def port_rows(name):
    """``(port, direction, width)`` of every port of block ``name``'s default top."""
    members = build_top(name).signature.members
    rows = [("clk", "in", 1), ("rst", "in", 1)]
    rows += [(port, "in" if member.flow.name == "In" else "out", Shape.cast(member.shape).width)
             for port, member in members.items()]
    return rows


def cmd_list():
    for block in BLOCKS.values():
        params = ", ".join(f"{k}={v}" for k, v in block.defaults.items()) or "-"
        print(f"{block.name:<16} {block.description}\n{'':<16} parameters: {params}")
        # One line per AXI4-Stream port group and one per other port, widths at defaults.
        rows = port_rows(block.name)
        prefixes = list(dict.fromkeys(block.streams.values()))
        for prefix in prefixes:
            group = {p[len(prefix) + 1:]: (d, w) for p, d, w in rows
                     if p.rsplit("_", 1)[0] == prefix}
            forward = ", ".join(f"{s}[{w}]" if w > 1 else s for s, (d, w) in group.items()
                                if s != "tready")
            role, back = ("subordinate", "out") if group["tready"][0] == "out" else ("manager", "in")
            print(f"{'':<16} {group['tvalid'][0]:<3} {prefix:<12} AXI4-Stream {role}: "
                  f"{forward}; tready {back}")
        grouped = {f"{p}_{s}" for p in prefixes for s in ("tdata", "tvalid", "tready", "tlast")}
        for port, direction, width in rows:
            if port not in grouped:
                print(f"{'':<16} {direction:<3} {port:<12} {width} bit{'s' if width > 1 else ''}")
    return 0


def cmd_generate(parser, args):
    params = dict(args.param)
    names = args.blocks or list(BLOCKS)
    if args.from_manifest:
        if len(args.blocks) > 1:
            parser.error("--from-manifest takes at most one BLOCK")
        if params:
            parser.error("--from-manifest builds the manifest's parameters; drop --param")
        block, params = manifest_build(args.from_manifest, args.blocks[0] if args.blocks else None)
        names = [block]
    if (params or args.name) and len(names) != 1:
        parser.error(f"--param and --name need exactly one BLOCK, not {len(names)}")
    if args.name:
        check_module_name(args.name)
    for name in names:
        get_block(name)
        print(write_verilog(name, args.out, args.name, **params))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the blocks, their parameters and AXI ports")
    gen = sub.add_parser("generate", help="write <out>/<block>.v for each block")
    gen.add_argument("blocks", nargs="*", metavar="BLOCK", help="default: every block")
    gen.add_argument("--out", default="build/verilog", help="output folder")
    gen.add_argument("--param", action="append", type=_parse_param, default=[],
                     metavar="NAME=VALUE", help="override a parameter (one block only)")
    gen.add_argument("--name", metavar="MODULE",
                     help="top module name, also the prefix of every submodule and the file "
                          "name (one block only); default: the block's name")
    gen.add_argument("--from-manifest", metavar="JSON",
                     help="the block and parameters recorded in a pruning export manifest")
    args = parser.parse_args(argv)

    if args.command == "list":
        return cmd_list()
    try:
        return cmd_generate(parser, args)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:           # --out is a file, read-only, ...
        reason = exc.strerror or str(exc)
        where = exc.filename if exc.filename is not None else args.out
        print(f"error: cannot write Verilog to {str(where)!r}: {reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
