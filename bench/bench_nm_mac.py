"""N:M sparse MAC against its dense twin: MACs per clock and per multiplier, measured.

Runs the no-stall cocotb tests of ``tb/bench_nm_mac.py`` in Verilator on ``sparse_mac``
and on ``dense_mac`` built with the same ``m``, groups, widths and overflow (2:4 G=4 int8,
the defaults; 1:4 G=1 int16 against its own twin), with one seed, so both tops get the
same dot products.  Rows per (pair, test):

* dense-equivalent MACs (``m·G`` per ``a`` beat), Verilator cycles from the first ``w``
  transfer to the last result, ``=beats+lat`` (they equal w beats + latency), MACs per
  clock, ``mults`` (multipliers), MACs per clock per multiplier;
* ``vs twin``: the sparse unit's MACs/clock/multiplier over the twin's on the same test
  (2.0 for 2:4, 4.0 for 1:4 when the cycles are equal);
* ``same out``: the digest of the sparse unit's (result, error) list equals the twin's;
* ``bits/group``: storage per group of ``m`` weights (values + metadata) against dense;
* ``dense fallback rate`` row, ``fb/sparse``: the sparse unit's MACs/clock on
  ``mac_dense_rows`` (unpruned rows in dense-fallback mode) over ``mac_pruned_export``
  (same shape, sparse mode): ``n/m`` apart from the latency's share.
"""

import os

from golden.nm_mac import NMConfig, storage_bits_per_group
from tb.runner import run_bench

PAIRS = {
    "2:4 G=4 int8": {},
    "1:4 G=1 int16": {"n": 1, "groups": 1, "width": 16, "acc_width": 40},
}
TESTS = r"\.mac_(pruned_export|groups|extremes|dense_rows)/stall=False"


def measure(block, params, seed):
    """{test name: recorded metrics} of one top's no-stall tests."""
    result = run_bench(block, "tb.bench_nm_mac", params=params, test_filter=TESTS, seed=seed,
                       tag="bench")
    failed = [t.name for t in result.tests if not t.passed]
    if failed or not result.tests:
        raise RuntimeError(f"{block} {params}: tests failed or did not run: {failed}")
    return {t.name: t.metrics[0] for t in result.tests}


def twin_params(params):
    return {k: v for k, v in params.items() if k != "n"}


def pair_rows(label, params, seed):
    """One row per test and unit of one sparse/dense pair."""
    sparse = measure("sparse_mac", params, seed)
    cfg = NMConfig(**params)
    os.environ["NM_TWIN_N"] = str(cfg.n)    # the twin's workloads: the same N:M pattern
    try:
        dense = measure("dense_mac", twin_params(params), seed)
    finally:
        del os.environ["NM_TWIN_N"]
    bits, dense_bits = storage_bits_per_group(cfg)
    rows = []
    for test in sorted(sparse):
        s, d = sparse[test], dense[test]
        for unit, m in (("sparse_mac", s), ("dense_mac", d)):
            per_mult = m["elements"] / m["cycles"] / m["multipliers"]
            rows.append({
                "pair": label, "test": test.split("/")[0], "unit": unit,
                "MACs": m["elements"], "cycles": m["cycles"],
                "=beats+lat": m["cycles"] == m["w_beats"] + m["latency"],
                "MACs/clk": round(m["elements"] / m["cycles"], 3),
                "mults": m["multipliers"], "MAC/clk/mul": round(per_mult, 3),
                "vs twin": round(per_mult / (d["elements"] / d["cycles"]
                                                      / d["multipliers"]), 3),
                "same out": s["digest"] == d["digest"] if "pruned" in test
                or "groups" in test or "extremes" in test else "-",
                "bits/group": bits if unit == "sparse_mac" else dense_bits,
            })
    fallback = sparse["mac_dense_rows/stall=False"]
    native = sparse["mac_pruned_export/stall=False"]
    rows.append({"pair": label, "test": "dense fallback rate", "unit": "sparse_mac",
                 "MACs/clk": round(fallback["elements"] / fallback["cycles"], 3),
                 "fb/sparse": round((fallback["elements"] / fallback["cycles"])
                                                  / (native["elements"] / native["cycles"]), 3),
                 "cycles": fallback["cycles"], "MACs": fallback["elements"],
                 "=beats+lat": fallback["cycles"] == fallback["w_beats"]
                 + fallback["latency"]})
    return rows


def run(quick=False):
    seed = int(os.environ.get("SEED") or 1)
    pairs = dict(list(PAIRS.items())[:1]) if quick else PAIRS
    return [row for label, params in pairs.items() for row in pair_rows(label, params, seed)]

