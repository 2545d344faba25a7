"""Build every bench's Verilator model and run its cocotb tests (the make sim list), and
the user-facing edges of `make sim`: SEED, TESTCASE, WAVES."""

import os
import subprocess
import sys

import pytest

from hw.blocks import BLOCKS
from tb import runner
from tb.benches import BENCHES
from tb.runner import PROJECT, parse_seed, run_bench, wave_format

pytestmark = pytest.mark.sim


# tests/conftest.py has already refused a bad SEED with one line, before any build.
SEED = parse_seed(os.environ.get("SEED"))


def test_every_block_has_a_bench():
    assert set(BLOCKS) <= {b.block for b in BENCHES}


@pytest.mark.parametrize("bench", BENCHES, ids=[b.id for b in BENCHES])
def test_bench(bench):
    result = run_bench(bench.block, bench.module, params=bench.params,
                       test_filter=bench.test_filter, seed=SEED, tag=f"{bench.tag}-pytest",
                       label=bench.id)
    print(f"{bench.id}: seed {result.seed}, {len(result.tests)} cocotb tests")
    failed = [t for t in result.tests if not t.passed]
    assert result.tests, f"{bench.id}: no cocotb test ran"
    assert not failed, f"{bench.id} (seed {result.seed}): " + "\n".join(
        f"{t.name}: {t.message}" for t in failed)
    # Every passing test must have reported its figures, or the summary would be empty.
    assert all(t.metrics for t in result.tests), "a test recorded no cycle figures"


def test_waves_writes_a_waveform():
    """WAVES=1 (here waves=True) builds a traced model and leaves a waveform: FST where the
    machine can build it (lz4.h, or the LZ4 sources `make venv` fetched), else VCD."""
    result = run_bench("rlc_encoder", "tb.bench_rlc", test_filter=r"\.encoder_edges/stall=False",
                       seed=1, waves=True, tag="waves-pytest")
    assert result.passed, [t.message for t in result.tests]
    dump = result.run_dir / f"dump.{wave_format()}"
    assert dump.exists() and dump.stat().st_size > 1000
    assert "-waves" in result.run_dir.parent.name


def test_waves_without_lz4_fall_back_to_vcd(tmp_path, monkeypatch):
    """No lz4.h and no LZ4 sources: VCD, and nothing is fetched from the network."""
    monkeypatch.setattr(runner, "BUILD", tmp_path / "build")
    monkeypatch.setattr(runner, "LZ4_SOURCES", tmp_path / "no-sources")
    monkeypatch.setattr(runner, "_has_header", lambda header: False)

    def no_network(cmd, *args, **kwargs):
        assert "download" not in cmd and "pip" not in " ".join(map(str, cmd)), cmd
        return real_run(cmd, *args, **kwargs)
    real_run = subprocess.run
    monkeypatch.setattr(runner.subprocess, "run", no_network)
    runner.wave_format.cache_clear()
    try:
        assert wave_format() == "vcd"
        result = run_bench("rlc_encoder", "tb.bench_rlc",
                           test_filter=r"\.encoder_edges/stall=False", seed=1, waves=True,
                           tag="vcd-pytest")
    finally:
        runner.wave_format.cache_clear()
    assert result.passed, [t.message for t in result.tests]
    assert (result.run_dir / "dump.vcd").stat().st_size > 1000
    assert not (result.run_dir / "dump.fst").exists()


def _tb(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("SEED", "TESTCASE", "WAVES")}
    return subprocess.run([sys.executable, "-m", "tb", *args], cwd=PROJECT,
                          env={**base, **env}, capture_output=True, text=True)


@pytest.mark.parametrize("args, env, message", [
    (["--seed", "-1"], {}, "--seed must be an integer in [0, 4294967295], not '-1'"),
    ([], {"SEED": "abc"}, "SEED must be an integer in [0, 4294967295], not 'abc'"),
    ([], {"SEED": "-1"}, "SEED must be an integer in [0, 4294967295], not '-1'"),
    ([], {"SEED": str(2 ** 32)}, "SEED must be an integer"),
    (["rlc_encoder", "--testcase", "decoder_edges"], {}, "no test named decoder_edges in rlc_encoder"),
    (["rlc_encoder"], {"TESTCASE": "nope"}, "TESTCASE: no test named nope"),
    (["nope"], {}, "no bench matches nope"),
])
def test_bad_sim_arguments_are_one_line_before_anything_is_built(args, env, message):
    proc = _tb("sim", *args, **env)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "building" not in proc.stdout and "seed" not in proc.stdout


def test_run_bench_checks_the_seed_first():
    with pytest.raises(ValueError, match="seed must be an integer"):
        run_bench("no_such_block", "tb.bench_rlc", seed=-1)


def _make(*args):
    """``make ARGS`` in the project as a user would type it: not as a sub-make of the
    ``make test`` that may be running this (whose MAKEFLAGS/MAKELEVEL would make it print
    "Entering directory" lines and inherit the outer make's variables)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "SEED", "TESTCASE")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize("value", ["-1", "abc", "1 2", "0x10"])
def test_make_rejects_a_bad_seed_before_anything(value):
    proc = _make("-n", "sim", f"SEED={value}")
    assert proc.returncode != 0 and proc.stdout == ""
    assert f"SEED must be a non-negative integer, e.g. `make sim SEED=42`, not '{value}'" \
        in proc.stderr


def test_make_test_refuses_testcase():
    proc = _make("-n", "test", "TESTCASE=x")
    assert proc.returncode != 0 and "PYTEST_ARGS='-k NAME'" in proc.stderr


def test_pytest_rejects_a_bad_seed():
    base = {k: v for k, v in os.environ.items() if k != "SEED"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_sim.py", "-k", "every_block_has_a_bench"],
                          cwd=PROJECT, env={**base, "SEED": "-1"}, capture_output=True, text=True)
    assert proc.returncode == 4, proc.stdout
    assert proc.stderr.strip() == "ERROR: SEED must be an integer in [0, 4294967295], not '-1'"
    assert "passed" not in proc.stdout


def test_testcase_runs_only_the_named_tests():
    """TESTCASE (cocotb's convention) picks tests by name across benches."""
    proc = _tb("sim", "rlc_encoder", "rlc_decoder", SEED="5",
               TESTCASE="encoder_edges/stall=False")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 0 failed" in proc.stdout
    assert "rlc_decoder " not in proc.stdout        # no matching test: not even built
    assert "encoder_edges/stall=False" in proc.stdout


def test_concurrent_runs_of_one_tag_get_their_own_folders(tmp_path):
    """Two runs of the same bench at once (two terminals, two pytest workers) must not
    delete each other's logs: the second gets run-<tag>.2 while the first holds run-<tag>."""
    with runner._run_dir(tmp_path, "t") as first:
        (first / "sim.log").write_text("first")
        with runner._run_dir(tmp_path, "t") as second:
            assert second.name == "run-t.2"
            assert (first / "sim.log").read_text() == "first"
    with runner._run_dir(tmp_path, "t") as again:       # released: reused, emptied
        assert again == first and not any(again.iterdir())
