"""The integer network and its golden model: int8 weights and activations, int32
accumulation, requantisation in software between the hardware layers.

Quantisation
------------
* Input: pixels are integers 0..16, the float input is ``pixel / 16`` and the int8 input
  is ``7 · pixel`` (0..112), i.e. scale ``s_0 = 1/112``: exact, no rounding.
* Weights: symmetric per-tensor int8 (:func:`pruning.quant.quantize`, ``|q| <= 127``,
  round half to even), scale ``s_w = max|w| / 127``; pruned weights stay 0.
* Activations after each hidden layer: scale ``s_out = P99.99(float activation on the
  training images) / 127``, values 0..127 after ReLU.

Requantisation (:class:`Requant`, software, between two hardware layers)
-----------------------------------------------------------------------
The block returns the int32 accumulator ``acc = Σ q_w · q_a`` (exact: every layer's
``max_f Σ_k |q_w| · 127 < 2³¹`` is checked, so wrap never happens).  Then::

    t   = acc + bias_q                    bias_q = round_half_even(b / (s_in · s_w)), int32
    y   = (t · M + 2^(S-1)) >> S          M / 2^S ≈ s_in · s_w / s_out, M in [2^14, 2^15)
    out = clip(y, 0, 127)                 (ReLU and int8 saturation in one clamp)

``>>`` is an arithmetic shift (floor), so adding ``2^(S-1)`` first rounds half up.  The
last layer (fc3) is not requantised: its logits are ``acc + bias_q`` and the prediction
is the first index of the maximum.  An optional Cnvlutin threshold ``T`` zeroes conv2's
input activations with ``|a| < T`` (:func:`golden.cnv.apply_threshold`).

Golden model (:class:`GoldenNet`)
---------------------------------
Each layer computed by its block's golden model with the build's parameters:
:func:`golden.cnv.unit_window` on the ZFNAf lane streams (conv1, conv2),
:func:`golden.rlc.encode` / :func:`golden.rlc.decode` (the activations into fc1),
:func:`golden.csr.spmv` (fc1), :func:`golden.nm_mac.mac_groups` (fc2, 2:4) and
:func:`golden.nm_mac.mac_beats` on the dense-fallback beats (fc3); plus each block's
cycle model for the same data and for the dense baseline.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from golden import cnv, nm_mac, rlc, sparse24, zfnaf
from golden import csr as gcsr
from pruning.quant import quantize

from .net import ConvNet, im2col

__all__ = ["Requant", "IntNet", "GoldenNet", "IN_SCALE", "quantize_input", "BLOCK_PARAMS"]

IN_SCALE = 1.0 / 112
QMAX = 127

# The one build of each block the flow uses (a model is built once per configuration).
BLOCK_PARAMS = {
    "cnv_unit": {},                                   # 4 lanes, 16 filters, bricks of 16
    "csr_spmv": {"lanes": 4, "value_width": 8, "x_width": 8, "col_width": 8,
                 "row_width": 16, "max_cols": 256, "max_rows": 64},
    "sparse_mac": {},                                 # 2:4, 4 groups, int8, int32
    "rlc_loopback": {},
}


def quantize_input(x) -> np.ndarray:
    """Images ``x`` (``pixel / 16`` floats) as int8 ``7 · pixel``, ``(N, 8, 8, 1)``."""
    q = np.rint(np.asarray(x, dtype=np.float64) * 16).astype(np.int64) * 7
    return q.reshape(-1, 8, 8, 1)


@dataclass(frozen=True)
class Requant:
    """``clip((acc + bias) · mult + 2^(shift-1) >> shift, 0, 127)``; see the module docstring."""
    mult: int
    shift: int
    bias: np.ndarray

    @classmethod
    def make(cls, real: float, bias_q) -> "Requant":
        e = math.floor(math.log2(real))
        shift = 14 - e
        if not 1 <= shift <= 62:
            raise ValueError(f"requantisation multiplier {real} is out of range")
        return cls(int(round(real * 2 ** shift)), shift, np.asarray(bias_q, dtype=np.int64))

    def __call__(self, acc) -> np.ndarray:
        a = np.asarray(acc, dtype=np.int64)      # channels innermost (NHWC, or flattened)
        t = (a.reshape(*a.shape[:-1], -1, self.bias.size) + self.bias).reshape(a.shape)
        y = (t * self.mult + (1 << (self.shift - 1))) >> self.shift
        return np.clip(y, 0, QMAX)

    def describe(self) -> str:
        return f"x{self.mult} >> {self.shift}"


@dataclass
class IntLayer:
    name: str
    q: np.ndarray          # int8 weight in its own shape (conv OHWI)
    w_scale: float
    in_scale: float
    out_scale: float
    bias_q: np.ndarray
    requant: Requant | None   # None for the logits layer

    @property
    def matrix(self) -> np.ndarray:
        return self.q.reshape(self.q.shape[0], -1).astype(np.int64)


class IntNet:
    """The quantised network built from a trained (pruned) :class:`ConvNet`."""

    def __init__(self, model: ConvNet, x_calib, threshold: int = 0):
        self.threshold = int(threshold)
        _, cache = model.forward(x_calib, keep=True)
        s_in, self.layers = IN_SCALE, {}
        for name in ("conv1", "conv2", "fc1", "fc2", "fc3"):
            qz = quantize(model.params[f"{name}.weight"], bits=8, per="tensor", name=name)
            s_w = float(qz.scale)
            bias_q = np.rint(model.params[f"{name}.bias"] / (s_in * s_w)).astype(np.int64)
            if name == "fc3":
                s_out, rq = 1.0, None
            else:
                act = np.maximum(cache[name][2], 0.0)
                s_out = float(np.percentile(act, 99.99)) / QMAX
                rq = Requant.make(s_in * s_w / s_out, bias_q)
            mat = qz.q.reshape(qz.q.shape[0], -1).astype(np.int64)
            bound = int(np.abs(mat).sum(axis=1).max()) * QMAX + int(np.abs(bias_q).max())
            if bound >= 1 << 31:
                raise ValueError(f"{name}: an int32 accumulator could overflow ({bound})")
            self.layers[name] = IntLayer(name, qz.q, s_w, s_in, s_out, bias_q, rq)
            s_in = s_out

    def conv1_windows(self, q0):
        """conv1's input windows ``(N·36, 9)`` from int8 images ``(N, 8, 8, 1)``."""
        return im2col(q0).reshape(-1, 9)

    def conv2_input(self, acc1, n):
        """Requantised (and thresholded) conv1 output ``(N, 6, 6, 16)``."""
        a = self.layers["conv1"].requant(np.asarray(acc1).reshape(n, 6, 6, -1))
        return cnv.apply_threshold(a, self.threshold)

    def forward_exact(self, x):
        """Logits by plain int64 matrix products (the fast cross-check of :class:`GoldenNet`)."""
        q0 = quantize_input(x)
        n = q0.shape[0]
        acc = self.conv1_windows(q0) @ self.layers["conv1"].matrix.T
        a = self.conv2_input(acc, n)
        acc = im2col(a).reshape(n * 16, -1) @ self.layers["conv2"].matrix.T
        a = self.layers["conv2"].requant(acc.reshape(n, -1))
        for name in ("fc1", "fc2"):
            a = self.layers[name].requant(a @ self.layers[name].matrix.T)
        return a @ self.layers["fc3"].matrix.T + self.layers["fc3"].bias_q


# ----------------------------------------------------------------------- golden model

class GoldenNet:
    """Layer by layer with the golden block models (see the module docstring).  Each
    method returns the raw accumulators and the cycle figures of the block."""

    def __init__(self, net: IntNet, params: dict):
        self.net, self.p = net, params
        from hw.csr_spmv import CSRSpMV
        from hw.nm_mac import LATENCY
        self._csr_cycles, self._nm_latency = CSRSpMV.cycles, LATENCY
        self.nm_cfg = nm_mac.NMConfig.of_build({**_defaults("sparse_mac"), **params["sparse_mac"]})

    def cnv(self, windows, w):
        """``(acc (M, F), steps (M,), dense steps per window)`` of windows ``(M, K)``."""
        p = {**_defaults("cnv_unit"), **self.p["cnv_unit"]}
        kw = dict(lanes=p["lanes"], brick=p["brick"], value_width=p["value_width"])
        acc, steps = [], []
        for a in windows:
            streams = cnv.window_streams(a, **kw)
            out, err, st = cnv.unit_window(streams, w, acc_width=p["acc_width"],
                                           overflow=p["overflow"], **kw)
            assert not err
            acc.append(out)
            steps.append(st)
        dense = cnv.window_steps(cnv.window_streams(windows[0], dense=True, **kw))
        return np.array(acc), np.array(steps), dense, cnv.unit_latency(p["lanes"])

    def rlc(self, acts):
        """``(values back, words per image)`` through the RLC code of each image."""
        words = [rlc.encode(a) for a in acts]
        back = np.array([rlc.decode(wd, acts.shape[1], signed=True) for wd in words])
        return back, np.array([len(wd) for wd in words])

    def csr(self, acts, q):
        p = {**_defaults("csr_spmv"), **self.p["csr_spmv"]}
        c = gcsr.from_dense(q)
        acc = np.array([gcsr.spmv(c, x, value_width=p["value_width"], x_width=p["x_width"],
                                  acc_width=p["acc_width"], overflow=p["overflow"],
                                  lanes=p["lanes"]) for x in acts])
        per = self._csr_cycles(gcsr.row_lengths(c), p["lanes"]) + q.shape[1]
        dense = self._csr_cycles([q.shape[1]] * q.shape[0], p["lanes"]) + q.shape[1]
        return acc, per, dense

    def nm_sparse(self, acts, q):
        cfg = self.nm_cfg
        values, meta = sparse24.compress(np.pad(q, ((0, 0), (0, -q.shape[1] % 4))))
        acc = np.array([[mac_ok(nm_mac.mac_groups(values[r], meta[r], x, cfg))
                         for r in range(q.shape[0])] for x in acts])
        beats = q.shape[0] * nm_mac.beats_sparse(q.shape[1], cfg)
        dense = q.shape[0] * nm_mac.beats_dense_fallback(q.shape[1], cfg)
        return acc, beats, dense

    def nm_dense(self, acts, q):
        cfg = self.nm_cfg
        rows = [nm_mac.pack_dense_fallback(r, cfg) for r in q]
        acc = np.array([[mac_ok(nm_mac.mac_beats(r, nm_mac.pack_acts(x, cfg), cfg))
                         for r in rows] for x in acts])
        beats = sum(len(r) for r in rows)
        return acc, beats, beats

    def zfnaf_bits(self, acts):
        """Storage bits of ``acts`` ``(N, H, W, C)`` in ZFNAf (bricks along C), per image."""
        brick = {**_defaults("cnv_unit"), **self.p["cnv_unit"]}["brick"]
        return np.array([zfnaf.storage_bits(a.shape, int(np.count_nonzero(a)), 8, axis=-1,
                                            brick=brick) for a in acts])


def mac_ok(result):
    value, error = result
    assert not error
    return value


def _defaults(block):
    from hw.blocks import get_block
    return get_block(block).defaults
