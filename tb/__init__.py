"""cocotb testbenches: one module per block, run on Verilator through :mod:`tb.runner`.

Shared pieces live in one place each: :mod:`tb.axis` (drivers/monitors),
:mod:`tb.scoreboard` (comparison with golden/), :mod:`tb.bench` (clock, reset, seeds,
metrics) and :mod:`tb.runner` (Verilator builds).
"""
