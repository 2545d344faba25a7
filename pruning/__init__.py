"""Hardware-aware pruning in pure Python + NumPy, with exporters to the kit's formats.

Public API (details in each module):

* :func:`prune` -- criterion + granularity + scope (+ N:M) in one call.
* :mod:`pruning.criteria` -- magnitude, random, taylor, obd, wanda.
* :mod:`pruning.masks` -- exact selection (:func:`prune_count`: nearest count, half to even, never all;
  lower index kept on ties), granularities, :func:`nm_mask`,
  :func:`transposable_nm_mask`, :func:`global_select`.
* :mod:`pruning.schedules` -- :class:`OneShot`, :class:`PolynomialDecay`,
  :func:`iterative_sparsities`.
* :mod:`pruning.nn`, :mod:`pruning.train` -- NumPy MLP, masked SGD, one-shot,
  iterative, gradual, lottery ticket, OBD Hessian diagonal.
* :mod:`pruning.energy` -- 45 nm cost table, layer energy, energy-aware pruning.
* :mod:`pruning.activations` -- activation pruning thresholds.
* :mod:`pruning.quant` -- symmetric int8/int16 quantisation.
* :mod:`pruning.export`, :mod:`pruning.loader`, :mod:`pruning.formats`,
  :mod:`pruning.storage` -- all-or-nothing exporters (dense, RLC, CSR, 2:4,
  ZFNAf; one format object each in ``formats.REGISTRY``), the checking
  loader, exact storage bits.
* :mod:`pruning.targets` -- the hardware build an export is packed for (the
  manifest's ``"hardware"``), fit checks, pairing an export with a build; the
  only module that imports :mod:`hw` (lazily).
* :mod:`pruning.digits` -- the load_digits experiment (needs scikit-learn).
"""
from .api import PruneResult, apply_masks, prune, sparsity_of
from .criteria import CRITERIA
from .energy import HOROWITZ_45NM, LayerCost, energy_aware_prune, energy_order, layer_energy
from .export import FORMATS, export_layer, export_layers, load_export
from .masks import (GRANULARITIES, NM_TAIL_RULE, check_nm_mask, global_select, nm_mask,
                    prune_count, select, transposable_nm_mask)
from .quant import Quantized, dequantize, quantize
from .schedules import OneShot, PolynomialDecay, iterative_sparsities

__all__ = ["prune", "PruneResult", "apply_masks", "sparsity_of", "CRITERIA", "GRANULARITIES",
           "NM_TAIL_RULE", "prune_count", "select", "nm_mask", "transposable_nm_mask",
           "global_select", "check_nm_mask", "OneShot", "PolynomialDecay",
           "iterative_sparsities", "quantize", "dequantize", "Quantized", "export_layer", "export_layers",
           "load_export", "FORMATS", "HOROWITZ_45NM", "LayerCost", "layer_energy",
           "energy_order", "energy_aware_prune"]
