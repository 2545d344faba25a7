"""Amaranth gateware of the sparse-DNN kit.

Every block is a :class:`amaranth.lib.wiring.Component` with :mod:`amaranth.lib.stream`
interfaces inside; :mod:`hw.axis` flattens those into AXI4-Stream ports at the exported
top, and :mod:`hw.blocks` is the one registry of exported tops (``python -m hw list``).
"""
