"""The make sim summary and make bench tables: narrow, and figures that mean what their
headers say (no negative "overhead" for multi-lane builds)."""

import io

from bench import bench_hw
from tb.benches import Bench
from tb.report import print_sections, print_table
from tb import runner


def _result(tests):
    return runner.BenchResult("csr_spmv", {"lanes": 4}, 1, False,
                       [runner.TestOutcome(name, passed, "", metrics) for name, passed, metrics in tests])


def test_bench_hw_rows_for_a_four_lane_spmv():
    bench = Bench("csr_spmv", "tb.test_csr_spmv", r"\.spmv_", {"lanes": 4}, "lanes4")
    result = _result([
        ("spmv_shapes/shape='tall'/stall=False", True,
         [{"elements": 6000, "cycles": 1530, "bound": 1530, "steps": 1500,
           "dense_cycles": 12000}]),
        ("spmv_edges/stall=False", False, [{"elements": 10, "cycles": 9, "bound": 9}]),
    ])
    rows = [bench_hw._row(bench, r) for r in bench_hw.metric_rows(bench, result)]
    assert rows[0] == {"bench": "csr_spmv[lanes4]", "test": "spmv_shapes/shape='tall'",
                       "elements": 6000, "cycles": 1530, "bound": 1530, "elem/clk": 3.922,
                       "ideal": 1500, "over ideal": 30, "speedup": 7.84}
    # A failed test shows FAIL, not figures that look measured.
    assert rows[1]["cycles"] == "FAIL" and rows[1]["elem/clk"] is None
    out = io.StringIO()
    bench_hw.print_rows(rows, out)
    lines = out.getvalue().splitlines()
    assert lines[2] == "csr_spmv[lanes4]"
    assert max(map(len, lines)) <= 100
    assert "over ideal" in lines[0] and "overhead" not in out.getvalue()


def test_columns_nobody_fills_are_left_out():
    bench = Bench("rlc_encoder", "tb.bench_rlc", r"\.encoder_")
    result = _result([("encoder_edges/stall=False", True,
                       [{"elements": 2003, "cycles": 2004, "bound": 2005}])])
    out = io.StringIO()
    bench_hw.print_rows([bench_hw._row(bench, r) for r in bench_hw.metric_rows(bench, result)],
                        out)
    header = out.getvalue().splitlines()[0].split()
    assert header == ["test", "elements", "cycles", "bound", "elem/clk"]
    assert "  encoder_edges" in out.getvalue()


def test_sections_align_and_right_align_numbers():
    out = io.StringIO()
    print_sections(["test", "cycles"], [("a", [["x", 5]]), ("b", [["longer_name", 1234]])], out)
    assert out.getvalue().splitlines() == [
        "  test         cycles",
        "  -----------  ------",
        "a",
        "  x                 5",
        "b",
        "  longer_name    1234",
    ]
    out = io.StringIO()
    print_table(["k", "v"], [["a", None]], out)
    assert out.getvalue().splitlines()[-1] == "a  -"


def test_a_wide_table_is_split_under_itself_repeating_the_name_column():
    header = ["case", *(f"figure_number_{i}" for i in range(12))]
    rows = [["uniform 10%", *range(12)], ["power-law rows", *range(100, 112)]]
    out = io.StringIO()
    print_table(header, rows, out)
    lines = out.getvalue().splitlines()
    assert max(map(len, lines)) <= 100
    headers = [line.split() for line in lines if line.startswith("case")]
    assert len(headers) > 1                            # split, each part led by "case"
    assert [h for part in headers for h in part[1:]] == header[1:]
    assert sum(line.startswith("power-law rows") for line in lines) == len(headers)
