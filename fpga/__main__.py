"""``python -m fpga``: synthesis/place-and-route figures and FuseSoC cores of every top.

    python -m fpga synth [BLOCK ...] [--devices ecp5-25f,ice40-up5k] [--seeds 1,2,3]
                         [--jobs 2] [--json build/synth/results.json] [--no-pair]
                         [--markdown] [--cached]
    python -m fpga cores [--out build/cores]

``synth`` covers every registered top at its defaults and every bench variant
(tb/benches.py), plus one design holding two csr_spmv configurations under two module
names; it prints one table and writes every row (every seed) to the JSON file.
"""

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .configs import configs, pair_design
from .flow import SYNTH_DIR, run_config
from .report import format_markdown, format_table
from .tools import DEVICES, tool_versions


def _seeds(text):
    try:
        seeds = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers like 1,2,3, not {text!r}")
    if not seeds or any(s < 1 for s in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be positive integers, not {text!r}")
    return seeds


def _devices(text):
    names = [d for d in text.replace(" ", "").split(",") if d]
    unknown = [d for d in names if d not in DEVICES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown device(s) {unknown}; known: {', '.join(DEVICES)}")
    return names


def cmd_synth(args):
    try:
        todo = configs(args.blocks or None)
    except ValueError as exc:
        raise SystemExit(f"fpga: {exc}") from None
    if not args.blocks and not args.no_pair:
        todo.append(pair_design())
    jobs = []
    for config in todo:
        for device in args.devices:
            # The seed sweep is for the timing target (ECP5); iCE40 gets the first seed.
            seeds = args.seeds if device.startswith("ecp5") else args.seeds[:1]
            jobs.append((config, device, seeds))
    print(f"fpga: {len(todo)} designs x {len(args.devices)} devices, seeds "
          f"{','.join(map(str, args.seeds))}; cache {SYNTH_DIR}", file=sys.stderr)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda job: run_config(*job, cached_only=args.cached), jobs))
    rows = [row for result in results for row in result]
    print(format_markdown(rows) if args.markdown else format_table(rows))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"tools": tool_versions(), "seeds": args.seeds, "rows": rows},
                              indent=1, sort_keys=True))
    print(f"fpga: wrote {out}", file=sys.stderr)
    failed = [r for r in rows if "error" in r and not r["device"].startswith("ice40")]
    for row in failed:
        print(f"fpga: {row['top']} on {row['device']}: {row['error']}", file=sys.stderr)
    return 1 if failed else 0


def cmd_cores(args):
    from .cores import write_cores
    for path in write_cores(Path(args.out)):
        print(path)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fpga", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    synth = sub.add_parser("synth", help="synthesise, place and route every top; print the table")
    synth.add_argument("blocks", nargs="*", metavar="BLOCK",
                       help="a block (all its builds) or one build: cnv_unit[default], "
                            "csr_spmv[lanes4]; default: every block")
    synth.add_argument("--devices", type=_devices, default=["ecp5-25f", "ice40-up5k"],
                       help=f"comma-separated, of: {', '.join(DEVICES)}")
    synth.add_argument("--seeds", type=_seeds, default=[1], help="nextpnr seeds, e.g. 1,2,3")
    synth.add_argument("--jobs", type=int, default=2, help="designs placed at once")
    synth.add_argument("--json", default=str(SYNTH_DIR / "results.json"), help="JSON output")
    synth.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    synth.add_argument("--cached", action="store_true",
                       help="run no tool: report what the cache holds")
    synth.add_argument("--no-pair", action="store_true",
                       help="skip the design holding two csr_spmv configurations")
    cores = sub.add_parser("cores", help="write a FuseSoC .core (and its Verilog) per top")
    cores.add_argument("--out", default="build/cores", help="output folder")
    args = parser.parse_args(argv)
    if args.command == "synth":
        if args.jobs < 1:
            parser.error("--jobs must be at least 1")
        return cmd_synth(args)
    return cmd_cores(args)


if __name__ == "__main__":
    sys.exit(main())
