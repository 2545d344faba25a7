"""Hardware throughput and latency, measured in Verilator (cycles, not seconds).

Runs the no-stall cocotb tests of every bench in :mod:`tb.benches` and reports, per test,
elements per clock and the cycles against the bound the bench asserts (its documented
cycle model).  One section per bench, narrow enough for a terminal:

* ``cycles``: from the first input transfer to the last output transfer, measured;
* ``bound``: the cycle count the bench asserts (``-`` where it asserts none);
* ``elem/clk``: elements / cycles (a multi-lane block may exceed 1);
* ``ideal``, ``over ideal``: where the bench records the block's ideal step count (CSR
  SpMV: row steps at full lane rate) and asserts a bound, and the measured cycles beyond
  it (pipeline fill, x loads); tests of malformed input assert no bound and get neither;
* ``speedup``: where the bench records a dense baseline, its cycles / the cycles measured.
"""

import os
import sys

from tb.benches import BENCHES
from tb.report import metric_rows, print_sections, short_test_name
from tb.runner import run_bench

HEADER = ["test", "elements", "cycles", "bound", "elem/clk", "ideal", "over ideal", "speedup"]


def _row(bench, r):
    m, cycles = r["metrics"], r["cycles"]
    group = m.get("group")
    test = short_test_name(r["test"], drop={"stall=False"}) + (f" ({group})" if group else "")
    failed = r["result"] != "PASS"
    # An ideal count means something only for well-formed input, where a bound is asserted.
    ideal = m.get("steps") if r["bound"] is not None else None
    dense = m.get("dense_cycles")
    return {
        "bench": bench.id, "test": test,
        "elements": r["elements"], "cycles": "FAIL" if failed else cycles, "bound": r["bound"],
        "elem/clk": round(r["rate"], 3) if r["rate"] and not failed else None,
        "ideal": ideal,
        "over ideal": cycles - ideal if ideal and cycles and not failed else None,
        "speedup": round(dense / cycles, 2) if dense and cycles and not failed else None,
    }


def run(quick=False):
    seed = int(os.environ.get("SEED") or 1)
    rows = []
    for bench in BENCHES:
        result = run_bench(bench.block, bench.module, params=bench.params,
                           test_filter=bench.test_filter + r".*stall=False", seed=seed,
                           tag=f"{bench.tag}-bench", label=bench.id)
        rows += [_row(bench, r) for r in metric_rows(bench, result)]
    return rows


def print_rows(rows, out=sys.stdout):
    """The rows of :func:`run` as one table with a section per bench; columns that no row
    fills are left out."""
    header = [h for h in HEADER if h == "test" or any(r.get(h) is not None for r in rows)]
    benches = list(dict.fromkeys(r["bench"] for r in rows))
    print_sections(header, [(b, [[r.get(h) for h in header] for r in rows if r["bench"] == b])
                            for b in benches], out=out)
