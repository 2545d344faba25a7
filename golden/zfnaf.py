"""Golden model of Cnvlutin's zero-free neuron array format (ZFNAf).

Cnvlutin (Albericio et al., ISCA 2016) stores activations without their
zeros, in **bricks** of ``brick`` (16) consecutive neurons along the channel
dimension.  Each stored neuron carries its **offset** inside its brick (4 bits
for bricks of 16), so a lane can fetch the matching weights.

Layout (this module's definition, shared by ``pruning`` and the hardware):

* The tensor is viewed as ``(P, C)``: the channel axis (``axis``) is moved
  last and all other axes are flattened in C order into ``P`` positions.
* Each position's ``C`` channels split into ``B = ceil(C / brick)`` bricks;
  brick ``k`` covers channels ``[k*brick, min((k+1)*brick, C))``.  When
  ``brick`` does not divide ``C`` the last brick is shorter; its offsets stay
  below its length.  Bricks are numbered ``p * B + k``.
* ``counts``: ``(P * B,)`` ``uint16``, the number of non-zeros of each brick
  (0 .. brick, so up to 256 for the largest brick: ``uint8`` would wrap),
  stored in ``count_bits = bit_length(brick)`` bits, the bits needed to hold
  ``brick`` itself (5 for 16, 9 for 256).
* ``values``: ``(nnz,)``, the input dtype: the non-zeros, brick by brick,
  in ascending channel order inside a brick.
* ``offsets``: ``(nnz,)`` ``uint8``: each value's channel minus its brick's
  first channel (0 .. brick - 1, so at most 255), strictly ascending inside
  a brick, ``offset_bits = log2(brick)`` bits (4 for 16, 8 for 256).

``brick`` is a power of two in [2, 256] (an integer; ``TypeError`` otherwise).

A brick's entries start at ``sum(counts[:brick_index])``.  For ``$readmemh``
an entry packs as one word ``{offset, value}``: the value's two's complement
in the low ``value_bits`` bits and the offset just above it.

Storage (:func:`storage_bits`): the packed stream is ``nnz * (value_bits +
offset_bits) + P * B * count_bits`` bits.  Cnvlutin's own memory keeps every
brick in a fixed container of ``brick`` entries (the format saves work, not
space); ``container=True`` returns that size, ``P * B * brick * (value_bits
+ offset_bits)``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["encode", "decode", "validate", "storage_bits", "offset_bits", "count_bits"]


def _check_brick(brick) -> int:
    if isinstance(brick, bool) or not isinstance(brick, (int, np.integer)):
        raise TypeError(f"brick must be an integer, not {brick!r}")
    if brick < 2 or brick > 256 or (brick & (brick - 1)):
        raise ValueError(f"brick must be a power of two in [2, 256], not {brick}")
    return int(brick)


def offset_bits(brick: int = 16) -> int:
    """Bits of one offset: ``log2(brick)`` (4 for bricks of 16, 8 for 256)."""
    return _check_brick(brick).bit_length() - 1


def count_bits(brick: int = 16) -> int:
    """Bits of one per-brick count, which ranges over ``0 .. brick`` (5 for 16, 9 for 256)."""
    return _check_brick(brick).bit_length()


def _split(shape: tuple, axis: int) -> tuple[int, int]:
    """Return ``(P, C)``: positions (product of the other axes) and channels."""
    if len(shape) < 1:
        raise ValueError("the tensor must have at least one axis (the channel axis)")
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"channel axis {axis} is out of range for shape {shape}")
    others = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
    return int(np.prod(others, dtype=np.int64)), int(shape[axis])


def _as_pc(acts: np.ndarray, axis: int) -> np.ndarray:
    p, c = _split(acts.shape, axis)
    return np.moveaxis(acts, axis, -1).reshape(p, c)


def encode(acts, axis: int = -1, brick: int = 16) -> dict:
    """Encode ``acts`` to ZFNAf; returns ``{"values", "offsets", "counts"}``.

    Parameters: ``acts`` numeric array; ``axis`` the channel axis; ``brick``
    the brick length (power of two).  The original shape and ``axis`` are
    needed again by :func:`decode`.
    """
    brick = _check_brick(brick)
    acts = np.asarray(acts)
    pc = _as_pc(acts, axis)
    p, c = pc.shape
    nb = -(-c // brick)
    padded = np.zeros((p, nb * brick), dtype=acts.dtype)
    padded[:, :c] = pc
    bricks = padded.reshape(p * nb, brick)
    nz = bricks != 0
    counts = nz.sum(axis=1).astype(np.uint16)  # 0 .. brick: 256 does not fit uint8
    rows, cols = np.nonzero(nz)  # C order: brick by brick, ascending offset
    return {"values": bricks[rows, cols].copy(),
            "offsets": cols.astype(np.uint8),
            "counts": counts}


def validate(enc: dict, shape, axis: int = -1, brick: int = 16) -> None:
    """Check an encoding against a dense ``shape``; ``ValueError`` names the brick."""
    brick = _check_brick(brick)
    shape = tuple(int(s) for s in shape)
    p, c = _split(shape, axis)
    for key in ("values", "offsets", "counts"):
        if key not in enc:
            raise ValueError(f"encoding is missing {key!r}")
    values, offsets, counts = (np.asarray(enc[k]) for k in ("values", "offsets", "counts"))
    nb = -(-c // brick)
    if counts.shape != (p * nb,):
        raise ValueError(f"counts shape {counts.shape} does not match {(p * nb,)} bricks for shape {shape}")
    for key, arr in (("offsets", offsets), ("counts", counts)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{key} must be an integer array, not {arr.dtype}")
    if values.ndim != 1 or offsets.shape != values.shape:
        raise ValueError(f"values {values.shape} and offsets {offsets.shape} must be equal 1-D shapes")
    cnt = counts.astype(np.int64)
    # Length of each brick: all `brick` except the last brick of each position.
    blen = np.full(p * nb, brick, dtype=np.int64)
    if nb:
        blen[nb - 1::nb] = c - (nb - 1) * brick
    bad = np.flatnonzero((cnt < 0) | (cnt > blen))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"brick {k} count {int(cnt[k])} exceeds its length {int(blen[k])}")
    if int(cnt.sum()) != values.size:
        raise ValueError(f"counts sum to {int(cnt.sum())} but there are {values.size} values")
    if values.size == 0:
        return
    owner = np.repeat(np.arange(p * nb), cnt)
    off = offsets.astype(np.int64)
    bad = np.flatnonzero((off < 0) | (off >= blen[owner]))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"entry {i} of brick {int(owner[i])} has offset {int(off[i])} "
                         f"outside its length {int(blen[owner[i]])}")
    same = owner[1:] == owner[:-1]
    bad = np.flatnonzero(same & (off[1:] <= off[:-1]))
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(f"entry {i} of brick {int(owner[i])}: offsets not strictly ascending")
    bad = np.flatnonzero(values == 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"entry {i} of brick {int(owner[i])} stores a zero value")


def decode(enc: dict, shape, axis: int = -1, brick: int = 16) -> np.ndarray:
    """Rebuild the dense array of ``shape`` from :func:`encode` output (validated first)."""
    validate(enc, shape, axis=axis, brick=brick)
    shape = tuple(int(s) for s in shape)
    values = np.asarray(enc["values"])
    cnt = np.asarray(enc["counts"]).astype(np.int64)
    p, c = _split(shape, axis)
    nb = -(-c // brick)
    bricks = np.zeros((p * nb, brick), dtype=values.dtype)
    owner = np.repeat(np.arange(p * nb), cnt)
    bricks[owner, np.asarray(enc["offsets"]).astype(np.int64)] = values
    pc = bricks.reshape(p, nb * brick)[:, :c]
    moved_shape = tuple(np.delete(np.array(shape, dtype=np.int64), axis % len(shape))) + (c,)
    return np.moveaxis(pc.reshape(moved_shape), -1, axis)


def storage_bits(shape, nnz: int, value_bits: int, axis: int = -1, brick: int = 16,
                 container: bool = False) -> int:
    """Exact bits of a ZFNAf encoding (see the module docstring)."""
    brick = _check_brick(brick)
    shape = tuple(int(s) for s in shape)
    p, c = _split(shape, axis)
    nb = -(-c // brick)
    entry = int(value_bits) + offset_bits(brick)
    if container:
        return p * nb * brick * entry
    return int(nnz) * entry + p * nb * count_bits(brick)
