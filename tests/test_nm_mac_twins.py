"""The sparse MAC and its dense twin on the same workloads, in Verilator: identical results
(digests of every (result, error)), equal cycles, and twice the MACs per multiplier per clock
for 2:4 (four times for 1:4), measured by bench/bench_nm_mac.py."""
import pytest

from bench.bench_nm_mac import PAIRS, pair_rows

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("label", list(PAIRS))
def test_twins_agree_and_sparse_does_more_per_multiplier(label):
    rows = pair_rows(label, PAIRS[label], seed=5)
    ratio = {"2:4 G=4 int8": 2.0, "1:4 G=1 int16": 4.0}[label]
    sparse_mode = [r for r in rows if r["unit"] == "sparse_mac"
                   and r["test"] in ("mac_pruned_export", "mac_groups", "mac_extremes")]
    assert len(sparse_mode) == 3
    for r in sparse_mode:
        assert r["same out"] is True, r
        assert r["vs twin"] == ratio, r
    assert all(r["=beats+lat"] for r in rows)
    fallback = next(r for r in rows if r["test"] == "dense fallback rate")
    n, m = (2, 4) if label.startswith("2:4") else (1, 4)
    assert n / m < fallback["fb/sparse"] < n / m + 0.1
