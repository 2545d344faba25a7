"""Gateware tests of hw/cnv.py and hw/cnv_unit.py in the Amaranth simulator: parameter
checks, and random valid and malformed windows (with random pauses on every stream)
against golden.cnv, outputs and error exactly.  The cocotb bench (tb/bench_cnv.py) runs
the exported Verilog with the cycle figures; this one is small and hypothesis-driven."""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden import cnv
from hw.cnv import CnvEncoder
from hw.cnv_unit import CnvUnit

from cnv_sim import run_program

SETTINGS = settings(deadline=None, max_examples=12, suppress_health_check=[HealthCheck.too_slow])
P = dict(lanes=2, filters=3, brick=4, value_width=8, weight_width=8, max_k=24)


@pytest.mark.parametrize("kw, match", [
    (dict(lanes=3), "lanes must be a power of two"),
    (dict(lanes=0), r"lanes must be an integer in \[1, 16\], not 0"),
    (dict(brick=128), "brick must be a power of two in"),
    (dict(acc_width=12), "acc_width must be an integer in"),
    (dict(overflow="clamp"), "overflow must be"),
    (dict(max_k=0), "max_k must be"),
])
def test_unit_parameter_checks(kw, match):
    with pytest.raises(ValueError, match=match):
        CnvUnit(**kw)


def test_encoder_parameter_checks():
    with pytest.raises(ValueError, match="brick"):
        CnvEncoder(brick=3)
    with pytest.raises(ValueError, match="value_width"):
        CnvEncoder(value_width=1)


def test_rejected_parameters_leave_no_unused_component():
    """Parameters are checked before the component exists (hw.datapath.CheckedFirst), so
    a ValueError comes alone, without Amaranth's "created but never used" warning."""
    import gc
    import warnings

    from amaranth.hdl import Fragment

    from hw.cnv import CnvChain

    # Amaranth stays silent about unused components until something has been elaborated.
    Fragment.get(CnvEncoder(brick=4), None)
    gc.collect()            # earlier tests' garbage warns here, not inside the check
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for make, kwargs in ((CnvUnit, dict(lanes=3)), (CnvUnit, dict(brick="x")),
                             (CnvEncoder, dict(value_width=1)), (CnvChain, dict(lanes=3))):
            with pytest.raises(ValueError):
                make(**kwargs)
        gc.collect()
    assert not [w for w in caught if "never used" in str(w.message)
                and re.search(r"\bCnv(Unit|Encoder|Chain)\b", str(w.message))]


def _mutate(rng, streams):
    """One random bad edit of a lane's beats (or none)."""
    s = [list(x) for x in streams]
    lane = s[int(rng.integers(len(s)))]
    i = int(rng.integers(len(lane)))
    kind = int(rng.integers(4))
    if kind == 0:
        lane[i] ^= int(rng.integers(1, 64)) << 8          # offset bits
    elif kind == 1:
        lane[i] ^= cnv.END << 8
    elif kind == 2:
        lane.insert(i, lane[i])
    return s


def _run_unit(dut, w, windows, seed):
    """One weight load, then the windows (tests/cnv_sim.py)."""
    program = [("load", cnv.weight_words(w))] + [("window", s) for s in windows]
    return run_program(dut, program, seed)


@SETTINGS
@given(st.integers(1, P["max_k"]), st.integers(0, 2**32 - 1))
def test_unit_random_windows(k_len, seed):
    rng = np.random.default_rng(seed)
    L, B, F = P["lanes"], P["brick"], P["filters"]
    w = rng.integers(-128, 128, (F, k_len))
    windows = []
    for i in range(4):
        a = rng.integers(-128, 128, k_len)
        a[rng.random(k_len) < rng.random()] = 0
        s = cnv.window_streams(a, lanes=L, brick=B, dense=bool(i % 2))
        windows.append(_mutate(rng, s) if rng.random() < 0.5 else s)
    got = _run_unit(CnvUnit(**P), w, windows, seed)
    for (out, err), streams in zip(got, windows):
        want, want_err, _ = cnv.unit_window(streams, w, lanes=L, brick=B)
        assert out == list(want) and err == want_err
