"""Formal proofs of the kit's exported tops (``make formal``, ``python -m formal``).

:mod:`formal.axis` holds the AXI4-Stream rules (one place); :mod:`formal.harness` builds a
top under properties and runs SymbiYosys; :mod:`formal.rlc` and :mod:`formal.csr_spmv` add
each block's own promises; :mod:`formal.suite` lists every check.
"""
