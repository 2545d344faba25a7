"""Hardware throughput and latency, measured in Verilator (cycles, not seconds).

Runs the no-stall cocotb tests of every bench in :mod:`tb.benches` and reports, per test,
elements per clock and the cycles against the documented bound (N + pipeline latency).
"""

import os

from tb.benches import BENCHES
from tb.runner import run_bench


def run(quick=False):
    seed = int(os.environ.get("SEED") or 1)
    rows = []
    for bench in BENCHES:
        result = run_bench(bench.block, bench.module, params=bench.params,
                           test_filter=bench.test_filter + r".*stall=False", seed=seed,
                           tag=f"{bench.tag}-bench")
        for test in result.tests:
            for m in test.metrics or [{}]:
                elements, cycles, bound = m.get("elements"), m.get("cycles"), m.get("bound")
                rows.append({
                    "bench": bench.id, "test": test.name,
                    "result": "PASS" if test.passed else "FAIL",
                    "elements": elements, "cycles": cycles, "bound": bound,
                    "elem/clk": round(elements / cycles, 4) if elements and cycles else None,
                    "overhead": cycles - elements if elements and cycles else None,
                })
                if "steps" in m:      # SpMV: ideal row steps and the dense row-by-row baseline
                    rows[-1]["ideal steps"] = m["steps"]
                    rows[-1]["vs ideal"] = round(cycles / m["steps"], 3) if m["steps"] else None
                    rows[-1]["dense cycles"] = m.get("dense_cycles")
                    rows[-1]["speedup vs dense"] = (round(m["dense_cycles"] / cycles, 2)
                                                    if m.get("dense_cycles") and cycles else None)
    return rows
