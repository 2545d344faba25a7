"""Generated Verilog: deterministic, machine-independent, AXI-named, and lint clean."""

import re
import subprocess

import pytest

from hw.blocks import BLOCKS, build_top
from hw.generate import verilog, write_verilog
from tb.runner import PROJECT, VLT, verilator_cmd


@pytest.mark.parametrize("name", list(BLOCKS))
def test_deterministic_and_relative(name):
    first, second = verilog(name), verilog(name)
    assert first == second
    assert str(PROJECT) not in first
    assert "site-packages" not in first
    # src attributes name project files relative to the project root.
    assert re.search(r'src = "hw/[a-z_0-9]+\.py:\d+', first)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_top_module_and_ports(name):
    text = verilog(name)
    assert re.search(rf"^module {name}\(", text, re.M)
    top = build_top(name)
    ports = set(top.signature.members)
    for prefix in BLOCKS[name].streams.values():
        assert prefix.startswith(("s_axis", "m_axis"))
        assert {f"{prefix}_tdata", f"{prefix}_tvalid", f"{prefix}_tready"} <= ports
    header = text[:text.index(");")]
    for port in ports | {"clk", "rst"}:
        assert re.search(rf"\b{port}\b", header), port


@pytest.mark.parametrize("name", list(BLOCKS))
def test_lint_clean(tmp_path, name):
    path = write_verilog(name, tmp_path / "verilog")
    proc = subprocess.run(verilator_cmd("--lint-only", "-Wall", VLT, path),
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr


def test_write_is_idempotent(tmp_path):
    path = write_verilog("rlc_encoder", tmp_path / "verilog")
    mtime = path.stat().st_mtime_ns
    assert write_verilog("rlc_encoder", tmp_path / "verilog").stat().st_mtime_ns == mtime


def test_unknown_block_and_parameter():
    with pytest.raises(ValueError, match="Unknown block 'nope'"):
        verilog("nope")
    with pytest.raises(ValueError, match="has no parameter"):
        verilog("rlc_encoder", width=3)


def test_make_verilog_output_is_byte_identical(tmp_path):
    """`python -m hw generate` in two processes (different hash seeds) writes the same bytes."""
    import os
    import sys
    outputs = []
    for run, hash_seed in enumerate(("1", "2")):
        out = tmp_path / f"run{run}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-m", "hw", "generate", "--out", str(out)],
                       cwd=PROJECT, env=env, check=True, capture_output=True)
        outputs.append({p.name: p.read_bytes() for p in sorted(out.glob("*.v"))})
    assert set(outputs[0]) == {f"{name}.v" for name in BLOCKS}
    assert outputs[0] == outputs[1]
