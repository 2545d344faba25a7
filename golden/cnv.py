"""Golden model of the Cnvlutin zero-skip unit (Albericio et al., ISCA 2016): stream
packing, threshold, the exact outputs and ``error`` on any input, and the cycle model.

Window, bricks and lanes
------------------------
A *window* is ``K`` activations ``a[0..K-1]`` (the channel axis of one output position)
and ``F`` filters ``w[f][0..K-1]``; the unit computes ``out[f] = Σ_i a[i]·w[f][i]``.
The window splits into ``nb = ceil(K / B)`` bricks of ``B`` activations (brick ``j`` covers
``[j·B, min((j+1)·B, K))``: the ZFNAf bricks of :mod:`golden.zfnaf` with ``C = K``), and
brick ``j`` belongs to lane ``j mod L``.  A lane with no brick (``L > nb``) sends one
*null brick* (an empty beat) so that every lane has a ``tlast`` in every window.

Lane stream word (``VF = byte_width(value_width)``; ``data`` is ``VF + 8`` bits)
-------------------------------------------------------------------------------
====================  =================================================================
bits                  field
====================  =================================================================
``[0, VF)``           activation value, two's complement, sign-extended from value_width
``[VF, VF+6)``        offset inside the brick (so ``B <= 64``)
``VF+6``              EMPTY: the beat carries no activation (an all-zero brick)
``VF+7``              END: the last beat of its brick
``tlast``             the last beat of the lane's last brick of the window
====================  =================================================================

The low ``VF + log2(B)`` bits of an entry are exactly the ``entries`` words that
``python -m pruning export --format zfnaf`` writes (value in the low ``bits``, offset
above it); :func:`streams_from_zfnaf` adds END from the brick counts.  A brick with ``n``
non-zeros is ``n`` beats (END on the last), an all-zero brick one EMPTY|END beat.  In
*dense* mode (the baseline) every activation of a brick is a beat, zeros included.

Threshold
---------
``|a| < T`` becomes 0 before encoding (:func:`apply_threshold`); ``T = 0`` keeps all.

Exact behaviour (:func:`unit_window`), any input
------------------------------------------------
Lanes advance in lock step: *step* ``s`` of a window takes beat ``s`` of every lane that
has not yet had its ``tlast``; a window has ``max_k beats_k`` steps.  A beat of lane
``k`` in its brick ``j`` (``j = k, k+L, ...``, counted by END beats; base ``j·B``):

* an entry with offset ``o`` contributes ``a·w[f][j·B + o]`` unless it is *bad*:
  ``o >= B``, ``j·B + o >= K`` (outside the brick, or a brick beyond the window), ``o``
  not above the previous entry's offset in the brick (offsets not strictly increasing,
  which also catches a brick of more than ``B`` entries), or a value that is not a sign
  extension of ``value_width`` bits; a bad entry contributes 0 and sets ``error``;
* an EMPTY beat contributes 0 and always ends its brick; it sets ``error`` unless it has
  END, is the first beat of its brick, and the brick exists (``j·B < K``) or is the
  lane's null brick (first brick, ``k·B >= K``);
* the ``tlast`` beat sets ``error`` unless it ends its brick (END or EMPTY) and the lane
  owes no further brick (``(j + L)·B >= K``).

Step ``s`` adds, per filter, the exact sum of all lanes' products of that step; the
``acc_width``-bit signed accumulator starts at 0 per window and after every step wraps
or saturates (:func:`golden.accumulate.step`).  Each window yields ``F`` outputs and one
``error`` flag; the next window starts clean.  Weights come from the last load
(:func:`weight_words` packs it, :func:`load_weights` reads any load back, bad beats
included, and its ``bad`` flag joins every window's ``error`` until the next load);
before any load ``K = 0``.

Cycle model (nothing stalled)
-----------------------------
One step per clock, lanes synchronised per *window* (not per brick): a window costs
``max_k beats_k`` cycles, an all-zero brick exactly one (its EMPTY beat), back-to-back
windows add nothing.  From the first lane transfer of a run of windows to its last
output transfer: ``Σ steps + latency`` cycles, ``latency = unit_latency(lanes)``.
"""
from __future__ import annotations

import numpy as np

from .accumulate import check_acc_width, check_overflow, step as acc_step
from .bits import byte_width, check_int, to_signed

__all__ = ["OFFSET_FIELD", "EMPTY", "END", "check_brick", "unit_latency", "ENCODER_LATENCY",
           "chain_latency", "apply_threshold",
           "lane_bricks", "pack_entry", "unpack_entry", "brick_beats", "window_streams",
           "encoder_words", "encoder_output", "streams_from_zfnaf", "weight_words", "load_weights",
           "unit_window", "run_windows", "window_steps", "run_cycles", "reference",
           "encoder_cycles"]

OFFSET_FIELD = 6          # offset bits in the lane word: bricks up to 64
EMPTY = 1 << 6            # flags, in the byte above the value field
END = 1 << 7


def check_brick(brick) -> int:
    if isinstance(brick, bool) or not isinstance(brick, (int, np.integer)):
        raise TypeError(f"brick must be an integer, not {brick!r}")
    if brick < 2 or brick > 64 or brick & (brick - 1):
        raise ValueError(f"brick must be a power of two in [2, 64], not {brick}")
    return int(brick)


def unit_latency(lanes: int) -> int:
    """Cycles from a window's final step to its output transfer: the taken beats
    registered (a step acts one clock after it is decided), memory address register,
    memory read, weight register (in the RAM, then in the fabric), two product stages,
    the lane adder tree (one registered level per clock: ``log2(lanes)``), accumulate,
    the window's sums registered, the output queue, the output register slice."""
    return 10 + (int(lanes) - 1).bit_length()


def apply_threshold(acts, threshold: int) -> np.ndarray:
    """``acts`` (integers) with every ``|a| < threshold`` set to 0."""
    a = np.asarray(acts, dtype=np.int64)
    t = check_int("threshold", threshold, 0, 1 << 32)
    return np.where(np.abs(a) < t, 0, a)


def lane_bricks(k_len: int, lanes: int, brick: int) -> list[list[int]]:
    """Brick indices of each lane for a window of ``k_len`` activations (``[]``: null brick)."""
    nb = -(-int(k_len) // brick)
    return [list(range(k, nb, lanes)) for k in range(lanes)]


def pack_entry(value: int, offset: int, *, value_width: int, end: bool = False,
               empty: bool = False) -> int:
    """One lane word (see the module docstring)."""
    vf = byte_width(value_width)
    return ((int(value) & ((1 << vf) - 1)) | (int(offset) & 0x3F) << vf
            | (EMPTY if empty else 0) << vf | (END if end else 0) << vf)


def unpack_entry(word: int, value_width: int):
    """``(value, offset, empty, end, fits)``: ``fits`` says whether the value field is a
    sign extension of ``value_width`` bits."""
    vf = byte_width(value_width)
    field = to_signed(int(word), vf)
    flags = int(word) >> vf
    fits = -(1 << (value_width - 1)) <= field < (1 << (value_width - 1))
    return field, flags & 0x3F, bool(flags & EMPTY), bool(flags & END), fits


def brick_beats(values, *, value_width: int, dense: bool = False) -> list[int]:
    """The beats of one brick (its activations, already thresholded)."""
    values = [int(v) for v in values]
    idx = list(range(len(values))) if dense else [i for i, v in enumerate(values) if v]
    if not idx:
        return [pack_entry(0, 0, value_width=value_width, end=True, empty=True)]
    return [pack_entry(values[i], i, value_width=value_width, end=n == len(idx) - 1)
            for n, i in enumerate(idx)]


def window_streams(acts, *, lanes: int, brick: int = 16, value_width: int = 8,
                   threshold: int = 0, dense: bool = False) -> list[list[int]]:
    """Each lane's beats for one window of activations (``tlast`` on each list's last)."""
    brick = check_brick(brick)
    a = apply_threshold(np.asarray(acts).reshape(-1), threshold)
    out = []
    for bricks in lane_bricks(a.size, lanes, brick):
        beats = [w for j in bricks
                 for w in brick_beats(a[j * brick:(j + 1) * brick], value_width=value_width,
                                      dense=dense)]
        out.append(beats or brick_beats([], value_width=value_width))
    return out


def encoder_words(acts, *, lanes: int, brick: int = 16, value_width: int = 8) -> list[list[int]]:
    """The ``cnv_encoder`` input of each lane for one window: one word per brick,
    activation ``i`` of the brick at bits ``[i·VF, (i+1)·VF)``, the brick length at bits
    ``[B·VF, B·VF+8)`` (0: the null brick); ``tlast`` on each list's last word."""
    brick = check_brick(brick)
    vf = byte_width(value_width)
    a = np.asarray(acts, dtype=np.int64).reshape(-1)
    out = []
    for bricks in lane_bricks(a.size, lanes, brick):
        words = []
        for j in bricks:
            vals = a[j * brick:(j + 1) * brick]
            word = sum((int(v) & ((1 << vf) - 1)) << (i * vf) for i, v in enumerate(vals))
            words.append(word | len(vals) << (brick * vf))
        out.append(words or [0])
    return out


def encoder_output(words, *, brick: int = 16, value_width: int = 8, threshold: int = 0,
                   dense: bool = False) -> tuple[list[int], bool]:
    """What ``cnv_encoder`` emits for one lane's input words (one window), and its
    ``error``: a length above ``B`` is taken as ``B`` and flagged; bits of the value
    fields beyond the length are ignored; a length of 0 gives the null brick."""
    brick = check_brick(brick)
    vf = byte_width(value_width)
    beats, error = [], False
    for word in words:
        n = (int(word) >> (brick * vf)) & 0xFF
        if n > brick:
            n, error = brick, True
        vals = [to_signed(int(word) >> (i * vf), value_width) for i in range(n)]
        beats += brick_beats(apply_threshold(vals, threshold) if vals else [],
                             value_width=value_width, dense=dense)
    return beats, error


ENCODER_LATENCY = 3
"""Clocks from a brick's transfer into ``cnv_encoder`` to its first beat's transfer (three
registered stages: the brick, the threshold mask, the emitting brick)."""


def encoder_cycles(beats_per_brick) -> int:
    """Cycles of ``cnv_encoder`` from the first brick transfer to the last beat transfer,
    nothing stalled: one beat per clock, the first :data:`ENCODER_LATENCY` clocks after the
    first brick."""
    return int(sum(beats_per_brick)) + ENCODER_LATENCY


def chain_latency(lanes: int) -> int:
    """``cnv_chain``'s latency: the encoders', one two-entry FIFO between each encoder and
    the unit (timing), then the unit's."""
    return ENCODER_LATENCY + 1 + unit_latency(lanes)


def streams_from_zfnaf(enc: dict, k_len: int, *, lanes: int, brick: int = 16,
                       value_width: int = 8, entries=None) -> list[list[list[int]]]:
    """Lane streams of every position (window) of a ZFNAf encoding of a ``(P, K)`` tensor
    (:func:`golden.zfnaf.encode`, channel axis last), e.g. loaded from pruning's export.
    ``entries`` (optional) are the exported ``{offset, value}`` words, used as the low bits
    of each beat instead of re-packing ``values``/``offsets``."""
    brick = check_brick(brick)
    counts = np.asarray(enc["counts"], dtype=np.int64)
    vf = byte_width(value_width)
    if entries is None:
        entries = [pack_entry(v, o, value_width=value_width)
                   for v, o in zip(np.asarray(enc["values"]).tolist(),
                                   np.asarray(enc["offsets"]).tolist())]
    entries = [int(e) for e in entries]
    nb = -(-int(k_len) // brick)
    if nb == 0 or counts.size % nb:
        raise ValueError(f"{counts.size} brick counts do not split into windows of {nb} bricks")
    starts = np.concatenate(([0], np.cumsum(counts)))
    empty = pack_entry(0, 0, value_width=value_width, end=True, empty=True)
    windows = []
    for p in range(counts.size // nb):
        lanes_out = []
        for bricks in lane_bricks(k_len, lanes, brick):
            beats = []
            for j in bricks:
                s, e = starts[p * nb + j], starts[p * nb + j + 1]
                beats += ([entries[i] | (END << vf if i == e - 1 else 0) for i in range(s, e)]
                          or [empty])
            lanes_out.append(beats or [empty])
        windows.append(lanes_out)
    return windows


def weight_words(w, *, weight_width: int = 8) -> list[int]:
    """The weight-load stream: one word per activation index ``i`` holding ``w[f][i]`` for
    every filter, filter ``f`` at bits ``[f·WF, (f+1)·WF)`` (``WF = byte_width(weight_width)``),
    ``tlast`` on ``i = K-1``; ``K`` is the number of words."""
    w = np.asarray(w, dtype=np.int64)
    wf = byte_width(weight_width)
    mask = (1 << wf) - 1
    return [sum((int(w[f, i]) & mask) << (f * wf) for f in range(w.shape[0]))
            for i in range(w.shape[1])]


def load_weights(words, *, filters: int, weight_width: int = 8,
                 max_k: int = 256) -> tuple[np.ndarray, bool]:
    """What one weight load (the beats of one ``w`` packet, any bits) leaves in the unit:
    ``(w, bad)``, the ``(F, K)`` weights every following window uses and the flag those
    windows report in ``error``.

    A beat whose filter field (``WF`` bits, :func:`weight_words`) is not a sign extension
    of ``weight_width`` bits is stored as 0 for *every* filter; beats beyond ``max_k`` are
    dropped (``K = min(beats, max_k)``); either sets ``bad``.  The next load starts clean."""
    check_int("filters", filters, 1, 32)
    ww = check_int("weight_width", weight_width, 2, 16)
    max_k = check_int("max_k", max_k, 1, 4096)
    wf = byte_width(ww)
    words = [int(x) for x in words]
    if not words:
        raise ValueError("a weight load has at least one beat (the one with tlast)")
    if any(x < 0 or x >> (filters * wf) for x in words):
        raise ValueError(f"weight beats are {filters * wf}-bit words")
    kept = words[:max_k]
    w = np.array([[to_signed(x >> (f * wf), wf) for x in kept] for f in range(filters)],
                 dtype=np.int64).reshape(filters, len(kept))
    fits = (w >= -(1 << (ww - 1))) & (w < (1 << (ww - 1)))
    beat_ok = fits.all(axis=0)
    w[:, ~beat_ok] = 0
    return w, bool(len(words) > max_k or not beat_ok.all())


def unit_window(streams, w, *, lanes: int, brick: int = 16, value_width: int = 8,
                acc_width: int = 32, overflow: str = "wrap") -> tuple[np.ndarray, bool, int]:
    """``(out[F], error, steps)`` of one window.  ``streams``: each lane's beats (the last
    one carries ``tlast``); ``w``: ``(F, K)`` weights of the last load (``K = 0``: none)."""
    check_overflow(overflow)
    check_acc_width(acc_width)
    brick = check_brick(brick)
    if len(streams) != lanes or any(len(s) == 0 for s in streams):
        raise ValueError(f"need {lanes} lane streams of at least one beat each")
    w = np.asarray(w, dtype=np.int64)
    n_f, k_len = w.shape
    steps = max(len(s) for s in streams)
    lane_terms = np.zeros((steps, lanes, n_f), dtype=object)
    error = False
    for k, beats in enumerate(streams):
        base, first, prev, end_seen = k * brick, True, -1, True
        for s, word in enumerate(beats):
            value, off, empty, end, fits = unpack_entry(word, value_width)
            if empty:
                error |= not (end and first and (base < k_len or base == k * brick))
                end = True
            else:
                bad = off >= brick or base + off >= k_len or not first and off <= prev \
                    or not fits
                error |= bad
                if not bad:
                    lane_terms[s, k] = [value * int(x) for x in w[:, base + off]]
                prev = off
            first = False
            if s == len(beats) - 1:
                error |= not end or (base + lanes * brick) < k_len
            if end:
                base, first, prev = base + lanes * brick, True, -1
    acc = [0] * n_f
    for s in range(steps):
        for f in range(n_f):
            acc[f] = acc_step(acc[f], sum(lane_terms[s, :, f]), acc_width=acc_width,
                              overflow=overflow)
    return np.array(acc, dtype=np.int64), bool(error), steps


def run_windows(windows, w, **kw) -> list[tuple[np.ndarray, bool, int]]:
    """:func:`unit_window` of each window in turn (all with the weights ``w``)."""
    return [unit_window(s, w, **kw) for s in windows]


def window_steps(streams) -> int:
    """Cycles of one window, nothing stalled: its busiest lane's beats."""
    return max(len(s) for s in streams)


def run_cycles(windows, lanes: int) -> int:
    """Cycles from the first lane transfer of back-to-back windows to the last output
    transfer, nothing stalled: ``Σ window_steps + unit_latency(lanes)``."""
    return sum(window_steps(s) for s in windows) + unit_latency(lanes)


def reference(acts, w, *, lanes: int, brick: int = 16, acc_width: int = 32,
              overflow: str = "wrap", threshold: int = 0, dense: bool = False) -> np.ndarray:
    """The exact outputs of a valid window straight from the dense activations (no stream
    packing): the same step grouping as :func:`unit_window`, for cross-checking it."""
    brick = check_brick(brick)
    a = apply_threshold(np.asarray(acts).reshape(-1), threshold)
    w = np.asarray(w, dtype=np.int64)
    per_lane = []
    for bricks in lane_bricks(a.size, lanes, brick):
        idx = []
        for j in bricks:
            ii = list(range(j * brick, min((j + 1) * brick, a.size)))
            nz = ii if dense else [i for i in ii if a[i]]
            idx += nz or [None]
        per_lane.append(idx or [None])
    acc = [0] * w.shape[0]
    for s in range(max(len(x) for x in per_lane)):
        for f in range(w.shape[0]):
            total = sum(int(a[x[s]]) * int(w[f, x[s]]) for x in per_lane
                        if s < len(x) and x[s] is not None)
            acc[f] = acc_step(acc[f], total, acc_width=acc_width, overflow=overflow)
    return np.array(acc, dtype=np.int64)
