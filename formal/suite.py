"""Every formal check of ``make formal``, and the fast subset that ``make test`` runs.

* The stream rules (:mod:`formal.axis`) on every exported top in :data:`hw.blocks.BLOCKS`,
  by k-induction; a top added later is checked the same way with no edit here (with its
  default parameters unless :data:`SMALL_PARAMS` names a smaller build).
* Each block's own promises, from its file (:mod:`formal.rlc`, :mod:`formal.csr_spmv`,
  :mod:`formal.nm_mac`, :mod:`formal.cnv`).
* ``cover`` runs: every ``Cover`` (each kind of transfer, held beat, tensor end, error
  rising and clearing, the longest cases) is reached, so no proof passes vacuously.
* Anti-vacuity: the same properties on deliberately broken designs must FAIL.
"""

from hw.blocks import BLOCKS
from hw.nm_mac import latency_of as nm_latency
from hw.rlc import RLCDecoder, RLCEncoder, RLCLoopback

from . import cnv
from . import csr_spmv as csr
from . import mutants, rlc
from . import nm_mac as nm
from .harness import Check

__all__ = ["SMALL_PARAMS", "all_checks", "fast_checks"]

# Builds small enough for a solver; every parameter still within the constructor's range.
SMALL_PARAMS = {"csr_spmv": csr.SMALL, "rlc_loopback": {"fifo_depth": 4},
                "sparse_mac": nm.SMALL, "dense_mac": {k: v for k, v in nm.SMALL.items()
                                                      if k != "n"}}


def stream_rules(env):
    """Only the stream rules the harness puts on every port (and their covers)."""


def _both(*props):
    def combined(env):
        for p in props:
            p(env)
    combined.__name__ = "+".join(p.__name__ for p in props)
    return combined


# Tops whose stream rules close by k-induction (k = 4); elsewhere the induction step finds
# unreachable states (e.g. csr_spmv's y FIFO storage), so those are bounded (BMC) checks.
INDUCTIVE = {"rlc_encoder", "rlc_decoder", "rlc_loopback"}


def _generic():
    """The stream rules on every registered top: k-induction where it closes, else BMC."""
    return [Check(name, "stream rules", stream_rules, *(("prove", 4) if name in INDUCTIVE
                                                         else ("bmc", 10)),
                  params=SMALL_PARAMS.get(name, {}), fast=(name == "rlc_encoder"))
            for name in BLOCKS]


# Long runs through the loopback: tensors of 33 values, zero but at one free position with a
# free value (a run of 32 zeros before or after it, or two shorter runs); all offered and
# always ready.  The encoder holds a sparse tensor's only word until its last value, so the
# first value leaves N + pipeline cycles after the first went in and the last N - 1 later:
# depth 2N + the loopback's pipeline + 2 (75 for N = 33; the last value left in step 72).
# Two free values at free positions (N = 40, D = 89) did not close: still on step 54 after
# about 200 s with yices (--jobs 1), stopped; so LONG_FREE stays 1.
LONG, LONG_FREE = (33, 33), 1
LONG_DEPTH = (2 * LONG[1] + RLCEncoder.latency + RLCLoopback.FIFO_LATENCY
              + RLCDecoder.latency + 2)


def _rlc():
    lb = SMALL_PARAMS["rlc_loopback"]
    return [
        Check("rlc_encoder", "one final word per tensor", rlc.encoder_count, "bmc", 12),
        Check("rlc_encoder", "liveness: word <= 2 cycles after last", rlc.encoder_live,
              "bmc", 12, live=True),
        Check("rlc_encoder", "cover", _both(rlc.encoder_count), "cover", 10),
        Check("rlc_encoder", "cover (live)", rlc.encoder_live, "cover", 12, live=True),
        Check("rlc_decoder", f"exactly N values (N <= {rlc.MAX_LEN})", rlc.decoder_count,
              "bmc", 14),
        Check("rlc_decoder", "error sticky, cleared by next tensor", rlc.decoder_error,
              "bmc", 14),
        Check("rlc_decoder", "liveness: N values in N+2 cycles", rlc.decoder_live, "bmc", 14,
              live=True),
        Check("rlc_decoder", "cover", _both(rlc.decoder_count, rlc.decoder_error), "cover", 14),
        Check("rlc_decoder", "cover (live)", rlc.decoder_live, "cover", 14, live=True),
        Check("rlc_loopback", f"round trip (N <= {rlc.MAX_LEN})",
              rlc.loopback_roundtrip(1, rlc.MAX_LEN, 24), "bmc", 10, params=lb),
        Check("rlc_loopback", "cover", rlc.loopback_roundtrip(1, rlc.MAX_LEN, 24), "cover", 20,
              params=lb),
        Check("rlc_loopback", f"round trip, runs over 31 (N = {LONG[1]}, {LONG_FREE} free value)",
              rlc.loopback_long_runs(*LONG, LONG_FREE), "bmc", LONG_DEPTH, params=lb, live=True),
        Check("rlc_loopback", "cover (runs over 31)", rlc.loopback_long_runs(*LONG, LONG_FREE),
              "cover", LONG_DEPTH, params=lb, live=True),
    ]


def _csr():
    s = SMALL_PARAMS["csr_spmv"]
    return [
        Check("csr_spmv", "one y per announced row", csr.csr_count(16), "bmc", 12, params=s),
        Check("csr_spmv", "error travels with y, sticky per matrix", csr.csr_error, "bmc", 12,
              params=s),
        # depths: the x load, rows and the latency (5 on this build) of short matrices
        Check("csr_spmv", "y = golden sum (4x4, all values)", csr.csr_golden, "bmc", 12,
              params=s),
        Check("csr_spmv", "liveness: final y in C+1+steps+latency", csr.csr_live, "bmc", 15,
              params=s, live=True),
        Check("csr_spmv", "cover (any input)", _both(csr.csr_count(16), csr.csr_error), "cover",
              12, params=s),
        # One matrix after one x: x is never stalled (x.ready is high outside a matrix).
        Check("csr_spmv", "cover (well-formed)", csr.csr_golden, "cover", 20, params=s,
              stalls=False),
    ]


# Signed bits of every weight and activation in the MAC miter (formal/nm_mac.py); the depth
# is the latency + 4: tensors of up to 3 beats and their results, read from hw.nm_mac.
# 4 bits is the widest that closes in minutes (--jobs 1): 5-bit values were still on the
# last step (10) after 240 s, 6-bit on step 8 after 300 s (both stopped).  The times of
# the runs kept are in README's "Formal proofs" table.
NM_BITS = 4
NM_G2 = {**SMALL_PARAMS["sparse_mac"], "groups": 2, "multipliers": "lut"}
NM_G2_BITS = 3
NM_14 = {**SMALL_PARAMS["sparse_mac"], "n": 1}      # 1:4, one multiplier against four


def _nm_mac():
    s = SMALL_PARAMS["sparse_mac"]
    lut = {**s, "multipliers": "lut"}
    eq = nm.narrow_values(NM_BITS)
    return [
        Check("sparse_mac", f"= dense twin (2:4 G=1, values {NM_BITS}-bit)", eq, "bmc",
              4 + nm_latency("dsp"), params=s),
        Check("sparse_mac", f"= dense twin, LUT mult. (values {NM_BITS}-bit)", eq, "bmc",
              4 + nm_latency("lut"), params=lut),
        Check("sparse_mac", f"= dense twin, 2:4 G=2, LUT mult. (values {NM_G2_BITS}-bit)",
              nm.narrow_values(NM_G2_BITS), "bmc", 4 + nm_latency("lut"), params=NM_G2),
        Check("sparse_mac", f"= dense twin, 1:4 G=1 (values {NM_BITS}-bit)", eq, "bmc",
              4 + nm_latency("dsp"), params=NM_14),
        Check("sparse_mac", "cover (= dense twin)", eq, "cover", 12, params=s, fast=True),
    ]


# The Cnvlutin miter (formal/cnv.py): zero-skip chain = dense chain on the same free
# workload.  Depth: the dense chain's last output, nothing stalled (cnv.dense_done, from
# golden.cnv's latencies), + 1 to record it, + 1 to compare.  With free stalls on every
# stream one window closes (two did not: > 8 min with only the outputs stalled, > 12 min
# on step 22 with every stall free); with nothing stalled (live) two windows do.  With
# stalls the zero-skip chain's threshold T is free (AnyConst, 0 included) and the dense
# twin (T = 0) gets the activations with |a| < T set to 0 (it replaces the T = 0 miter,
# in about the same time); the two-window run keeps T = 0.
CNV_W_STALLS, CNV_W_LIVE = 1, cnv.WINDOWS
CNV_DEPTH = {w: cnv.dense_done(windows=w) + 2 for w in (CNV_W_STALLS, CNV_W_LIVE)}
CNV_T = cnv.zero_skip_equals_dense(CNV_W_STALLS, free_threshold=True)
CNV_BUILD = (f"L={cnv.SMALL['lanes']} B={cnv.SMALL['brick']} K={cnv.K}, "
             f"values {cnv.SMALL['value_width']}-bit")


def _cnv():
    s = cnv.SMALL          # the generic stream rules keep the default build
    live = cnv.zero_skip_equals_dense(CNV_W_LIVE)
    return [
        # free threshold T (T = 0 included): zero-skip with T = dense twin on |a| < T -> 0
        Check("cnv_chain", f"zero-skip(T) = dense(|a|<T to 0), free T ({CNV_BUILD}, "
              f"{CNV_W_STALLS} window, stalls)", CNV_T, "bmc", CNV_DEPTH[CNV_W_STALLS], params=s),
        Check("cnv_chain", f"zero-skip = dense, no later ({CNV_W_LIVE} windows, live)", live,
              "bmc", CNV_DEPTH[CNV_W_LIVE], params=s, live=True),
        # no input held-beat covers: out of reach in this environment (formal/cnv.py)
        Check("cnv_chain", f"cover (zero-skip = dense, {CNV_W_LIVE} windows)", live, "cover",
              CNV_DEPTH[CNV_W_LIVE], params=s, stalls=False),
        Check("cnv_chain", f"cover (free T, {CNV_W_STALLS} window)", CNV_T, "cover",
              CNV_DEPTH[CNV_W_STALLS], params=s, stalls=False),
    ]


def _anti_vacuity():
    """Broken designs: each of these must FAIL, or the property could not fail at all."""
    lb = SMALL_PARAMS["rlc_loopback"]
    return [
        Check("rlc_encoder", "MUTANT tdata changes while held", stream_rules, "bmc", 8,
              mutate=mutants.corrupt_held_data("m_axis"), expect="FAIL", fast=True),
        Check("rlc_decoder", "MUTANT first value dropped", rlc.decoder_count, "bmc", 8,
              mutate=mutants.drop_first_beat("m_axis"), expect="FAIL"),
        Check("rlc_decoder", "MUTANT error does not stick", rlc.decoder_error, "bmc", 14,
              mutate=mutants.leaky_error, expect="FAIL"),
        Check("rlc_decoder", "MUTANT bubble after every value", rlc.decoder_live, "bmc", 8,
              live=True, mutate=mutants.slow_output("m_axis"), expect="FAIL"),
        Check("rlc_loopback", "MUTANT first value dropped",
              rlc.loopback_roundtrip(1, rlc.MAX_LEN, 24), "bmc", 12, params=lb,
              mutate=mutants.drop_first_beat("m_axis"), expect="FAIL"),
        Check("rlc_loopback", "MUTANT value 33 of a tensor lost", rlc.loopback_long_runs(
              *LONG, LONG_FREE), "bmc", LONG_DEPTH, params=lb, live=True,
              mutate=mutants.zero_value_at("m_axis", 32), expect="FAIL"),
        Check("csr_spmv", "MUTANT y changes while held", stream_rules, "bmc", 10,
              params=SMALL_PARAMS["csr_spmv"], mutate=mutants.corrupt_held_data("m_axis_y"),
              expect="FAIL"),
        Check("csr_spmv", "MUTANT first y dropped", csr.csr_golden, "bmc", 10,
              params=SMALL_PARAMS["csr_spmv"], mutate=mutants.drop_first_beat("m_axis_y"),
              expect="FAIL"),
        Check("sparse_mac", "MUTANT indices swapped", nm.narrow_values(NM_BITS), "bmc",
              4 + nm_latency("dsp"),
              params=SMALL_PARAMS["sparse_mac"], mutate=nm.swap_indices, expect="FAIL",
              fast=True),
        Check("sparse_mac", "MUTANT index off by one (1:4)", nm.narrow_values(NM_BITS), "bmc",
              4 + nm_latency("dsp"), params=NM_14, mutate=nm.shift_index, expect="FAIL"),
        Check("sparse_mac", "MUTANT groups' metadata swapped (G=2)",
              nm.narrow_values(NM_G2_BITS), "bmc", 4 + nm_latency("lut"), params=NM_G2,
              mutate=nm.swap_group_meta, expect="FAIL"),
        Check("cnv_chain", "MUTANT zero-skip drops |a| < 2", CNV_T, "bmc",
              CNV_DEPTH[CNV_W_STALLS],
              params=cnv.SMALL, mutate=cnv.drop_small_values, expect="FAIL"),
        Check("cnv_chain", "MUTANT threshold drops |a| <= T", CNV_T, "bmc",
              CNV_DEPTH[CNV_W_STALLS], params=cnv.SMALL, mutate=cnv.threshold_off_by_one,
              expect="FAIL"),
    ]


def all_checks():
    return _generic() + _rlc() + _csr() + _nm_mac() + _cnv() + _anti_vacuity()


def fast_checks():
    """Seconds each: what ``make test`` runs (tests/test_formal.py)."""
    return [c for c in all_checks() if c.fast]
