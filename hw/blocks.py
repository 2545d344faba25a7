"""The one registry of exported tops: block name -> constructor, parameters, AXI mapping.

Everything that builds Verilog (``python -m hw``, the Verilator runner, the benches) looks
blocks up here, so adding a block is one entry.
"""

import inspect
from dataclasses import dataclass
from typing import Callable

from .axis import AXIStreamExport
from .cnv import CnvChain, CnvEncoder, chain_streams
from .cnv_unit import CnvUnit, unit_streams
from .csr_spmv import CSRSpMV
from .nm_mac import DenseMAC, SparseMAC
from .rlc import RLCDecoder, RLCEncoder, RLCLoopback

__all__ = ["Block", "BLOCKS", "get_block", "build_top"]


@dataclass(frozen=True)
class Block:
    """An exported top.

    ``name`` is the Verilog module name and the bench name; ``make`` builds the inner
    component from keyword parameters; ``streams`` maps its stream members to AXI prefixes.
    The parameters of the default build are read from ``make``'s signature (its keyword
    parameters and their defaults), so they are written once, in the constructor.
    """
    name: str
    make: Callable
    streams: dict
    description: str = ""
    # params -> streams, for blocks whose stream members depend on a parameter (cnv lanes);
    # ``streams`` then describes the default build.
    streams_for: Callable = None

    @property
    def defaults(self):
        """Keyword parameters of ``make`` and their defaults."""
        return {p.name: p.default for p in inspect.signature(self.make).parameters.values()
                if p.kind is p.KEYWORD_ONLY and p.default is not p.empty
                and p.name != "src_loc_at"}   # Amaranth's, inherited: not a hardware parameter

    def streams_of(self, params):
        """Stream member -> AXI prefix of the build with ``params`` (complete parameters)."""
        return self.streams_for(params) if self.streams_for else self.streams

    def params(self, overrides=None):
        """Defaults updated with ``overrides``; unknown names are an error."""
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(self.defaults)
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(f"Block {self.name!r} has no parameter(s) {sorted(unknown)}; "
                             f"it takes: {known}")
        return {**self.defaults, **overrides}


BLOCKS = {block.name: block for block in [
    Block("rlc_encoder", RLCEncoder, {"i": "s_axis", "o": "m_axis"},
          description="Eyeriss RLC encoder: 16-bit values -> 64-bit words (3 pairs each)"),
    Block("rlc_decoder", RLCDecoder, {"i": "s_axis", "o": "m_axis"},
          description="Eyeriss RLC decoder: 64-bit words + length -> 16-bit values"),
    Block("rlc_loopback", RLCLoopback, {"i": "s_axis", "o": "m_axis"},
          description="RLC encoder -> decoder, for codec bring-up and round-trip tests"),
    Block("csr_spmv", CSRSpMV,
          {"x": "s_axis_x", "row": "s_axis_row", "nz": "s_axis_nz", "y": "m_axis_y"},
          description="CSR SpMV y = A.x: x into on-chip memory, CSR rows/non-zeros as streams"),
    Block("sparse_mac", SparseMAC, {"w": "s_axis_w", "a": "s_axis_a", "o": "m_axis_o"},
          description="N:M (2:4) sparse MAC: compressed weights + metadata, dense fallback"),
    Block("dense_mac", DenseMAC, {"w": "s_axis_w", "a": "s_axis_a", "o": "m_axis_o"},
          description="dense twin of sparse_mac: m*G multipliers, the same streams"),
    Block("cnv_encoder", CnvEncoder, {"i": "s_axis", "o": "m_axis"},
          description="Cnvlutin ZFNAf encoder: one dense brick in, its non-zeros + offsets out"),
    Block("cnv_unit", CnvUnit, unit_streams(),
          streams_for=lambda params: unit_streams(params["lanes"]),
          description="Cnvlutin unit: L zero-skipping lanes x F filters, weights reused"),
    Block("cnv_chain", CnvChain, chain_streams(),
          streams_for=lambda params: chain_streams(params["lanes"]),
          description="Cnvlutin encoders -> unit: dense bricks per lane in, F sums out"),
]}


def get_block(name):
    try:
        return BLOCKS[name]
    except KeyError:
        raise ValueError(f"Unknown block {name!r}; known blocks: {', '.join(BLOCKS)}") from None


def build_top(name, **overrides):
    """The AXI4-Stream top of block ``name``, ready for :func:`hw.generate.verilog`."""
    block = get_block(name)
    params = block.params(overrides)
    return AXIStreamExport(block.make(**params), block.streams_of(params))
