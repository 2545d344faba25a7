"""The soak jobs as pytest items, for pytest-xdist: ``python -m tb.soak`` runs this file
with ``-n auto`` (it is outside tests/, so ``make test`` does not collect it).

The run (scale, seed, shard, output folder) comes from ``SOAK_RUN``, set by
:func:`tb.soak.main`; every xdist worker computes the same job list from it.
"""

import json
import os

import pytest

from tb.soak import plan, run_job, select, shard

RUN = json.loads(os.environ.get("SOAK_RUN") or "{}")
JOBS = select(shard(plan(RUN.get("scale", 0.001), RUN.get("seed", 0)), *RUN.get("shard", (1, 1))),
              RUN.get("only"))


@pytest.mark.parametrize("job", JOBS, ids=[job.id for job in JOBS])
def test_soak_job(job):
    figures = run_job(job, RUN.get("out"))
    print(f"{job.id}: seed {job.seed}, {figures.get('elements')} {job.config.unit}, "
          f"{figures.get('cycles')} cycles")
    assert figures["passed"], f"{job.id} (seed {job.seed}): {figures['message']}"
    assert figures["elements"] >= job.elements and figures["mismatches"] == 0
