"""A tiny soak on the simulator (the fast part of `make soak` in `make test`): one job of
the RLC decoder soak with a high malformed rate, through the same path `make soak` uses
(:func:`tb.soak.run_job`), so the chunk loop, its bookkeeping and its figures are run."""

import dataclasses

import pytest

from tb.soak import CONFIGS, Job, run_job

pytestmark = pytest.mark.sim


def test_tiny_soak_of_the_rlc_decoder(tmp_path):
    config = next(c for c in CONFIGS if c.id == "rlc_decoder")
    config = dataclasses.replace(config, malformed=0.5, chunk=1500)
    job = Job(config, 0, 6000, 4242)
    figures = run_job(job, tmp_path)
    assert figures["passed"], figures["message"]
    assert figures["elements"] >= 6000 and figures["mismatches"] == 0
    assert figures["chunks"] >= 4                     # checked and forgotten chunk by chunk
    assert 0 < figures["malformed"] < figures["transactions"]
    assert figures["cycles"] > figures["elements"] // 2 and figures["checks"] > 0
    assert (tmp_path / "rlc_decoder#0.json").exists()
