"""Bit-exact model of the N:M structured-sparse MAC (2:4 by default) and its dense twin.

The MAC computes one dot product ``Σ w[k]·a[k]`` per frame of input beats.  Weights come
compressed in the :mod:`golden.sparse24` format (``n`` stored values per group of ``m``,
with ``log2(m)``-bit in-group indices); the activations stay dense.

Arithmetic
----------
* Weights and activations are signed ``width``-bit integers, ``width`` 8 or 16; each
  product is exact.
* The accumulator is ``acc_width`` bits (``2·width`` .. 64; 32 for int8 by default), signed,
  0 at the start of every dot product, ``overflow`` "wrap" or "saturate" through
  :mod:`golden.accumulate`.
* One accumulation *step* per weight beat: the exact sum of that beat's ``n·groups``
  products (the sparse unit's multipliers), or ``m·groups`` products for the dense twin.
  In saturate mode the clamp follows every step, so the grouping is part of the result.

Stream packing (defined here once; ``hw/nm_mac.py`` reads its offsets from :class:`NMConfig`)
----------------------------------------------------------------------------------------
``VF = width`` (8 or 16, a whole number of bytes), ``b = log2(m)``, ``G = groups``.

* ``w`` beat of the sparse unit, ``w_width`` = the bits below rounded up to a byte:

  - bits ``[0, n·G·VF)``: the stored values, slot ``s = g·n + j`` (group ``g`` of the beat,
    value ``j`` of the group) at bit ``s·VF``, two's complement;
  - bits ``[meta_at, meta_at + G·n·b)``, ``meta_at = n·G·VF``: the metadata of the beat's
    ``G`` groups laid out exactly as :func:`golden.sparse24.pack_meta` lays out consecutive
    groups (group ``g`` at ``g·n·b``, index ``j`` at ``b·j`` inside it), so a beat's
    metadata is a plain bit slice of a row's exported ``meta_words``;
  - bit ``mode_at = meta_at + G·n·b``: the *mode*, 0 sparse, 1 dense fallback; sampled on
    the first beat of each dot product (a later beat with the other mode is flagged);
  - any higher bits (byte padding) are ignored.

* ``a`` beat (both units): ``m·G`` activations, slot ``p = g·m + i`` at bit ``p·VF``; one
  beat covers the ``m·G`` consecutive reduction positions of the beat's groups.
* ``w`` beat of the dense twin: ``m·G`` weights laid out like ``a``.
* ``o`` beat: the result, ``acc_width`` bits sign-extended to :func:`byte_width` of it.

Sparse mode pairs every ``w`` beat with one ``a`` beat.  Dense fallback sends a chunk of
``m·G`` dense weights as ``m/n`` ``w`` beats (*phases*) against one ``a`` beat: in phase
``t`` slot ``(g, j)`` carries the weight at in-group position ``t·n + j``, i.e. the index the
metadata would hold is implied.  The ``a`` beat is released with the chunk's last phase or
with the frame's last ``w`` beat, whichever comes first.  So dense fallback runs at ``n/m``
of the sparse rate (a 2:4 unit takes two cycles per dense group).

Bad input (:func:`mac_beats` gives the exact result and flag for any beat words)
-------------------------------------------------------------------------------
* sparse-mode metadata whose indices within a group are not strictly ascending (duplicate
  or out of order): flagged; the multiplexers still select what the indices say, so the
  result is the literal ``Σ value·a[index]``;
* a ``w`` beat whose mode bit differs from the frame's first beat: flagged; the beat is
  computed in the frame's mode;
* an index ``>= m`` cannot be encoded in ``b`` bits, so no beat can carry one;
  :func:`pack_sparse` refuses it (ValueError) and :func:`mac_groups`, which takes unpacked
  indices, flags it and lets that slot contribute 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import accumulate, sparse24
from .bits import byte_width, check_int, to_signed

__all__ = ["NMConfig", "SPARSE", "DENSE", "pack_sparse", "pack_dense_fallback",
           "pack_dense", "pack_acts", "mac_beats", "dense_beats", "mac_groups",
           "beats_sparse", "beats_dense_fallback", "frame_cycles", "storage_bits_per_group",
           "to_signed"]

SPARSE, DENSE = 0, 1


@dataclass(frozen=True)
class NMConfig:
    """Parameters of one MAC build and the stream layout they imply (checked on creation)."""
    n: int = 2
    m: int = 4
    groups: int = 4
    width: int = 8
    acc_width: int = 32
    overflow: str = "wrap"

    @classmethod
    def of_build(cls, params) -> "NMConfig":
        """The format of a hardware build from its parameters (``hw.blocks`` registry):
        the fields above; the rest (how the build multiplies) do not change the format.
        A dense twin's build has no ``n``: the default 2:4's stands for it unless given."""
        fields = {f: params[f] for f in cls.__dataclass_fields__ if f in params}
        return cls(**fields)

    def __post_init__(self):
        m = check_int("m", self.m, 2, 16)
        if m & (m - 1):
            raise ValueError(f"m must be a power of two (2, 4, 8 or 16), not {m}")
        n = check_int("n", self.n, 1, m - 1)
        if m % n:
            raise ValueError(f"n must divide m (dense fallback takes m/n beats per group), "
                             f"not n={n}, m={m}")
        check_int("groups", self.groups, 1, 32)
        if isinstance(self.width, bool) or self.width not in (8, 16):
            raise ValueError(f"width must be 8 or 16, not {self.width!r}")
        check_int("acc_width", self.acc_width, 2 * self.width, 64)
        accumulate.check_overflow(self.overflow)

    # ------------------------------------------------------------------ layout
    @property
    def b(self):                 # index bits
        return sparse24.index_bits(self.m)

    @property
    def lanes(self):             # multipliers of the sparse unit
        return self.n * self.groups

    @property
    def span(self):              # dense positions (activations) per beat
        return self.m * self.groups

    @property
    def phases(self):            # w beats per dense chunk in dense fallback
        return self.m // self.n

    @property
    def meta_word_bits(self):    # widest multiple of a group's field up to 32 (32 for 2:4)
        field = self.n * self.b
        return 32 // field * field

    @property
    def meta_at(self):
        return self.lanes * self.width

    @property
    def mode_at(self):
        return self.meta_at + self.lanes * self.b

    @property
    def w_width(self):
        return byte_width(self.mode_at + 1)

    @property
    def a_width(self):
        return self.span * self.width

    @property
    def o_width(self):
        return byte_width(self.acc_width)


# ---------------------------------------------------------------------- packing

def _field(values, width):
    """Little-end-first concatenation of two's-complement ``width``-bit fields."""
    word, mask = 0, (1 << width) - 1
    for k, v in enumerate(values):
        word |= (int(v) & mask) << (k * width)
    return word


def _check_range(name, arr, width):
    arr = np.asarray(arr)
    if arr.size and (arr.dtype.kind not in "iu" or int(arr.min()) < -(1 << (width - 1))
                     or int(arr.max()) >= 1 << (width - 1)):
        raise ValueError(f"{name} must be signed {width}-bit integers")
    return arr.astype(np.int64)


def _chunks(x, size):
    """``x`` (1-D) zero-padded to a multiple of ``size``, as rows of ``size``."""
    x = np.asarray(x, dtype=np.int64).reshape(-1)
    pad = -len(x) % size
    if len(x) == 0:
        pad = size                      # an empty dot product still sends one beat
    return np.concatenate((x, np.zeros(pad, np.int64))).reshape(-1, size)


def pack_sparse(values, meta_words, cfg: NMConfig, *, word_bits=None, mode=SPARSE):
    """The ``w`` beats of one dot product from one row of an N:M export.

    ``values``: the row's stored values, shape ``(groups, n)``; ``meta_words``: the row's
    packed metadata words exactly as :func:`golden.sparse24.pack_meta` writes them
    (``word_bits`` wide, default :attr:`NMConfig.meta_word_bits`, 32 for 2:4 as pruning
    exports them; the row starts on a fresh word).  Beat ``k`` takes groups
    ``k·G .. k·G+G-1``: its values and the matching bit slice of the words.  A row whose
    group count is not a multiple of ``G`` is completed with canonical all-zero groups
    (values 0, indices ``0..n-1``).  ``mode`` goes into every beat (for tests of the mode
    check).  Returns a list of Python ints.
    """
    values = _check_range("values", values, cfg.width)
    if values.ndim != 2 or values.shape[1] != cfg.n:
        raise ValueError(f"values must have shape (groups, {cfg.n}), not {values.shape}")
    field = cfg.n * cfg.b
    word_bits = cfg.meta_word_bits if word_bits is None else word_bits
    if word_bits % field or not 0 < word_bits <= 64:
        raise ValueError(f"word_bits must be a multiple of {field} in (0, 64], not {word_bits}")
    ngroups = values.shape[0]
    per = word_bits // field
    words = [int(w) for w in np.asarray(meta_words, dtype=np.uint64).reshape(-1)]
    if len(words) != -(-ngroups // per):
        raise ValueError(f"{len(words)} meta words for {ngroups} groups; expected "
                         f"{-(-ngroups // per)} of {word_bits} bits")
    bits = 0
    for k, w in enumerate(words):
        if w >> word_bits:
            raise ValueError(f"meta word {k} is wider than {word_bits} bits")
        bits |= (w & ((1 << (per * field)) - 1)) << (k * per * field)
    if bits >> (ngroups * field):
        raise ValueError("meta words have bits set beyond the row's last group")
    canonical = _field(range(cfg.n), cfg.b)
    nbeats = max(1, -(-ngroups // cfg.groups))
    for g in range(ngroups, nbeats * cfg.groups):
        bits |= canonical << (g * field)
    vals = np.zeros((nbeats * cfg.groups, cfg.n), np.int64)
    vals[:ngroups] = values
    beat_meta = cfg.groups * field
    return [_field(vals[k * cfg.groups:(k + 1) * cfg.groups].reshape(-1), cfg.width)
            | (((bits >> (k * beat_meta)) & ((1 << beat_meta) - 1)) << cfg.meta_at)
            | (mode << cfg.mode_at) for k in range(nbeats)]


def pack_dense_fallback(dense_w, cfg: NMConfig):
    """The ``w`` beats of a dense (unpruned) dot product for the sparse unit's dense
    fallback: per chunk of ``m·G`` weights, ``m/n`` phases, phase ``t`` slot ``(g, j)`` =
    weight ``g·m + t·n + j`` of the chunk; mode bit set, metadata bits zero."""
    chunks = _chunks(_check_range("dense weights", dense_w, cfg.width), cfg.span)
    beats = []
    for chunk in chunks.reshape(-1, cfg.groups, cfg.phases, cfg.n):
        for t in range(cfg.phases):
            beats.append(_field(chunk[:, t, :].reshape(-1), cfg.width) | (DENSE << cfg.mode_at))
    return beats


def pack_dense(dense_w, cfg: NMConfig):
    """The ``w`` beats of the dense twin: chunks of ``m·G`` weights, natural order."""
    chunks = _chunks(_check_range("dense weights", dense_w, cfg.width), cfg.span)
    return [_field(c, cfg.width) for c in chunks]


def pack_acts(acts, cfg: NMConfig):
    """The ``a`` beats (both units, both modes): chunks of ``m·G`` activations."""
    chunks = _chunks(_check_range("activations", acts, cfg.width), cfg.span)
    return [_field(c, cfg.width) for c in chunks]


def _unfield(word, count, width):
    return [to_signed(word >> (k * width), width) for k in range(count)]


# ------------------------------------------------------------------------- model

def mac_beats(w_beats, a_beats, cfg: NMConfig):
    """What the sparse unit outputs for one dot product: ``(result, error)``.

    ``w_beats``: the frame's ``w`` words (the last one carries ``tlast``); ``a_beats``: the
    ``a`` words it consumes, which must be exactly as many as the unit takes (one per
    sparse beat; one per ``m/n`` dense phases, or fewer at the frame's end), else
    ValueError: that is a driver mistake the hardware answers by waiting.  Any metadata
    is accepted and computed literally (see the module docstring).  Python loop: meant
    for test-sized frames.
    """
    w_beats = [int(w) for w in w_beats]
    if not w_beats:
        raise ValueError("a dot product has at least one w beat")
    mode = (w_beats[0] >> cfg.mode_at) & 1
    error, acc, a_used, phase = False, 0, 0, 0
    for k, w in enumerate(w_beats):
        error |= ((w >> cfg.mode_at) & 1) != mode
        if a_used >= len(a_beats):
            raise ValueError(f"w beat {k} has no a beat left ({len(a_beats)} given)")
        acts = _unfield(int(a_beats[a_used]), cfg.span, cfg.width)
        vals = _unfield(w, cfg.lanes, cfg.width)
        total = 0
        for g in range(cfg.groups):
            if mode == SPARSE:
                idx = _unfield_u(w >> (cfg.meta_at + g * cfg.n * cfg.b), cfg.n, cfg.b)
                error |= any(idx[j] >= idx[j + 1] for j in range(cfg.n - 1))
            else:
                idx = [phase * cfg.n + j for j in range(cfg.n)]
            total += sum(vals[g * cfg.n + j] * acts[g * cfg.m + idx[j]] for j in range(cfg.n))
        acc = accumulate.step(acc, total, acc_width=cfg.acc_width, overflow=cfg.overflow)
        phase = phase + 1 if mode == DENSE and phase + 1 < cfg.phases else 0
        if phase == 0 or k == len(w_beats) - 1:
            a_used += 1
    if a_used != len(a_beats):
        raise ValueError(f"{len(a_beats)} a beats given, the frame consumes {a_used}")
    return acc, error


def _unfield_u(word, count, width):
    return [(word >> (k * width)) & ((1 << width) - 1) for k in range(count)]


def dense_beats(w_beats, a_beats, cfg: NMConfig):
    """What the dense twin outputs for one dot product (one ``a`` beat per ``w`` beat):
    ``(result, False)``; one step per beat of ``m·G`` products."""
    if not len(w_beats) or len(w_beats) != len(a_beats):
        raise ValueError(f"the dense twin pairs w and a beats one to one, not "
                         f"{len(w_beats)} with {len(a_beats)}")
    acc = 0
    for w, a in zip(w_beats, a_beats):
        total = sum(x * y for x, y in zip(_unfield(int(w), cfg.span, cfg.width),
                                          _unfield(int(a), cfg.span, cfg.width)))
        acc = accumulate.step(acc, total, acc_width=cfg.acc_width, overflow=cfg.overflow)
    return acc, False


def mac_groups(values, meta, acts, cfg: NMConfig):
    """Sparse mode on unpacked arrays: ``values``/``meta`` of shape ``(groups, n)`` (any
    integers; an index outside ``[0, m)`` contributes 0), ``acts`` of ``groups·m``
    (zero-padded to whole beats).  Returns ``(result, error)`` with the beat grouping of
    the hardware; vectorised, for long rows."""
    values = np.asarray(values, dtype=np.int64).reshape(-1, cfg.n)
    meta = np.asarray(meta, dtype=np.int64).reshape(-1, cfg.n)
    ngroups = values.shape[0]
    nbeats = max(1, -(-ngroups // cfg.groups))
    acts = _chunks(acts, cfg.span).reshape(-1, cfg.m)
    if meta.shape != values.shape or acts.shape[0] != nbeats * cfg.groups:
        raise ValueError(f"values {values.shape}, meta {meta.shape} and {acts.size} "
                         f"activations do not describe one row")
    inside = (meta >= 0) & (meta < cfg.m)
    error = bool((~inside).any()) or bool((np.diff(meta, axis=1) <= 0).any())
    picked = np.take_along_axis(acts[:ngroups], np.where(inside, meta, 0), axis=1)
    prods = np.zeros(nbeats * cfg.groups, dtype=object)
    prods[:ngroups] = (values * picked * inside).sum(axis=1)
    steps = prods.reshape(nbeats, cfg.groups).sum(axis=1)
    return accumulate.accumulate(steps, acc_width=cfg.acc_width, overflow=cfg.overflow), error


# ------------------------------------------------------------------- cycle model

def beats_sparse(k, cfg: NMConfig):
    """``w`` beats of a dot product over ``k`` dense positions in sparse mode (twin alike)."""
    return max(1, -(-int(k) // cfg.span))


def beats_dense_fallback(k, cfg: NMConfig):
    """``w`` beats of the same dot product in the sparse unit's dense fallback."""
    return beats_sparse(k, cfg) * cfg.phases


def frame_cycles(beats, latency):
    """Cycles from the first ``w`` transfer to the final result's transfer, nothing
    stalled, for back-to-back dot products totalling ``beats`` ``w`` beats: every beat
    takes one clock and the pipeline adds ``latency`` (the hardware's figure, passed in)."""
    return int(beats) + int(latency)


def storage_bits_per_group(cfg: NMConfig):
    """``(sparse, dense)`` bits per group of ``m`` weights: ``n·(width + b)`` against
    ``m·width`` (as :func:`golden.sparse24.storage_bits`)."""
    return (sparse24.storage_bits((cfg.m,), cfg.width, n=cfg.n, m=cfg.m), cfg.m * cfg.width)
