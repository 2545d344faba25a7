"""``python -m tb``: the simulation regression and the Verilator lint.

    python -m tb sim  [BENCH ...] [--seed N] [--waves]   (also SEED= / WAVES=1 in the env)
    python -m tb lint [--dir build/verilog]
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from .benches import BENCHES
from .report import metric_rows, print_table
from .runner import VLT, run_bench, verilator_cmd


def summary_rows(results):
    """One row per bench and test: result, elements, cycles, bound, elements/cycle."""
    return [[r["bench"], r["test"], r["result"], r["elements"], r["cycles"], r["bound"],
             f"{r['rate']:.3f}" if r["rate"] else "-"]
            for bench, result in results for r in metric_rows(bench, result)]


def cmd_sim(args):
    seed = args.seed if args.seed is not None else os.environ.get("SEED") or None
    seed = int(seed) if seed is not None else int.from_bytes(os.urandom(4), "little") >> 1
    waves = args.waves or os.environ.get("WAVES", "0") not in ("", "0")
    benches = [b for b in BENCHES if not args.benches or b.id in args.benches
               or b.block in args.benches]
    if not benches:
        print(f"no bench matches {args.benches}; known: {[b.id for b in BENCHES]}")
        return 2
    print(f"make sim: seed {seed} (reproduce with `make sim SEED={seed}`)"
          + (", FST waveforms under build/sim/*-waves/run-*/dump.fst" if waves else ""))
    results = []
    for bench in benches:
        t0 = time.monotonic()
        result = run_bench(bench.block, bench.module, params=bench.params,
                           test_filter=bench.test_filter, seed=seed, waves=waves,
                           tag=bench.tag)
        status = "PASS" if result.passed else "FAIL"
        print(f"  {bench.id:<24} {status}  {len(result.tests)} tests  "
              f"{'built' if result.built else 'cached model'}  {time.monotonic() - t0:.1f} s",
              flush=True)
        results.append((bench, result))
    print()
    print_table(["bench", "test", "result", "elements", "cycles", "bound", "elem/cycle"],
                summary_rows(results))
    failed = [(b, t) for b, r in results for t in r.tests if not t.passed]
    for bench, test in failed:
        print(f"\nFAILED {bench.id} {test.name}:\n{test.message}")
    total = sum(len(r.tests) for _, r in results)
    print(f"\n{total - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cmd_lint(args):
    files = sorted(Path(args.dir).glob("*.v"))
    if not files:
        print(f"no Verilog in {args.dir}; run `make verilog` first")
        return 2
    bad = 0
    for path in files:
        proc = subprocess.run(verilator_cmd("--lint-only", "-Wall", VLT, path),
                              capture_output=True, text=True)
        warnings = [l for l in proc.stderr.splitlines() if l.startswith("%")]
        print(f"{path}: {'clean' if proc.returncode == 0 and not warnings else 'FAILED'}")
        if proc.returncode or warnings:
            bad += 1
            print(proc.stderr)
    print(f"lint: {len(files) - bad} clean, {bad} with warnings (waivers: {VLT.name})")
    return 1 if bad else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tb", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("sim", help="run the cocotb regressions on Verilator")
    sim.add_argument("benches", nargs="*", metavar="BENCH")
    sim.add_argument("--seed", type=int)
    sim.add_argument("--waves", action="store_true")
    lint = sub.add_parser("lint", help="verilator --lint-only -Wall on generated Verilog")
    lint.add_argument("--dir", default="build/verilog")
    args = parser.parse_args(argv)
    return cmd_sim(args) if args.command == "sim" else cmd_lint(args)


if __name__ == "__main__":
    sys.exit(main())
