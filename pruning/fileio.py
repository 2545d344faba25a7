"""Atomic file writes, safe ``.npz`` reading and ``$readmemh`` hex text, shared by the exporters."""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["to_hex_lines", "parse_hex", "npz_bytes", "load_npz", "write_files_atomically",
           "sha256"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive
_NPY_MAGIC = b"\x93NUMPY"

_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# The widest hex word: a 16-lane csr_spmv beat of 32-bit values and 32-bit columns.
MAX_WIDTH = 1024


def to_hex_lines(values, width_bits: int) -> bytes:
    """One word per line, ``ceil(width_bits / 4)`` lower-case hex digits, no prefix.

    Signed values are written as their two's complement in ``width_bits``
    bits (what ``$readmemh`` into a ``[width_bits-1:0]`` memory expects).
    Words wider than 64 bits (up to :data:`MAX_WIDTH`) come as a uint64 array of
    shape ``(words, ceil(width_bits / 64))``, least significant limb first
    (:func:`pruning.formats.to_words`).  Vectorised: no per-value formatting.
    """
    if not 1 <= width_bits <= MAX_WIDTH:
        raise ValueError(f"hex word width must be in [1, {MAX_WIDTH}] bits, not {width_bits}")
    limbs = -(-width_bits // 64)
    v = np.asarray(values)
    if limbs == 1:
        v = v.reshape(-1)
        u = v.astype(np.uint64) if v.dtype.kind == "u" else v.astype(np.int64).view(np.uint64)
        u = u.reshape(-1, 1)
    else:
        if v.dtype != np.uint64 or v.ndim != 2 or v.shape[1] != limbs:
            raise ValueError(f"{width_bits}-bit words must be a uint64 array of shape "
                             f"(n, {limbs}), not {v.dtype}{list(v.shape)}")
        u = v
    top = width_bits - 64 * (limbs - 1)
    if top < 64:
        u = u.copy()
        u[:, -1] &= np.uint64((1 << top) - 1)
    nd = -(-width_bits // 4)
    shifts = np.arange(15, -1, -1, dtype=np.uint64) * np.uint64(4)
    # every limb as 16 digits, most significant limb first, then the leading digits cut
    nib = ((u[:, ::-1, None] >> shifts[None, None, :]) & np.uint64(15)).astype(np.intp)
    nib = nib.reshape(u.shape[0], 16 * limbs)[:, 16 * limbs - nd:]
    text = np.empty((u.shape[0], nd + 1), dtype=np.uint8)
    text[:, :nd] = _DIGITS[nib]
    text[:, nd] = ord("\n")
    return text.tobytes()


def parse_hex(data: bytes, width_bits: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`to_hex_lines` (fixed-width lines): int64 or uint64 values, or for
    words wider than 64 bits a uint64 array ``(words, limbs)``, least significant limb first.

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
    limbs = -(-width_bits // 64)
    full = np.zeros((nib.shape[0], 16 * limbs), dtype=np.uint64)   # left-padded to limbs
    full[:, 16 * limbs - nd:] = nib
    shifts = np.arange(15, -1, -1, dtype=np.uint64) * np.uint64(4)
    u = np.bitwise_or.reduce(full.reshape(-1, limbs, 16) << shifts[None, None, :],
                             axis=2)[:, ::-1].astype(np.uint64)
    if limbs > 1:
        return np.ascontiguousarray(u)
    u = u.reshape(-1)
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


def load_npz(path) -> dict:
    """``{name: array}`` of an ``.npz`` archive, never unpickling anything.

    Raises ``ValueError`` (message without the path; callers add it) for a
    missing path or a directory, a ``.npy`` file, a file that is not a zip
    archive at all (NumPy would otherwise report a text file as "pickled
    data"), a damaged archive, a member that is not a ``.npy`` array, and
    object arrays (which would need pickles).
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError("is a directory, not an .npz file")
    if not p.is_file():
        raise ValueError("does not exist")
    try:
        with open(p, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    if head.startswith(_NPY_MAGIC):
        raise ValueError("is a single-array .npy file, not an .npz archive")
    if head[:4] not in _ZIP_MAGIC:
        raise ValueError("is not an .npz archive (no zip signature)")
    try:
        with np.load(p, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ValueError(f"cannot load without pickles ({exc})") from None
        raise ValueError(f"is not a readable .npz archive ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, TypeError) as exc:
        raise ValueError(f"is not a readable .npz archive ({exc})") from None
    except (NotImplementedError, zipfile.LargeZipFile) as exc:
        # e.g. a member compressed with Deflate64 (method 9), which zipfile cannot read
        raise ValueError(f"uses a zip feature this reader does not support ({exc})") from None
    for k, v in out.items():
        if not isinstance(v, np.ndarray):
            raise ValueError(f"member {k!r} is not a .npy array")
    return out


def _fsync_dir(directory: Path) -> None:
    """Make the renames durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _staging_dir(directory: Path) -> Path:
    """A fresh hidden directory next to ``directory`` on the same file system.

    Next to the target (``<parent>/.<name>.staging-XXXX``) so nothing
    half-written ever appears inside it; inside the target instead when the
    target is a mount point (a rename cannot cross file systems) or the
    parent is not writable.
    """
    target = directory.resolve()
    parent = target.parent
    inside = target.exists() and os.stat(target).st_dev != os.stat(parent).st_dev
    if not inside:
        try:
            return Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=parent))
        except PermissionError:
            if not target.exists():
                raise
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=target))


def write_files_atomically(directory, files: dict, remove=()) -> None:
    """Write ``{filename: bytes}`` into ``directory``: all of them, or none.

    ``remove`` names files in ``directory`` to delete in the same step (after
    every move; names also in ``files`` or not present are ignored); a
    rollback restores them too.

    Every file is first written in full, and fsynced, into a staging
    directory next to ``directory`` (see :func:`_staging_dir`); nothing in
    ``directory`` changes until all of them are written.  Then each is moved
    into place with ``os.replace`` (atomic per file), in the given order, so
    put the manifests last.  If a move fails (or the process gets an
    exception such as ``KeyboardInterrupt`` meanwhile) the moves already done
    are undone: replaced files get their previous content back (kept as hard
    links, or copies, in the staging directory) and new files are removed,
    so the directory is left as it was; a directory this call created is
    removed again.  Only a hard kill or power loss during the short rename
    phase can leave a mix, and then each manifest's SHA-256 checksums expose
    it (:func:`pruning.export.load_export` refuses it).  The staging
    directory is always removed.

    Raises ``ValueError`` before writing anything when ``directory`` exists
    but is not a directory, a name is not a plain file name, or a target
    name is an existing directory.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"output directory {directory} exists and is not a directory")
    remove = [r for r in dict.fromkeys(remove) if r not in files]
    for fname in [*files, *remove]:
        if not isinstance(fname, str) or fname in ("", ".", "..") or Path(fname).name != fname \
                or "/" in fname or "\\" in fname:
            raise ValueError(f"{fname!r} is not a plain file name")
        if fname in files and (directory / fname).is_dir():
            raise ValueError(f"cannot write {directory / fname}: it is an existing directory")
    # Parent folders this call creates are removed again if it fails.
    made, up = [], directory.parent
    while not up.exists() and up != up.parent:
        made.append(up)
        up = up.parent
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        _stage_and_move(directory, files, remove)
    except BaseException:
        for d in made:  # deepest first
            try:
                d.rmdir()
            except OSError:
                break
        raise


def _user_path(exc: OSError, path) -> OSError:
    """``exc`` naming the user's ``path`` instead of the internal staging folder."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def _stage_and_move(directory: Path, files: dict, remove: list) -> None:
    """The staged write of :func:`write_files_atomically` (arguments already checked)."""
    try:
        staging = _staging_dir(directory)
    except OSError as exc:
        raise _user_path(exc, directory) from None
    created = False
    try:
        for fname, data in files.items():
            try:
                with open(staging / fname, "xb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:   # e.g. a full disk or a name too long
                raise _user_path(exc, directory / fname) from None
        if not directory.exists():
            directory.mkdir()
            created = True
        backup = staging / ".previous"
        backup.mkdir()
        done = []
        try:
            for fname in files:
                final = directory / fname
                saved = None
                if os.path.lexists(final):
                    saved = backup / fname
                    try:
                        os.link(final, saved, follow_symlinks=False)
                    except OSError:
                        shutil.copy2(final, saved, follow_symlinks=False)
                # recorded first: undoing a move that never happened is harmless
                # (the backup is the same file; a missing new file is skipped)
                done.append((final, saved))
                try:
                    os.replace(staging / fname, final)
                except OSError as exc:
                    raise _user_path(exc, final) from None
            for fname in remove:
                final = directory / fname
                if not os.path.isfile(final) or os.path.islink(final):
                    continue
                saved = backup / fname
                os.replace(final, saved)  # same file system: the backup *is* the file
                done.append((final, saved))
        except BaseException:
            for final, saved in reversed(done):
                try:
                    if saved is not None:
                        os.replace(saved, final)
                    else:
                        os.unlink(final)
                except OSError:
                    pass  # best effort; the checksums still expose a mix
            if created:
                try:
                    directory.rmdir()
                except OSError:
                    pass
            raise
        _fsync_dir(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
