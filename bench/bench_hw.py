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
    return rows
