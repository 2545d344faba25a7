"""End to end (issue 13): a pruned, int8 digits ConvNet runs on the generated hardware.

``python -m e2e`` (or ``make e2e``; ``--quick N`` for the first N held-out images) trains
the network of :mod:`e2e.net` on scikit-learn's bundled digits, prunes it with the
pruning API (fc1 90 % magnitude for ``csr_spmv``, fc2 2:4 for ``sparse_mac``), quantises
it (:mod:`e2e.intnet`: int8 weights and activations, int32 accumulators, requantisation
in software), exports every weight with :func:`pruning.export_layer`, computes the golden
integer model with the golden block models, then runs every layer on its block in
Verilator (:mod:`e2e.hardware`, :mod:`tb.bench_e2e`: one simulation per layer, all
images in it, the inputs read from exported files) and prints the table of
:mod:`e2e.report`: per layer block, format, sparsity, bits, measured cycles against the
dense baseline, memory energy; for the network float, golden and hardware accuracy and
the hardware/golden disagreements (must be 0).  Also ``build/e2e/e2e.png``.

Modules: :mod:`e2e.net` (the float network and its training), :mod:`e2e.intnet`
(quantisation, requantisation, golden model), :mod:`e2e.flow` (the flow),
:mod:`e2e.hardware` (one layer on its block), :mod:`e2e.report` (table, checks, picture).
"""
