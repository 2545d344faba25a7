"""FPGA flow of the kit (`make synth`): every top through Yosys and nextpnr (PyPI YoWASP
builds) inside a registered-I/O wrapper, resources, Fmax and the critical path named back
to the Python line; FuseSoC cores generated from the block registry.

Modules: :mod:`fpga.configs` (which builds), :mod:`fpga.wrapper`, :mod:`fpga.tools`,
:mod:`fpga.flow` (cached runs), :mod:`fpga.report` (parsing, table), :mod:`fpga.cores`.
"""
