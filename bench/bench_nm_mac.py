"""N:M sparse MAC against its dense twin: MACs per clock and per multiplier, measured.

Runs the no-stall cocotb tests of ``tb/bench_nm_mac.py`` in Verilator on ``sparse_mac``
and on ``dense_mac`` built with the same ``m``, groups, widths and overflow (2:4 G=4 int8,
the defaults; 1:4 G=1 int16 against its own twin), with one seed and the tests' ``n``
parameter set to the sparse build's pattern (the twin, which has no ``n``, runs its tests
for every pattern; the test filter picks them), so both tops get the same dot products.
Rows per (pair, test):

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

Then a second table, once ``make synth`` has run: each unit's ECP5 LFE5U-25F figures
(DSP = MULT18X18D, LUT, FF, carry, BRAM, Fmax at seed 1 and its range over seeds 1-3, the
critical path), the multipliers side by side and the sparse unit's DSPs and LUTs over the
twin's, read from make synth's cache for the Verilog of these very builds (no tool runs
here; a row says "not synthesised yet" otherwise).
"""

import os
import sys

from golden.nm_mac import NMConfig, storage_bits_per_group
from hw.blocks import get_block
from tb.report import print_table
from tb.runner import run_bench

PAIRS = {
    "2:4 G=4 int8": {},
    "1:4 G=1 int16": {"n": 1, "groups": 1, "width": 16, "acc_width": 40},
}
TESTS = r"\.mac_(pruned_export|groups|extremes|dense_rows)/stall=False/n={n}$"


def measure(block, params, n, seed):
    """{test: recorded metrics} of one top's no-stall tests on workloads of pattern ``n``:m
    (the tests' ``n`` parameter: the sparse build runs its own, the twin every one)."""
    result = run_bench(block, "tb.bench_nm_mac", params=params,
                       test_filter=TESTS.format(n=n), seed=seed, tag="bench")
    failed = [t.name for t in result.tests if not t.passed]
    if failed or not result.tests:
        raise RuntimeError(f"{block} {params}: tests failed or did not run: {failed}")
    return {t.name.split("/")[0]: t.metrics[0] for t in result.tests}


def twin_params(params):
    return {k: v for k, v in params.items() if k != "n"}


def pair_rows(label, params, seed):
    """One row per test and unit of one sparse/dense pair."""
    cfg = NMConfig.of_build(params)
    sparse = measure("sparse_mac", params, cfg.n, seed)
    dense = measure("dense_mac", twin_params(params), cfg.n, seed)   # the same workloads
    bits, dense_bits = storage_bits_per_group(cfg)
    rows = []
    for test in sorted(sparse):
        s, d = sparse[test], dense[test]
        for unit, m in (("sparse_mac", s), ("dense_mac", d)):
            per_mult = m["elements"] / m["cycles"] / m["multipliers"]
            rows.append({
                "pair": label, "test": test, "unit": unit,
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
    fallback = sparse["mac_dense_rows"]
    native = sparse["mac_pruned_export"]
    rows.append({"pair": label, "test": "dense fallback rate", "unit": "sparse_mac",
                 "MACs/clk": round(fallback["elements"] / fallback["cycles"], 3),
                 "fb/sparse": round((fallback["elements"] / fallback["cycles"])
                                                  / (native["elements"] / native["cycles"]), 3),
                 "cycles": fallback["cycles"], "MACs": fallback["elements"],
                 "=beats+lat": fallback["cycles"] == fallback["w_beats"]
                 + fallback["latency"]})
    return rows


def synth_rows(label, params, seeds=(1, 2, 3)):
    """The sparse unit's and the twin's place-and-route figures on ECP5 25F, as ``make
    synth`` left them in its cache (``fpga.flow.run_config(..., cached_only=True)``: the
    figures of the Verilog these builds generate now, never of an older design; no tool
    runs here): resources, Fmax at the first seed and its range over the seeds, and the
    multipliers side by side.  A row says what is missing otherwise."""
    from fpga.configs import configs
    from fpga.flow import run_config

    rows = []
    for unit, p in (("sparse_mac", params), ("dense_mac", twin_params(params))):
        want = get_block(unit).params(p)
        config = next((c for c in configs([unit]) if c.params == want), None)
        runs = [] if config is None else [
            r for r in run_config(config, "ecp5-25f", seeds, cached_only=True)
            if "fmax_mhz" in r]
        if not runs:
            rows.append({"pair": label, "unit": unit, "device": "-",
                         "synth": "not a make synth build" if config is None
                         else "not synthesised yet: run make synth"})
            continue
        r, fmax = runs[0], [x["fmax_mhz"] for x in runs]
        cfg = NMConfig.of_build({"n": 1, **p}) if unit == "dense_mac" else NMConfig.of_build(p)
        rows.append({
            "pair": label, "unit": unit, "device": r["device"],
            "mults": cfg.span if unit == "dense_mac" else cfg.lanes,
            "DSP": r["DSP"], "LUT": r["LUT"], "FF": r["FF"], "carry": r["carry"],
            "BRAM": r["BRAM"], f"Fmax s{r['seed']}": r["fmax_mhz"],
            "Fmax seeds": f"{min(fmax):.1f}-{max(fmax):.1f} ({len(fmax)})",
            "critical path": _path(r.get("critical_path") or {})})
    if len(rows) == 2 and "DSP" in rows[0] and "DSP" in rows[1]:
        for key in ("DSP", "LUT"):
            if rows[1][key]:
                rows[0][f"{key} vs twin"] = round(rows[0][key] / rows[1][key], 3)
    return rows


def _path(cp):
    """``from -> to`` of a critical path, with the Python lines."""
    if not cp:
        return "-"
    def end(side):
        src = cp.get(f"{side}_src") or ""
        return f"{cp.get(side, '?')}" + (f" ({src})" if src else "")
    return f"{end('from')} -> {end('to')}"


def run(quick=False):
    seed = int(os.environ.get("SEED") or 1)
    pairs = dict(list(PAIRS.items())[:1]) if quick else PAIRS
    rows = [row for label, params in pairs.items() for row in pair_rows(label, params, seed)]
    return rows + [{"section": "synth", **row} for label, params in PAIRS.items()
                   for row in synth_rows(label, params)]


def print_rows(rows, out=sys.stdout):
    """The MACs table, then the synthesis table of the same units (bench/__main__ calls
    this instead of its own one-table layout)."""
    for title, part in (("dense-equivalent MACs per clock, Verilator", [
            r for r in rows if "section" not in r]),
            ("ECP5 LFE5U-25F place and route, make synth's figures", [
                {k: v for k, v in r.items() if k != "section"} for r in rows
                if r.get("section") == "synth"])):
        if not part:
            continue
        print(f"-- {title}", file=out)
        header = list(dict.fromkeys(k for row in part for k in row))
        print_table(header, [[row.get(k, "") for k in header] for row in part], out=out)
