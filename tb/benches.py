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
    Bench("rlc_encoder", "tb.bench_rlc", r"\.encoder_"),
    Bench("rlc_decoder", "tb.bench_rlc", r"\.decoder_"),
    Bench("rlc_loopback", "tb.bench_rlc", r"\.loopback"),
    Bench("csr_spmv", "tb.bench_csr_spmv", r"\.spmv_"),
    Bench("csr_spmv", "tb.bench_csr_spmv", r"\.spmv_", {"overflow": "saturate"}, "saturate"),
    Bench("csr_spmv", "tb.bench_csr_spmv", r"\.spmv_", {"lanes": 4}, "lanes4"),
    Bench("csr_spmv", "tb.bench_csr_spmv", r"\.spmv_(density|extremes|malformed|empty_rows)",
          {"lanes": 2, "multipliers": "lut"}, "lut_lanes2"),
    # near its limits: 16 rows and columns, narrow fields (x wider than x_width can be sent)
    Bench("csr_spmv", "tb.bench_csr_spmv", r"\.spmv_(malformed|unused_slots|limit_|empty_rows)",
          {"lanes": 2, "max_rows": 16, "max_cols": 16, "value_width": 12, "x_width": 12,
           "col_width": 8, "row_width": 8}, "small"),
    Bench("sparse_mac", "tb.bench_nm_mac", r"\.mac_"),
    # LUT multipliers (pipelined radix-4): the same results, two clocks more latency
    Bench("sparse_mac", "tb.bench_nm_mac", r"\.mac_(groups|extremes|fallback|malformed)",
          {"multipliers": "lut"}, "lut"),
    Bench("sparse_mac", "tb.bench_nm_mac", r"\.mac_", {"groups": 16, "overflow": "saturate"},
          "g16_sat"),
    Bench("sparse_mac", "tb.bench_nm_mac", r"\.mac_",
          {"n": 1, "groups": 1, "width": 16, "acc_width": 40}, "1of4_g1_int16"),
    Bench("sparse_mac", "tb.bench_nm_mac", r"\.mac_",
          {"n": 2, "m": 8, "groups": 2, "acc_width": 24, "overflow": "saturate"}, "2of8_g2_sat"),
    Bench("dense_mac", "tb.bench_nm_mac",
          r"\.mac_(pruned_export|groups|extremes|fallback|dense_rows)"),
    Bench("dense_mac", "tb.bench_nm_mac", r"\.mac_(groups|extremes)/stall=\w+/n=1$",
          {"groups": 1, "width": 16, "acc_width": 40}, "g1_int16"),   # twin of 1of4_g1_int16
    Bench("dense_mac", "tb.bench_nm_mac", r"\.mac_(groups|extremes)/stall=\w+/n=2$",
          {"multipliers": "lut"}, "lut"),
    Bench("cnv_encoder", "tb.bench_cnv", r"\.encoder_"),
    Bench("cnv_unit", "tb.bench_cnv", r"\.unit_", {"acc_width": 20}, "acc20"),
    Bench("cnv_unit", "tb.bench_cnv", r"\.unit_",
          {"lanes": 1, "overflow": "saturate", "acc_width": 20}, "l1_saturate"),
    Bench("cnv_chain", "tb.bench_cnv", r"\.chain_"),
]
