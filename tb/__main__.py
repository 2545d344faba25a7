"""``python -m tb``: the simulation regression and the Verilator lint.

    python -m tb sim  [BENCH ...] [--seed N] [--waves] [--testcase NAME[,NAME...]]
                      (also SEED=, WAVES=1 and TESTCASE= in the environment, as `make sim` passes them)
    python -m tb lint [--dir build/verilog]

BENCH is a bench id (`csr_spmv[lanes4]`) or a block name (all its benches).  TESTCASE
follows cocotb's convention: comma-separated test names, e.g. `encoder_edges` (every
parametrised variant) or `encoder_edges/stall=False` (one); only benches that have such
a test run.
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from .benches import BENCHES
from .report import metric_rows, print_sections
from .runner import (VLT, cocotb_test_names, exact_filter, parse_seed, parse_testcase, run_bench, select_tests,
                     verilator_cmd, wave_format)


SUMMARY_HEADER = ["test", "result", "elements", "cycles", "bound", "elem/clk"]


def test_label(row):
    """The test's name, and the group of figures when a test records several."""
    group = row["metrics"].get("group")
    return f"{row['test']} ({group})" if group else row["test"]


def summary_sections(results):
    """One section per bench, one row per test and figure: result, elements, cycles,
    bound, elements per clock (for :func:`tb.report.print_sections`)."""
    return [(bench.id, [[test_label(r), r["result"], r["elements"], r["cycles"], r["bound"],
                         round(r["rate"], 3) if r["rate"] else None]
                        for r in metric_rows(bench, result)])
            for bench, result in results]


def _plan(args):
    """(seed, waves, [(bench, test_filter)]) from the arguments and the environment, or a
    one-line ValueError: every check happens before anything is built."""
    if args.seed is not None:
        seed = parse_seed(args.seed, "--seed")
    else:
        seed = parse_seed(os.environ.get("SEED"), "SEED")
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little") >> 1
    waves = args.waves or os.environ.get("WAVES", "0") not in ("", "0")
    benches = [b for b in BENCHES if not args.benches or b.id in args.benches
               or b.block in args.benches]
    if not benches:
        raise ValueError(f"no bench matches {' '.join(args.benches)}; known: "
                         f"{', '.join(b.id for b in BENCHES)}")
    source = "--testcase" if args.testcase is not None else "TESTCASE"
    cases = parse_testcase(args.testcase if args.testcase is not None
                           else os.environ.get("TESTCASE"))
    if not cases:
        return seed, waves, [(b, b.test_filter) for b in benches]
    missing = [case for case in cases
               if not any(select_tests(b.module, b.test_filter, [case]) for b in benches)]
    if missing:
        known = sorted({name[len(b.module) + 1:].split("/")[0] for b in benches
                        for name in cocotb_test_names(b.module) if re.search(b.test_filter, name)})
        raise ValueError(f"{source}: no test named {', '.join(missing)} in "
                         f"{' '.join(args.benches) or 'any bench'}; test names: {', '.join(known)}")
    plan = [(b, select_tests(b.module, b.test_filter, cases)) for b in benches]
    plan = [(b, exact_filter(chosen)) for b, chosen in plan if chosen]
    return seed, waves, plan


def cmd_sim(args):
    try:
        seed, waves, plan = _plan(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = f"build/sim/*-waves/run-*/dump.{wave_format()}" if waves else ""
    print(f"make sim: seed {seed} (reproduce with `make sim SEED={seed}`)"
          + (f", {wave_format().upper()} waveforms under {where}" if waves else ""), flush=True)
    results = []
    for bench, test_filter in plan:
        t0 = time.monotonic()
        result = run_bench(bench.block, bench.module, params=bench.params,
                           test_filter=test_filter, seed=seed, waves=waves,
                           tag=bench.tag, label=bench.id)
        status = "PASS" if result.passed else "FAIL"
        print(f"  {bench.id:<24} {status}  {len(result.tests)} tests  "
              f"{'built' if result.built else 'cached model'}  {time.monotonic() - t0:.1f} s",
              flush=True)
        results.append((bench, result))
    print()
    print_sections(SUMMARY_HEADER, summary_sections(results))
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
    sim.add_argument("--seed", help="regression seed, an integer in [0, 2**32)")
    sim.add_argument("--waves", action="store_true")
    sim.add_argument("--testcase", metavar="NAME[,NAME...]",
                     help="run only these cocotb tests (cocotb's TESTCASE convention)")
    lint = sub.add_parser("lint", help="verilator --lint-only -Wall on generated Verilog")
    lint.add_argument("--dir", default="build/verilog")
    args = parser.parse_args(argv)
    return cmd_sim(args) if args.command == "sim" else cmd_lint(args)


if __name__ == "__main__":
    sys.exit(main())
