"""Atomic file writes and ``$readmemh`` hex text, shared by the exporters."""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["to_hex_lines", "parse_hex", "npz_bytes", "write_files_atomically", "sha256"]

_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def to_hex_lines(values, width_bits: int) -> bytes:
    """One word per line, ``ceil(width_bits / 4)`` lower-case hex digits, no prefix.

    Signed values are written as their two's complement in ``width_bits``
    bits (what ``$readmemh`` into a ``[width_bits-1:0]`` memory expects).
    Vectorised: builds the text as a byte array, no per-value formatting.
    """
    if not 1 <= width_bits <= 64:
        raise ValueError(f"hex word width must be in [1, 64] bits, not {width_bits}")
    v = np.asarray(values).reshape(-1)
    if v.dtype.kind == "u":
        u = v.astype(np.uint64)
    else:
        u = v.astype(np.int64).view(np.uint64)
    if width_bits < 64:
        u = u & np.uint64((1 << width_bits) - 1)
    nd = -(-width_bits // 4)
    shifts = np.arange(nd - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    nib = ((u[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.intp)
    text = np.empty((v.size, nd + 1), dtype=np.uint8)
    text[:, :nd] = _DIGITS[nib]
    text[:, nd] = ord("\n")
    return text.tobytes()


def parse_hex(data: bytes, width_bits: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`to_hex_lines` (fixed-width lines): int64 or uint64 values.

    Raises ``ValueError`` for a line of the wrong length or a non-hex digit.
    """
    nd = -(-width_bits // 4)
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size % (nd + 1):
        raise ValueError(f"hex text is not made of {nd}-digit lines")
    text = raw.reshape(-1, nd + 1)
    if text.size and (text[:, nd] != ord("\n")).any():
        raise ValueError(f"hex text is not made of {nd}-digit lines")
    lut = np.full(256, 255, dtype=np.uint8)
    lut[_DIGITS] = np.arange(16, dtype=np.uint8)
    lut[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)
    nib = lut[text[:, :nd]]
    if (nib == 255).any():
        line = int(np.flatnonzero((nib == 255).any(axis=1))[0])
        raise ValueError(f"hex line {line} has a character that is not a hex digit")
    shifts = np.arange(nd - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    u = np.bitwise_or.reduce(nib.astype(np.uint64) << shifts[None, :], axis=1) if nd else \
        np.zeros(text.shape[0], dtype=np.uint64)
    u = u.astype(np.uint64).reshape(-1)
    if signed and width_bits < 64:
        sign = np.uint64(1 << (width_bits - 1))
        return (u ^ sign).astype(np.int64) - np.int64(1 << (width_bits - 1))
    return u.view(np.int64) if signed else u


def npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_files_atomically(directory, files: dict) -> None:
    """Write ``{filename: bytes}`` into ``directory``, each file all-or-nothing.

    Every file is first written in full to a temporary file in the same
    directory and fsynced; only then are they moved into place with
    ``os.replace`` (atomic on POSIX and Windows), in the given order, so put
    the manifest last.  On any error the temporaries are removed: a reader
    never sees a half-written file, and a manifest whose checksums do not
    match its data files exposes an interrupted batch.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    temps = []
    try:
        for fname, data in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{fname}.", suffix=".tmp", dir=directory)
            temps.append((tmp, directory / fname))
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, final in temps:
            os.replace(tmp, final)
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
