"""The soak's job list, scaling and sharding (tb/soak.py), in pure Python: no simulation.

SHARD=i/N must give a deterministic 1/N of the work, and the N shards together exactly the
unsharded run: every job once, with the same seed and size whichever shard runs it.
"""

import os
import subprocess
import sys
from collections import Counter

import pytest

from tb.runner import PROJECT
from tb.soak import (CONFIGS, ELEMENTS, JOB_ELEMENTS, job_seed, parse_scale, parse_shard,
                     plan, select, shard)


@pytest.mark.parametrize("scale", [0.0001, 0.01, 0.3, 1, 2.5])
def test_every_configuration_gets_its_elements(scale):
    jobs = plan(scale, 7)
    per_config = Counter()
    for job in jobs:
        assert 1 <= job.elements <= JOB_ELEMENTS
        per_config[job.config.id] += job.elements
    assert per_config == {c.id: max(1, round(ELEMENTS * scale)) for c in CONFIGS}
    assert len({job.id for job in jobs}) == len(jobs)


def test_soak_1_is_a_million_elements_per_block():
    for c in CONFIGS:
        assert sum(j.elements for j in plan(1, 0) if j.config == c) == 1_000_000


def test_the_plan_depends_only_on_scale_and_seed():
    assert plan(0.5, 11) == plan(0.5, 11)
    a, b = plan(0.5, 11), plan(0.5, 12)
    assert [j.id for j in a] == [j.id for j in b]
    assert all(x.seed != y.seed for x, y in zip(a, b))
    assert len({j.seed for j in a}) == len(a)
    assert all(0 <= j.seed < 2 ** 32 for j in a)
    assert job_seed(11, CONFIGS[0], 3) == next(j.seed for j in a if j.id == f"{CONFIGS[0].id}#3")


@pytest.mark.parametrize("scale", [0.01, 1, 3])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 200])
def test_shards_partition_the_run(scale, n):
    everything = plan(scale, 3)
    shards = [shard(everything, i, n) for i in range(1, n + 1)]
    ids = [job.id for part in shards for job in part]
    assert sorted(ids) == sorted(job.id for job in everything)      # each job exactly once
    assert Counter(ids).most_common(1)[0][1] == 1
    key = lambda j: (j.id, j.seed, j.elements)  # noqa: E731
    assert sorted(key(j) for part in shards for j in part) == sorted(map(key, everything))
    sizes = [len(part) for part in shards]
    assert max(sizes) - min(sizes) <= 1
    for i, part in enumerate(shards, 1):
        assert part == shard(plan(scale, 3), i, n)                   # deterministic
        assert part == [j for j in everything if j in part]         # in the run's order
    assert shard(everything, 1, 1) == everything


def test_shards_mix_configurations():
    """Interleaved plan: two shards of a full run each get every configuration."""
    for i in (1, 2):
        assert {j.config.id for j in shard(plan(1, 0), i, 2)} == {c.id for c in CONFIGS}


@pytest.mark.parametrize("text, want", [(None, (1, 1)), ("", (1, 1)), ("1/1", (1, 1)),
                                        ("2/4", (2, 4)), (" 3/3 ", (3, 3))])
def test_parse_shard(text, want):
    assert parse_shard(text) == want


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "1/0", "a/b", "-1/2", "1/2/3", "1.5/2"])
def test_parse_shard_rejects(text):
    with pytest.raises(ValueError, match=r"SHARD must be i/N with 1 <= i <= N"):
        parse_shard(text)
    with pytest.raises(ValueError):
        shard(plan(0.01, 0), 0, 2)


@pytest.mark.parametrize("text, want", [(None, None), ("", None), ("1", 1.0),
                                        ("0.01", 0.01), ("2", 2.0)])
def test_parse_scale(text, want):
    assert parse_scale(text) == want


@pytest.mark.parametrize("text", ["0", "-1", "abc", "nan", "inf", "1e9"])
def test_parse_scale_rejects(text):
    with pytest.raises(ValueError, match=r"SOAK must be a number in \(0, 1000\]"):
        parse_scale(text)


def test_select():
    jobs = plan(0.3, 1)
    assert select(jobs, "") == jobs
    assert sorted(j.id for j in select(jobs, "csr_spmv#1, rlc_encoder")) == \
        ["csr_spmv#1", "rlc_encoder#0", "rlc_encoder#1", "rlc_encoder#2"]
    with pytest.raises(ValueError, match="no job or configuration named nope"):
        select(jobs, "nope")


def _soak(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("SEED", "SOAK", "SHARD")}
    return subprocess.run([sys.executable, "-m", "tb.soak", *args], cwd=PROJECT,
                          env={**base, **env}, capture_output=True, text=True)


def _listed(proc):
    assert proc.returncode == 0, proc.stderr
    return [line.split() for line in proc.stdout.splitlines()[1:]]


def test_cli_shards_list_exactly_the_unsharded_jobs():
    """`python -m tb.soak --list` under SHARD=i/3 (as `make soak` passes it): the three
    lists together are the unsharded list, seeds included."""
    whole = _listed(_soak("--list", SEED="9", SOAK="0.5"))
    parts = [_listed(_soak("--list", SEED="9", SOAK="0.5", SHARD=f"{i}/3")) for i in (1, 2, 3)]
    assert sorted(row for part in parts for row in part) == sorted(whole)
    assert all(parts) and len(whole) == len(plan(0.5, 9))
    assert "seed 9" in _soak("--list", SEED="9", SOAK="0.5").stdout


@pytest.mark.parametrize("env, message", [
    ({"SHARD": "4/3"}, "SHARD must be i/N"), ({"SOAK": "x"}, "SOAK must be a number"),
    ({"SEED": "-1"}, "SEED must be an integer")])
def test_cli_rejects_bad_variables_in_one_line(env, message):
    proc = _soak(**env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
