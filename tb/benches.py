"""Which cocotb tests run on which top: the sim regression list (make sim, tests/)."""

from dataclasses import dataclass, field

__all__ = ["Bench", "BENCHES"]


@dataclass(frozen=True)
class Bench:
    """cocotb tests of ``module`` matching ``test_filter``, run on block ``block`` built
    with ``params``.  ``tag`` tells parameter sets of one block apart."""
    block: str
    module: str
    test_filter: str
    params: dict = field(default_factory=dict)
    tag: str = "default"

    @property
    def id(self):
        return self.block if self.tag == "default" else f"{self.block}[{self.tag}]"


BENCHES = [
    Bench("rlc_encoder", "tb.test_rlc", r"\.encoder_"),
    Bench("rlc_decoder", "tb.test_rlc", r"\.decoder_"),
    Bench("rlc_loopback", "tb.test_rlc", r"\.loopback"),
    Bench("csr_spmv", "tb.test_csr_spmv", r"\.spmv_"),
    Bench("csr_spmv", "tb.test_csr_spmv", r"\.spmv_", {"overflow": "saturate"}, "saturate"),
    Bench("csr_spmv", "tb.test_csr_spmv", r"\.spmv_", {"lanes": 4}, "lanes4"),
]
