"""cocotb driver of the end-to-end flow (:mod:`e2e`): one layer of many images per run.

Not a regression of its own (``make sim`` does not run it): :mod:`e2e.hardware` writes a
*work list* (JSON, path in ``SPARSEKIT_E2E``) naming the layer's exported files, runs one
of these tests on the block's model through :func:`tb.runner.run_bench`, and reads the
*results* file back.  Every input comes from the exports (manifests loaded strictly with
:func:`pruning.loader.load_export`, against this build where the format has a block; the
stream words read from the ``.hex`` files as ``$readmemh`` reads them,
:func:`tb.bench_export.read_memh`), never from arrays handed over in memory.

Work list keys: ``weights`` (a layer manifest), ``acts`` (the manifest of the input
activations), ``images``, ``results`` and ``progress`` (file paths).  Results: ``outputs``
(the raw accumulator values, one list per image), ``errors`` (outputs with ``error``
high) and the measured cycle figures.  Nothing stalls (no random pauses): the cycles are
the block's own, and :mod:`e2e` compares them with the cycle models.

* ``e2e_cnv``: weights (dense OHWI export, ``(F, K)`` matrix view) loaded once; the input
  windows are a ZFNAf export ``(windows, K)`` packed for this cnv_unit build; every
  window of every image is queued back to back (:func:`golden.cnv.streams_from_zfnaf`
  on the exported ``counts``/``entries``).  Cycles: first lane transfer -> last output.
* ``e2e_csr``: the csr_spmv streams of a CSR export; per image, x (a dense export's row)
  then the row/nz words.  Cycles per image: the x load, and first row beat -> last y.
* ``e2e_nm``: a sparse24 export's ``w_stream`` (sparse mode), or a dense export packed
  for the dense fallback (:func:`golden.nm_mac.pack_dense_fallback`); every dot product
  of every image back to back.  Cycles: first w transfer -> last result.
* ``e2e_rlc``: rlc_loopback, each image's activations as one tensor, back to back; the
  values must come back unchanged.  Cycles: first value in -> last value out.
"""

import json
import os
from pathlib import Path

import cocotb
import numpy as np

from golden import cnv, nm_mac
from golden.bits import byte_width, to_signed
from hw.blocks import get_block
from pruning.loader import load_export

from .axis import Beat
from .bench import block_params, start
from .bench_export import read_memh

WAIT = 2_000_000      # cycles any one wait may take before the run is declared hung


class Work:
    """The work list of this run, its exported inputs and the results file."""

    def __init__(self, block):
        self.spec = json.loads(Path(os.environ["SPARSEKIT_E2E"]).read_text())
        self.block = block
        self.params = get_block(block).params(block_params())
        self.images = int(self.spec["images"])
        self._progress = Path(self.spec["progress"])

    def load(self, key, build=True):
        """``(manifest path, loaded export)`` of work item ``key``, strictly checked (and
        paired with this build when ``build`` and the format has a block)."""
        path = Path(self.spec[key])
        return path, load_export(path, build=(self.block, self.params) if build else None)

    @staticmethod
    def words(path, ld, key, signed=False):
        meta = ld["manifest"]["arrays"][key]
        words = read_memh(path.parent / meta["hex"], meta["width_bits"])
        return [to_signed(w, meta["width_bits"]) for w in words] if signed else words

    def progress(self, done):
        self._progress.write_text(str(int(done)))

    def finish(self, outputs, errors, **cycles):
        Path(self.spec["results"]).write_text(json.dumps(
            {"outputs": outputs, "errors": int(errors), **cycles}))
        self.progress(self.images)


def wld_has_block(path):
    """Whether the manifest at ``path`` records hardware (sparse24 does; dense does not)."""
    return json.loads(Path(path).read_text())["hardware"] is not None


async def _watch(work, sink, per_image, total):
    """Wait for ``total`` beats, reporting finished images to the progress file."""
    step = max(per_image, (total // 50) // per_image * per_image)
    got = 0
    while got < total:
        got = min(total, got + step)
        await sink.wait_for(got, within=WAIT)
        work.progress(got // per_image)


@cocotb.test()
async def e2e_cnv(dut):
    work = Work("cnv_unit")
    env = await start(dut, "e2e_cnv")
    p = work.params
    L, F, yf = p["lanes"], p["filters"], byte_width(p["acc_width"])
    lanes = [env.source(f"s_axis_lane{k}") for k in range(L)]
    wsrc, out = env.source("s_axis_w"), env.sink("m_axis", side=("error",))
    wpath, wld = work.load("weights", build=False)
    w = np.array(work.words(wpath, wld, "q", signed=True)).reshape(
        wld["manifest"]["shape"][0], -1)
    assert w.shape[0] <= F, f"{w.shape[0]} filters on a {F}-filter build"
    words = cnv.weight_words(w, weight_width=p["weight_width"])
    wsrc.send(Beat(x, i == len(words) - 1) for i, x in enumerate(words))
    await wsrc.wait_idle(within=WAIT)
    apath, ald = work.load("acts")
    k_len = ald["manifest"]["shape"][-1]
    windows = cnv.streams_from_zfnaf({"counts": work.words(apath, ald, "counts")}, k_len,
                                     lanes=L, brick=p["brick"], value_width=p["value_width"],
                                     entries=work.words(apath, ald, "entries"))
    for streams in windows:
        for k, beats in enumerate(streams):
            lanes[k].send(Beat(b, i == len(beats) - 1) for i, b in enumerate(beats))
    await _watch(work, out, len(windows) // work.images, len(windows))
    per = len(windows) // work.images
    sums = [[to_signed(b.data >> (f * yf), yf) for f in range(w.shape[0])] for b in out.beats]
    first = min((lane.sent[0] for lane in lanes), key=lambda b: b.cycle)
    work.finish([sum(sums[i * per:(i + 1) * per], []) for i in range(work.images)],
                sum(b.side["error"] for b in out.beats),
                cycles=out.beats[-1].cycle - first.cycle + 1, weight_load=len(words))


@cocotb.test()
async def e2e_csr(dut):
    work = Work("csr_spmv")
    env = await start(dut, "e2e_csr")
    p = work.params
    xs, rows_in, nz_in = env.source("s_axis_x"), env.source("s_axis_row"), \
        env.source("s_axis_nz")
    ys = env.sink("m_axis_y", side=("error",))
    wpath, wld = work.load("weights")
    rows, nz = work.words(wpath, wld, "row_stream"), work.words(wpath, wld, "nz_stream")
    n_rows = wld["manifest"]["format_params"]["rows"]
    apath, ald = work.load("acts", build=False)
    acts = np.array(work.words(apath, ald, "q", signed=True)).reshape(work.images, -1)
    xmask, yf = (1 << byte_width(p["x_width"])) - 1, byte_width(p["acc_width"])
    outputs, x_cycles, compute = [], [], []
    for i, x in enumerate(acts):
        n_x, first_row = len(xs.sent), len(rows_in.sent)
        xs.send(Beat(int(v) & xmask, j == len(x) - 1) for j, v in enumerate(x))
        await xs.wait_idle(within=WAIT)
        rows_in.send(Beat(r, j == len(rows) - 1) for j, r in enumerate(rows))
        nz_in.send(Beat(v, j == len(nz) - 1) for j, v in enumerate(nz))
        await ys.wait_for((i + 1) * n_rows, within=WAIT)
        beats = ys.beats[i * n_rows:(i + 1) * n_rows]
        outputs.append([to_signed(b.data, yf) for b in beats])
        x_cycles.append(xs.sent[-1].cycle - xs.sent[n_x].cycle + 1)
        compute.append(beats[-1].cycle - rows_in.sent[first_row].cycle + 1)
        await rows_in.wait_idle(within=WAIT)
        await nz_in.wait_idle(within=WAIT)
        if i % 8 == 7:
            work.progress(i + 1)
    work.finish(outputs, sum(b.side["error"] for b in ys.beats),
                cycles=sum(x_cycles) + sum(compute), x_cycles=x_cycles, compute=compute)


@cocotb.test()
async def e2e_nm(dut):
    work = Work("sparse_mac")
    env = await start(dut, "e2e_nm")
    cfg = nm_mac.NMConfig.of_build(work.params)
    ws, asrc = env.source("s_axis_w"), env.source("s_axis_a")
    out = env.sink("m_axis_o", side=("error",))
    wpath, wld = work.load("weights", build=wld_has_block(work.spec["weights"]))
    man = wld["manifest"]
    if man["format"] == "sparse24":      # sparse mode: the exported beats, row by row
        per = man["format_params"]["beats_per_row"]
        beats = work.words(wpath, wld, "w_stream")
        rows = [beats[r * per:(r + 1) * per] for r in range(man["format_params"]["rows"])]
    else:                                # dense fallback, packed by the golden contract
        q = np.array(work.words(wpath, wld, "q", signed=True)).reshape(man["shape"][0], -1)
        rows = [nm_mac.pack_dense_fallback(r, cfg) for r in q]
    apath, ald = work.load("acts", build=False)
    acts = np.array(work.words(apath, ald, "q", signed=True)).reshape(work.images, -1)
    for x in acts:
        a_beats = nm_mac.pack_acts(x, cfg)
        for r in rows:
            ws.send(Beat(b, j == len(r) - 1) for j, b in enumerate(r))
            asrc.send(Beat(a) for a in a_beats)
    total = work.images * len(rows)
    await _watch(work, out, len(rows), total)
    vals = [to_signed(b.data, cfg.o_width) for b in out.beats]
    work.finish([vals[i * len(rows):(i + 1) * len(rows)] for i in range(work.images)],
                sum(b.side["error"] for b in out.beats), w_beats=len(ws.sent),
                cycles=out.beats[-1].cycle - ws.sent[0].cycle + 1)


@cocotb.test()
async def e2e_rlc(dut):
    work = Work("rlc_loopback")
    env = await start(dut, "e2e_rlc")
    src, sink = env.source("s_axis"), env.sink("m_axis")
    apath, ald = work.load("acts", build=False)
    acts = np.array(work.words(apath, ald, "q", signed=True)).reshape(work.images, -1)
    n = acts.shape[1]
    dut.length.value = n
    for x in acts:
        src.send(Beat(int(v) & 0xFFFF, j == n - 1) for j, v in enumerate(x))
    await _watch(work, sink, n, acts.size)
    vals = [to_signed(b.data, 16) for b in sink.beats]
    errors = int(dut.error.value)
    work.finish([vals[i * n:(i + 1) * n] for i in range(work.images)], errors,
                cycles=sink.beats[-1].cycle - src.sent[0].cycle + 1,
                lasts=sum(b.last for b in sink.beats))
