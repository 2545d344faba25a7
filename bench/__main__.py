"""``python -m bench``: every bench/bench_*.py module's ``run()`` as a table.

    python -m bench [--quick] [NAME ...]     (NAME: e.g. golden_rlc, hw, pruning)
"""

import argparse
import importlib
import pkgutil
import sys
import time

import bench as package
from tb.report import print_table


def print_rows(rows, out=sys.stdout):
    if not rows:
        print("  (no rows)", file=out)
        return
    header = list(dict.fromkeys(k for row in rows for k in row))
    print_table(header, [[row.get(k) for k in header] for row in rows], out=out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*")
    parser.add_argument("--quick", action="store_true", help="smaller problem sizes")
    args = parser.parse_args(argv)
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(package.__path__)
                   if m.name.startswith("bench_"))
    unknown = set(args.names) - set(names)
    if unknown:
        parser.error(f"unknown bench(es) {sorted(unknown)}; known: {names}")
    for name in args.names or names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"\n== {name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        t0 = time.perf_counter()
        # A module may lay out its own table (bench_hw: one section per bench).
        getattr(module, "print_rows", print_rows)(module.run(quick=args.quick))
        print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
