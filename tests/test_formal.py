"""The fast part of ``make formal`` (the whole suite: ``python -m formal``).

Runs SymbiYosys (yowasp-sby, from the ``formal`` extra) on the cheapest meaningful checks:
the AXI4-Stream rules of ``rlc_encoder`` proven by k-induction, and their anti-vacuity
twin, the same rules on a design whose ``tdata`` changes while a beat is held, which must
FAIL with a counterexample; the N:M MAC miter's covers (sparse_mac against its dense twin)
and its broken twin (group 0's indices swapped), which must FAIL.  Also checks that the
suite covers every registered top and every property file has a broken twin.
"""

import pytest

from formal.harness import run
from formal.suite import all_checks, fast_checks
from hw.blocks import BLOCKS

def test_every_top_has_stream_rules():
    tops = {c.top for c in all_checks() if c.prop == "stream rules"}
    assert tops == set(BLOCKS)


def test_every_property_file_has_an_anti_vacuity_twin():
    checks = all_checks()
    assert {c.top for c in checks if c.expect == "FAIL"} >= {"rlc_encoder", "rlc_decoder",
                                                             "rlc_loopback", "csr_spmv",
                                                             "sparse_mac", "cnv_chain"}


@pytest.mark.parametrize("check", fast_checks(), ids=lambda c: f"{c.top}:{c.prop}")
def test_fast_check(check):
    result = run(check, timeout=600)
    assert result.status == check.expect, result.log[-3000:]
    if check.expect == "FAIL":
        assert "Assert failed" in result.log      # a real counterexample, not a tool error
    else:
        assert "successful proof by k-induction" in result.log or check.mode != "prove"
