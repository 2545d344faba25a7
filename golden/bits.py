"""Bit-level facts every format and block shares: byte rounding, two's complement, and the
integer-parameter check every golden model uses.

One home for them, so that golden models, exporters, hardware and benches agree (the
hardware imports :func:`byte_width` from here).  Imports nothing but the standard library.
"""
from __future__ import annotations

from numbers import Integral

__all__ = ["byte_width", "to_signed", "check_int"]


def byte_width(bits: int) -> int:
    """``bits`` rounded up to a whole number of bytes (AXI4-Stream TDATA granularity, and
    the field width of a value in every stream packing)."""
    return -(-int(bits) // 8) * 8


def to_signed(word: int, width: int) -> int:
    """Read the low ``width`` bits of ``word`` as two's complement (e.g. an output beat)."""
    word = int(word) & ((1 << width) - 1)
    return word - (1 << width) if word >> (width - 1) else word


def check_int(name: str, value, lo: int, hi: int) -> int:
    """``value`` as an int if it is an integer (NumPy integers too, never a bool) in
    ``[lo, hi]``, else a ValueError naming it: "groups must be an integer in [1, 32], not 0"."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], not {value!r}")
    return int(value)
