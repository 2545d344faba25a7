"""Bit-level facts every format and block shares: byte rounding and two's complement.

One home for them, so that golden models, exporters, hardware and benches agree (the
hardware imports :func:`byte_width` from here).  Imports nothing but the standard library.
"""
from __future__ import annotations

__all__ = ["byte_width", "to_signed"]


def byte_width(bits: int) -> int:
    """``bits`` rounded up to a whole number of bytes (AXI4-Stream TDATA granularity, and
    the field width of a value in every stream packing)."""
    return -(-int(bits) // 8) * 8


def to_signed(word: int, width: int) -> int:
    """Read the low ``width`` bits of ``word`` as two's complement (e.g. an output beat)."""
    word = int(word) & ((1 << width) - 1)
    return word - (1 << width) if word >> (width - 1) else word
