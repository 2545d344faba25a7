"""The RLC blocks' registry parameters and stated timing (the cocotb benches check the
behaviour and assert the cycle bounds; see tb/bench_rlc.py)."""

import re
import subprocess
import sys

import pytest

from golden import rlc
from hw.blocks import get_block
from hw.generate import verilog
from hw.rlc import RLCDecoder, RLCEncoder, RLCLoopback
from tb.runner import PROJECT, VLT, verilator_cmd


def fifo_entries(text):
    """Entries of the FIFO's memory in generated Verilog (SyncFIFO keeps all ``depth``
    words in it)."""
    sizes = re.findall(r"reg \[\d+:0\] storage \[(\d+):0\];", text)
    assert len(sizes) == 1, sizes
    return int(sizes[0]) + 1


def test_loopback_fifo_depth_is_a_registry_parameter():
    block = get_block("rlc_loopback")
    assert block.defaults == {"fifo_depth": 64}
    assert block.params({"fifo_depth": 16}) == {"fifo_depth": 16}
    assert fifo_entries(verilog("rlc_loopback")) == 64
    assert fifo_entries(verilog("rlc_loopback", fifo_depth=16)) == 16
    with pytest.raises(ValueError, match="FIFO depth must be an integer of at least 2, not 1"):
        verilog("rlc_loopback", fifo_depth=1)


def test_generate_cli_takes_fifo_depth(tmp_path):
    """`python -m hw generate rlc_loopback --param fifo_depth=16` writes a lint-clean top
    (under a verilog/ folder, where hw/verilator.vlt's waivers apply)."""
    out = tmp_path / "verilog"
    proc = subprocess.run([sys.executable, "-m", "hw", "generate", "rlc_loopback",
                           "--param", "fifo_depth=16", "--out", str(out)],
                          capture_output=True, text=True, cwd=PROJECT)
    assert proc.returncode == 0, proc.stderr
    path = out / "rlc_loopback.v"
    assert fifo_entries(path.read_text()) == 16
    lint = subprocess.run(verilator_cmd("--lint-only", "-Wall", VLT, path),
                          capture_output=True, text=True)
    assert lint.returncode == 0 and "%Warning" not in lint.stderr, lint.stderr


def test_codec_ports_use_the_golden_format_widths():
    enc, dec = RLCEncoder(), RLCDecoder()
    assert enc.o.payload.data.shape().width == dec.i.payload.data.shape().width == rlc.WORD_BITS
    assert enc.i.payload.data.shape().width == dec.o.payload.data.shape().width == rlc.LEVEL_BITS


def test_loopback_default_depth_keeps_its_cycle_bound():
    """The stated loopback bound needs FULL_RATE_DEPTH words of FIFO: the default build
    (the one make sim times) must have them, and they must hold WORD_LAG dense values."""
    assert RLCLoopback().fifo_depth >= RLCLoopback.FULL_RATE_DEPTH
    assert RLCLoopback.FULL_RATE_DEPTH * rlc.PAIRS_PER_WORD >= RLCLoopback.WORD_LAG
