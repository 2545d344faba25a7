"""``make soak`` / ``python -m tb.soak``: a million random elements per block, in parallel.

    python -m tb.soak [--soak N] [--shard i/N] [--seed S] [--jobs auto|K] [--list]
    (also SOAK=, SHARD= and SEED= in the environment, as `make soak` passes them)

The work is a list of *jobs*: each soak configuration (a top, its build parameters and
its cocotb soak test in :mod:`tb.soak_cocotb`) gets ``ceil(SOAK · 1e6 / JOB_ELEMENTS)``
jobs that share its ``SOAK · 1e6`` elements, each with its own seed derived from the run's
seed.  Jobs are pytest items (``tb/soak_jobs.py``) run by pytest-xdist over every core;
the Verilator model of a configuration is built once, whichever worker gets there first
(:func:`tb.runner.build_model` holds a lock per model).  ``SHARD=i/N`` keeps jobs
``i-1, i-1+N, ...`` of the list: the N shards are disjoint and together exactly the
unsharded run.  Each job writes its figures to ``build/soak/<run>/``; the table at the end
has, per configuration: jobs, elements, simulated cycles, simulated cycles per
wall-clock second (inside the simulations), malformed transactions, items compared,
mismatches.  Every job stops at the first mismatch, lost or extra beat, or hang (all waits
are bounded), which fails it.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .benches import Bench, BENCHES

__all__ = ["Config", "Job", "CONFIGS", "ELEMENTS", "JOB_ELEMENTS", "parse_scale",
           "parse_shard", "plan", "shard", "select", "job_seed", "run_job"]

ELEMENTS = 1_000_000          # per configuration at SOAK=1
JOB_ELEMENTS = 125_000        # at most this many per job (one simulation process)


@dataclass(frozen=True)
class Config(Bench):
    """A soak configuration: a :class:`tb.benches.Bench` running one soak test of
    :mod:`tb.soak_cocotb`.  ``unit`` names an element; ``malformed`` is the probability
    that a transaction is replaced by a malformed one (0: the block has no bad input);
    ``chunk`` is how many elements are checked and forgotten at a time."""
    unit: str = "elements"
    malformed: float = 0.0
    chunk: int = 1000


def soak(block, test, unit, malformed, chunk, tag="default"):
    """The soak of ``block`` built as the :mod:`tb.benches` build ``block[tag]``."""
    params = next(b.params for b in BENCHES if b.block == block and b.tag == tag) \
        if tag != "default" else {}
    return Config(block, "tb.soak_cocotb", rf"\.{test}$", params, tag, unit, malformed, chunk)


CONFIGS = [
    soak("rlc_encoder", "soak_rlc_encoder", "values", 0.0, 20000),
    soak("rlc_decoder", "soak_rlc_decoder", "values", 0.05, 20000),
    soak("rlc_loopback", "soak_rlc_loopback", "values", 0.0, 20000),
    soak("csr_spmv", "soak_csr_spmv", "non-zeros", 0.02, 5000),
    soak("cnv_encoder", "soak_cnv_encoder", "activations", 0.02, 5000),
    soak("cnv_unit", "soak_cnv_unit", "activations", 0.02, 5000),
    soak("cnv_chain", "soak_cnv_chain", "activations", 0.0, 5000),
    soak("sparse_mac", "soak_mac", "MACs", 0.02, 20000),
    soak("dense_mac", "soak_mac", "MACs", 0.0, 20000),
    # builds of tb.benches other than the defaults: several lanes, saturation, other N:M
    soak("csr_spmv", "soak_csr_spmv", "non-zeros", 0.02, 5000, "lanes4"),
    soak("cnv_unit", "soak_cnv_unit", "activations", 0.02, 5000, "l1_saturate"),
    soak("sparse_mac", "soak_mac", "MACs", 0.02, 20000, "2of8_g2_sat"),
]


@dataclass(frozen=True)
class Job:
    """One simulation: ``elements`` of configuration ``config``, seeded ``seed``."""
    config: Config
    index: int
    elements: int
    seed: int

    @property
    def id(self):
        return f"{self.config.id}#{self.index}"

    def spec(self):
        """What the cocotb soak test reads from ``SOAK_JOB``."""
        return {"elements": self.elements, "malformed": self.config.malformed,
                "chunk": self.config.chunk}


def parse_scale(value):
    """``SOAK`` as a float > 0 (1 means a million elements per block); None if unset."""
    if value is None or not str(value).strip():
        return None
    try:
        scale = float(value)
    except ValueError:
        scale = None
    if scale is None or not math.isfinite(scale) or scale <= 0 or scale > 1000:
        raise ValueError(f"SOAK must be a number in (0, 1000] (1 = a million elements per "
                         f"block), not {str(value).strip()!r}")
    return scale


def parse_shard(value):
    """``SHARD`` (``i/N``, 1 <= i <= N) as ``(i, N)``; ``(1, 1)`` if unset."""
    if value is None or not str(value).strip():
        return 1, 1
    text = str(value).strip()
    parts = text.split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) \
            or not 1 <= int(parts[0]) <= int(parts[1]):
        raise ValueError(f"SHARD must be i/N with 1 <= i <= N (e.g. 2/4), not {text!r}")
    return int(parts[0]), int(parts[1])


def job_seed(seed, config, index):
    """The seed of job ``index`` of ``config`` in a run seeded ``seed``: a hash, so that
    a job's data does not depend on which shard or worker runs it."""
    digest = hashlib.sha256(f"{seed}:{config.id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") >> 1


def plan(scale, seed, configs=CONFIGS):
    """Every job of a run, interleaved (first job of each configuration, then the
    second, ...; each round starting one configuration later) so that workers start on
    different models and every shard gets a mix of configurations."""
    per_config = []
    for config in configs:
        total = max(1, round(ELEMENTS * scale))
        count = -(-total // JOB_ELEMENTS)
        per_config.append([Job(config, k, total // count + (k < total % count),
                               job_seed(seed, config, k)) for k in range(count)])
    longest = max(len(jobs) for jobs in per_config)
    rounds = ([jobs[k] for jobs in per_config[r:] + per_config[:r] if k < len(jobs)]
              for k, r in ((k, k % len(per_config)) for k in range(longest)))
    return [job for round_ in rounds for job in round_]


def shard(jobs, i, n):
    """Shard ``i`` of ``n`` (1-based): every n-th job, starting with job i-1."""
    if not 1 <= i <= n:
        raise ValueError(f"shard must satisfy 1 <= i <= n, not {i}/{n}")
    return list(jobs[i - 1::n])


def select(jobs, only):
    """The jobs named in ``only`` (job ids such as ``csr_spmv#3`` or configuration ids
    such as ``csr_spmv[lanes4]``, comma-separated); all of them if ``only`` is empty."""
    names = {n.strip() for n in (only or "").split(",") if n.strip()}
    if not names:
        return list(jobs)
    known = {j.id for j in jobs} | {j.config.id for j in jobs}
    if names - known:
        raise ValueError(f"--only: no job or configuration named {', '.join(sorted(names - known))}")
    return [j for j in jobs if j.id in names or j.config.id in names]


def run_job(job, out_dir=None):
    """Build (or reuse) the model and run one soak job; returns its figures as a dict
    (also written to ``out_dir/<job>.json`` if given).  The job runs in
    ``build/sim/<model>/run-soak-<job>-<seed>/`` (log, results, metrics)."""
    from .runner import build_model, run_bench
    c = job.config
    build_model(c.block, c.params, label=c.id)
    os.environ["SOAK_JOB"] = json.dumps(job.spec())
    result = run_bench(c.block, c.module, params=c.params, seed=job.seed,
                       test_filter=c.test_filter, tag=f"soak-{job.id}-{job.seed}", label=c.id)
    rows = [m for t in result.tests for m in t.metrics if m.get("soak")]
    figures = {"config": c.id, "job": job.id, "seed": job.seed, "target": job.elements,
               "passed": result.passed and len(rows) == 1,
               "message": "\n".join(t.message for t in result.tests if not t.passed),
               **(rows[0] if rows else {})}
    if out_dir is not None:
        Path(out_dir, f"{job.id}.json").write_text(json.dumps(figures))
    return figures


# ------------------------------------------------------------------------------- CLI

def _table(results, configs):
    from .report import print_table
    header = ["block", "unit", "jobs", "elements", "cycles", "cycles/s", "malformed (p)",
              "checks", "mismatches", "result"]
    rows = []
    for c in configs:
        mine = [r for r in results if r["config"] == c.id]
        if not mine:
            continue
        ok = [r for r in mine if r["passed"]]
        wall = sum(r.get("wall_s", 0) for r in ok)
        cycles = sum(r.get("cycles", 0) for r in ok)
        rows.append([c.id, c.unit, len(mine), sum(r.get("elements", 0) for r in ok), cycles,
                     round(cycles / wall) if wall else None,
                     f"{sum(r.get('malformed', 0) for r in ok)} ({c.malformed:.0%})",
                     sum(r.get("checks", 0) for r in ok),
                     "0" if len(ok) == len(mine) else f"{len(mine) - len(ok)} jobs failed",
                     "PASS" if len(ok) == len(mine) else "FAIL"])
    print_table(header, rows)


def main(argv=None):
    from .runner import PROJECT, BUILD, parse_seed
    parser = argparse.ArgumentParser(prog="python -m tb.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--soak", help="scale: 1 = a million elements per block (SOAK=)")
    parser.add_argument("--shard", help="i/N: run the i-th of N shards (SHARD=)")
    parser.add_argument("--seed", help="run seed, an integer in [0, 2**32) (SEED=)")
    parser.add_argument("--jobs", default="auto", help="pytest-xdist workers (default auto)")
    parser.add_argument("--only", default="", metavar="ID[,ID...]",
                        help="only these jobs (csr_spmv#3) or configurations (csr_spmv[lanes4])")
    parser.add_argument("--list", action="store_true", help="print the jobs and stop")
    args = parser.parse_args(argv)
    try:
        scale = parse_scale(args.soak if args.soak is not None else os.environ.get("SOAK"))
        i, n = parse_shard(args.shard if args.shard is not None else os.environ.get("SHARD"))
        seed = parse_seed(args.seed if args.seed is not None else os.environ.get("SEED"),
                          "--seed" if args.seed is not None else "SEED")
        scale = 1.0 if scale is None else scale
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little") >> 1
        jobs = select(shard(plan(scale, seed), i, n), args.only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"make soak: seed {seed}, SOAK={scale:g} ({round(ELEMENTS * scale)} elements per "
          f"block), shard {i}/{n}: {len(jobs)} jobs; reproduce with "
          f"`make soak SEED={seed} SOAK={scale:g} SHARD={i}/{n}`", flush=True)
    if args.list:
        for job in jobs:
            print(f"  {job.id:<28} {job.elements:>8} {job.config.unit:<12} seed {job.seed}")
        return 0
    out = BUILD / "soak" / f"seed{seed}-soak{scale:g}-shard{i}of{n}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, "SOAK_RUN": json.dumps({"scale": scale, "seed": seed, "shard": [i, n],
                                                 "only": args.only, "out": str(out)})}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", args.jobs,
           str(PROJECT / "tb" / "soak_jobs.py")]
    proc = subprocess.run(cmd, cwd=PROJECT, env=env)
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    print(f"\nsoak table (seed {seed}, SOAK={scale:g}, shard {i}/{n}; figures per job in {out}):")
    _table(results, CONFIGS)
    missing = len(jobs) - len(results)
    if missing:
        print(f"{missing} jobs wrote no figures (see the pytest output above)")
    return proc.returncode or (1 if missing or not all(r["passed"] for r in results) else 0)


if __name__ == "__main__":
    sys.exit(main())
