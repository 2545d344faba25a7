"""``python -m hw``: list the blocks and generate their Verilog.

    python -m hw list
    python -m hw generate [BLOCK ...] [--out build/verilog] [--param NAME=VALUE ...]
"""

import argparse
import sys

from .blocks import BLOCKS, get_block
from .generate import write_verilog


def _parse_param(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"Parameter must look like NAME=VALUE, not {text!r}")
    try:
        return name, int(value, 0)
    except ValueError:
        return name, value


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
    args = parser.parse_args(argv)

    if args.command == "list":
        for block in BLOCKS.values():
            params = ", ".join(f"{k}={v}" for k, v in block.defaults.items()) or "-"
            print(f"{block.name:<16} {block.description}\n{'':<16} parameters: {params}")
        return 0

    names = args.blocks or list(BLOCKS)
    params = dict(args.param)
    if params and len(names) != 1:
        parser.error("--param needs exactly one BLOCK")
    try:
        for name in names:
            get_block(name)
            print(write_verilog(name, args.out, **params))
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
