#!/usr/bin/env sh
# What `make sim` / `make test` need from the machine besides PyPI packages, checked up
# front so that a missing piece is named instead of failing deep inside a Verilator build.
missing=""
command -v c++ >/dev/null 2>&1 || missing="$missing\n  - a C++ compiler (c++): Verilator compiles its models with it (Debian: g++)"
command -v perl >/dev/null 2>&1 && perl -MFindBin -MPod::Usage -e 1 >/dev/null 2>&1 \
  || missing="$missing\n  - Perl with FindBin and Pod::Usage: the verilator command is a Perl script (Debian: perl)"
"$1" -c 'import sysconfig, sys; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' 2>/dev/null \
  || missing="$missing\n  - a Python built with --enable-shared (libpython): cocotb embeds it in the simulator"
if [ -n "$missing" ]; then
  printf "make: this machine lacks what the simulations need:$missing\n" >&2
  exit 1
fi
