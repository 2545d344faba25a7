"""Run one layer of many images on its block in Verilator (:mod:`tb.bench_e2e`).

:func:`run_layer` writes the work list (the exported files to read, the number of images,
where to put the results), runs the block's cocotb test once through
:func:`tb.runner.run_bench` (the model is built once per configuration and cached under
``build/sim``), follows the bench's progress file on a :class:`pruning.progress.Progress`
bar and returns the results the bench wrote.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from .intnet import BLOCK_PARAMS

__all__ = ["run_layer", "HardwareError"]


class HardwareError(RuntimeError):
    """A simulation failed or produced no results."""


def _follow(path: Path, bar, stop: threading.Event):
    """Move ``bar`` on as the bench reports images done, until ``stop`` (then once more)."""
    done, last = 0, False
    while not last:
        last = stop.wait(0.25)
        try:
            now = int(path.read_text() or 0)
        except (OSError, ValueError):
            continue
        if now > done:
            bar.update(now - done)
            done = now


def run_layer(layer: str, test: str, block: str, work_dir: Path, *, weights=None, acts,
              images: int, bar=None) -> dict:
    """Run ``test`` of :mod:`tb.bench_e2e` on ``block`` (the build of
    :data:`e2e.intnet.BLOCK_PARAMS`) for ``images`` images; returns the results dict."""
    from tb.runner import run_bench

    work_dir.mkdir(parents=True, exist_ok=True)
    results, progress = work_dir / f"{layer}.results.json", work_dir / f"{layer}.progress"
    for f in (results, progress):
        f.unlink(missing_ok=True)
    spec = {"layer": layer, "weights": str(weights) if weights else None, "acts": str(acts),
            "images": images, "results": str(results), "progress": str(progress)}
    work = work_dir / f"{layer}.work.json"
    work.write_text(json.dumps(spec, indent=1))
    stop = threading.Event()
    watcher = None
    if bar is not None:
        watcher = threading.Thread(target=_follow, args=(progress, bar, stop), daemon=True)
        watcher.start()
    saved = os.environ.get("SPARSEKIT_E2E")
    os.environ["SPARSEKIT_E2E"] = str(work)
    t0 = time.monotonic()
    try:
        result = run_bench(block, "tb.bench_e2e", params=BLOCK_PARAMS[block],
                           test_filter=rf"\.{test}$", seed=1, tag=f"e2e-{layer}",
                           label=f"{block} (end-to-end, {layer})")
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
        if saved is None:
            os.environ.pop("SPARSEKIT_E2E", None)
        else:
            os.environ["SPARSEKIT_E2E"] = saved
    failed = [t for t in result.tests if not t.passed]
    if not result.tests or failed or not results.exists():
        msg = "; ".join(f"{t.name}: {t.message}" for t in failed) or "no results written"
        raise HardwareError(f"{layer} on {block}: {msg}")
    out = json.loads(results.read_text())
    out["wall_s"] = time.monotonic() - t0
    return out
