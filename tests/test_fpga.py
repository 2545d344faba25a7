"""The FPGA flow (fpga/, `make synth`): one small top through Yosys and nextpnr on both
families, the report parsed back to Python lines; the wrapper; FuseSoC reading the cores."""

import os
import re
import subprocess

import pytest

from fpga.configs import configs, design_verilog, pair_design
from fpga.cores import core_name, write_cores
from fpga.flow import run_config
from fpga.tools import tool_path
from fpga.wrapper import ports, wrapper_verilog
from hw.blocks import BLOCKS
from tb.runner import setup_verilator


def _config(label):
    return next(c for c in configs() if c.label == label)


def test_builds_are_picked_by_block_or_label_and_unknown_names_refused():
    assert [c.label for c in configs(["csr_spmv[default]"])] == ["csr_spmv"]
    assert [c.label for c in configs(["csr_spmv[lanes4]"])] == ["csr_spmv[lanes4]"]
    assert len(configs(["csr_spmv"])) > 2
    with pytest.raises(ValueError, match="no build named csr_spmv\\[nope\\], nonesuch"):
        configs(["nonesuch", "csr_spmv[nope]"])


def test_every_top_and_bench_variant_is_covered():
    from tb.benches import BENCHES
    labels = {c.label for c in configs()}
    assert set(BLOCKS) <= labels
    for bench in BENCHES:
        if bench.block in BLOCKS:
            # A variant whose parameters equal the defaults is the default build.
            assert bench.id in labels or not bench.params, bench.id


def test_wrapper_registers_every_port():
    (module, text), = design_verilog(_config("rlc_encoder"))
    found = {p.name: p for p in ports(text, module)}
    assert found["s_axis_tdata"].width == 16 and found["m_axis_tdata"].width == 64
    wrapper = wrapper_verilog([(module, list(found.values()))])
    # Every port but the clock is on a wrapper register; only three pins are left.
    for name in found:
        assert re.search(rf"\.{name}\((sin|dut_q)\[\d+:\d+\]\)", wrapper) or name == "clk", name
    assert "module fpga_wrap (input wire clk, input wire din, output wire dout);" in wrapper


def test_pair_design_has_two_module_names():
    sources = design_verilog(pair_design())
    assert [m for m, _ in sources] == ["csr_spmv_lanes1", "csr_spmv_lanes4"]
    first, second = (set(re.findall(r"^module\s+(\S+)", t, re.M)) for _, t in sources)
    assert not first & second          # no module defined twice in one design


@pytest.mark.parametrize("device", ["ecp5-25f", "ice40-up5k"])
def test_synth_place_and_report(tmp_path, device):
    """rlc_encoder through the whole flow in a fresh cache: figures and a named path."""
    config = _config("rlc_encoder")
    (row,) = run_config(config, device, [1], root=tmp_path)
    assert "error" not in row, row.get("error")
    assert row["LUT"] > 0 and row["FF"] > 0 and row["fmax_mhz"] > 0
    # The wrapper is counted apart: n_in + 2 * n_out flip-flops (see fpga/wrapper.py).
    (module, text), = design_verilog(config)
    p = [p for p in ports(text, module) if p.name != "clk"]
    n_in = sum(x.width for x in p if x.direction == "input")
    n_out = sum(x.width for x in p if x.direction == "output")
    assert row["wrapper"]["FF"] == n_in + 2 * n_out
    path = row["critical_path"]
    srcs = [path["from_src"], path["to_src"], *path["through"]]
    assert any(re.fullmatch(r"hw/\w+\.py:\d+", s) for s in srcs), path
    assert path["logic_levels"] >= 1
    # A second run is served from the cache, with the same figures.
    assert run_config(config, device, [1], root=tmp_path) == [row]


@pytest.fixture
def fusesoc_env(tmp_path):
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[var] = str(tmp_path / var.lower())       # nothing written to the home folder
    env["PATH"] = f"{setup_verilator()}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def cores(tmp_path_factory):
    """The cores of two blocks (csr_spmv with its bench variants), written once; `make
    synth` writes them all with the same code."""
    root = tmp_path_factory.mktemp("cores")
    return root, write_cores(root, ["rlc_encoder", "csr_spmv"])


def test_fusesoc_lists_every_core(tmp_path, fusesoc_env, cores):
    root, cores = cores
    assert len(cores) == len(configs(["rlc_encoder", "csr_spmv"])) >= 3
    out = subprocess.run([tool_path("fusesoc"), "--cores-root", str(root), "core", "list"],
                         cwd=tmp_path, env=fusesoc_env, capture_output=True, text=True,
                         check=True).stdout
    for core in cores:
        assert core_name(core.stem) in out, core.stem
    info = subprocess.run([tool_path("fusesoc"), "--cores-root", str(root), "core-info",
                           core_name("csr_spmv_lanes4")], cwd=tmp_path, env=fusesoc_env,
                          capture_output=True, text=True, check=True).stdout
    assert "lanes=4" in info and "top csr_spmv_lanes4" in info


def test_fusesoc_lints_a_core(tmp_path, fusesoc_env, cores):
    """FuseSoC runs the core's lint target (Verilator -Wall, the project's waivers)."""
    root, _ = cores
    proc = subprocess.run([tool_path("fusesoc"), "--cores-root", str(root),
                           "run", "--build-root", str(tmp_path / "b"), "--target", "lint",
                           core_name("rlc_encoder")], cwd=tmp_path, env=fusesoc_env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
