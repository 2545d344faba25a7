"""Hardware throughput and latency, measured in Verilator (cycles, not seconds).

Runs the no-stall cocotb tests of every bench in :mod:`tb.benches` and reports, per test,
elements per clock and the cycles against the documented bound (N + pipeline latency).
"""

import os

from tb.benches import BENCHES
from tb.report import metric_rows
from tb.runner import run_bench


def run(quick=False):
    seed = int(os.environ.get("SEED") or 1)
    rows = []
    for bench in BENCHES:
        result = run_bench(bench.block, bench.module, params=bench.params,
                           test_filter=bench.test_filter + r".*stall=False", seed=seed,
                           tag=f"{bench.tag}-bench")
        for r in metric_rows(bench, result):
            m, elements, cycles = r.pop("metrics"), r["elements"], r["cycles"]
            rate = r.pop("rate")
            r["elem/clk"] = round(rate, 4) if rate else None
            r["overhead"] = cycles - elements if elements and cycles else None
            rows.append(r)
            if "steps" in m:          # SpMV: ideal row steps and the dense row-by-row baseline
                r["ideal steps"] = m["steps"]
                r["vs ideal"] = round(cycles / m["steps"], 3) if m["steps"] else None
                r["dense cycles"] = m.get("dense_cycles")
                r["speedup vs dense"] = (round(m["dense_cycles"] / cycles, 2)
                                         if m.get("dense_cycles") and cycles else None)
    return rows
