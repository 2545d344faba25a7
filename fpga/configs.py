"""Which builds the FPGA flow covers: every registered top at its defaults, plus every
parameter set a bench in :mod:`tb.benches` runs, read from the two registries each time
(nothing is listed here, so a new block or bench variant is covered without an edit).
"""

import re
from dataclasses import dataclass

from hw.blocks import BLOCKS, get_block
from hw.generate import verilog

__all__ = ["Config", "configs", "pair_design", "design_verilog", "variant_module"]


@dataclass(frozen=True)
class Config:
    """One design: ``tops`` is a tuple of (block, params, module name) built side by side."""
    label: str
    tops: tuple
    tag: str = "default"

    @property
    def block(self):
        return self.tops[0][0]

    @property
    def params(self):
        """Parameters of the only top, or {module name: params} for a multi-top design."""
        if len(self.tops) == 1:
            return dict(self.tops[0][1])
        return {module: dict(params) for _, params, module in self.tops}

    @property
    def modules(self):
        return [module for _, _, module in self.tops]


def variant_module(block, tag):
    """A Verilog-safe module name for a variant: ``csr_spmv`` or ``csr_spmv_lanes4``."""
    return block if tag == "default" else re.sub(r"\W", "_", f"{block}_{tag}")


def _single(block, overrides, tag, label):
    params = get_block(block).params(overrides)
    return Config(label, ((block, tuple(sorted(params.items())), block),), tag)


def configs(blocks=None):
    """Every top at its defaults, then each bench variant whose full parameter set differs.

    ``blocks`` restricts the list: a block name picks all its builds, a label one build
    (``csr_spmv[lanes4]``; ``csr_spmv[default]`` the defaults alone).  Labels follow the
    bench ids: ``csr_spmv``, ``csr_spmv[lanes4]``.  A name that picks nothing is a
    ``ValueError``.
    """
    from tb.benches import BENCHES

    found, seen, picked = [], set(), set()
    candidates = [(name, {}, "default") for name in BLOCKS]
    candidates += [(b.block, b.params, b.tag) for b in BENCHES if b.block in BLOCKS]
    for block, overrides, tag in candidates:
        names = {block, f"{block}[{tag}]"}
        if blocks and not names & set(blocks):
            continue
        picked |= names
        params = tuple(sorted(get_block(block).params(overrides).items()))
        if (block, params) in seen:
            continue
        seen.add((block, params))
        label = block if tag == "default" else f"{block}[{tag}]"
        found.append(_single(block, overrides, tag, label))
    unknown = sorted(set(blocks or ()) - picked)
    if unknown:
        raise ValueError(f"no build named {', '.join(unknown)} (blocks: {', '.join(BLOCKS)})")
    return found


def pair_design(block="csr_spmv", variants=({"lanes": 1}, {"lanes": 4})):
    """One design holding two configurations of ``block`` under two module names."""
    tops = []
    for overrides in variants:
        params = get_block(block).params(overrides)
        tag = "_".join(f"{k}{v}" for k, v in sorted(overrides.items()))
        tops.append((block, tuple(sorted(params.items())), variant_module(block, tag)))
    label = f"{block}[{' + '.join(m for _, _, m in tops)}]"
    return Config(label, tuple(tops), "pair")


def design_verilog(config):
    """[(module name, Verilog text)] for every top of ``config``.

    A single top keeps the block's own module name; several tops each get theirs from the
    generator's module-name option, which also prefixes their submodules, so they share
    no module.
    """
    out = []
    for block, params, module in config.tops:
        if len(config.tops) == 1 and module == block:
            out.append((module, verilog(block, **dict(params))))
        else:
            out.append((module, verilog(block, module_name=module, **dict(params))))
    return out
