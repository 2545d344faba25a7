"""Build every bench's Verilator model and run its cocotb tests (the make sim list)."""

import os

import pytest

from hw.blocks import BLOCKS
from tb.benches import BENCHES
from tb.runner import run_bench

pytestmark = pytest.mark.sim


def test_every_block_has_a_bench():
    assert set(BLOCKS) <= {b.block for b in BENCHES}


@pytest.mark.parametrize("bench", BENCHES, ids=[b.id for b in BENCHES])
def test_bench(bench):
    seed = os.environ.get("SEED")
    result = run_bench(bench.block, bench.module, params=bench.params,
                       test_filter=bench.test_filter, seed=seed, tag=f"{bench.tag}-pytest")
    print(f"{bench.id}: seed {result.seed}, {len(result.tests)} cocotb tests")
    failed = [t for t in result.tests if not t.passed]
    assert result.tests, f"{bench.id}: no cocotb test ran"
    assert not failed, f"{bench.id} (seed {result.seed}): " + "\n".join(
        f"{t.name}: {t.message}" for t in failed)
    # Every passing test must have reported its figures, or the summary would be empty.
    assert all(t.metrics for t in result.tests), "a test recorded no cycle figures"


def test_waves_writes_fst():
    """WAVES=1 (here waves=True) builds a traced model and leaves an FST waveform."""
    result = run_bench("rlc_encoder", "tb.test_rlc", test_filter=r"\.encoder_edges/stall=False",
                       seed=1, waves=True, tag="waves-pytest")
    assert result.passed, [t.message for t in result.tests]
    fst = result.run_dir / "dump.fst"
    assert fst.exists() and fst.stat().st_size > 1000
    assert "-waves" in result.run_dir.parent.name
