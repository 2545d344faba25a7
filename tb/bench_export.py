"""cocotb bench: exported weights, read from their ``$readmemh`` files, through the hardware.

The export folder comes from the ``SPARSEKIT_EXPORT`` environment variable (written with
``python -m pruning export``; tests/test_export_to_hw.py does both).  Every layer whose
manifest names this bench's block is loaded strictly *against the build being simulated*
(:func:`pruning.loader.load_export` with ``build=``), so an export packed for other widths
or lanes fails before a single beat is sent.  Then the stream words are read from the
``.hex``/``.mem`` files exactly as ``$readmemh`` reads them (:func:`read_memh`), driven
into the block, and the outputs compared with golden: ``golden.csr.spmv`` of the decoded
weights against a random x for ``csr_spmv``, ``golden.rlc.decode`` (and the decoded
weights themselves) for ``rlc_decoder``.  Without stalls each layer also asserts the
block's exact cycle count.  Tests: ``export_csr_*`` on csr_spmv, ``export_rlc_*`` on
rlc_decoder, ``export_nm_*`` on sparse_mac (the exported ``w_stream`` beats, one dot
product per row, against random activations: :func:`golden.nm_mac.mac_beats` and the
decoded weights' exact dot products), ``export_zfnaf_*`` on cnv_unit (the exported
``entries``/``counts`` as lane streams, :func:`golden.cnv.streams_from_zfnaf`, one window
per position, against random weights: :func:`golden.cnv.unit_window` and
:func:`golden.cnv.reference` of the decoded activations).
"""

import os
import re
from pathlib import Path

import cocotb
import numpy as np

from golden import cnv, nm_mac, rlc
from golden.bits import byte_width, to_signed
from golden.csr import from_dense, row_lengths, spmv
from hw.blocks import get_block
from pruning.loader import load_export
from pruning.storage import as_matrix

from .axis import Beat
from .bench import block_params, start, test_name
from .scoreboard import Scoreboard

STALL = 0.3
_TOKEN = re.compile(r"@[0-9a-fA-F_]+|[0-9a-fA-F_]+")


def read_memh(path, width):
    """The words ``$readmemh`` loads from ``path`` into a ``[width-1:0]`` memory, by address
    from 0: whitespace-separated hex words (``_`` allowed), ``//`` and ``/* */`` comments,
    ``@address`` jumps.  A word wider than ``width`` bits, an x/z digit or a hole left by a
    jump is an error (a real memory would hold x there)."""
    text = Path(path).read_text()
    text = re.sub(r"/\*.*?\*/", " ", re.sub(r"//[^\n]*", " ", text), flags=re.S)
    words, addr = {}, 0
    for tok in text.split():
        if not _TOKEN.fullmatch(tok):
            raise ValueError(f"{path}: {tok!r} is not a $readmemh word (x/z or junk)")
        if tok.startswith("@"):
            addr = int(tok[1:].replace("_", ""), 16)
            continue
        value = int(tok.replace("_", ""), 16)
        if value >> width:
            raise ValueError(f"{path}: word {tok} at address {addr} is wider than {width} bits")
        words[addr] = value
        addr += 1
    if words and sorted(words) != list(range(len(words))):
        raise ValueError(f"{path}: addresses are not contiguous from 0")
    return [words[a] for a in range(len(words))]


def exported_layers(block, params):
    """``[(manifest path, loaded export)]`` of every layer in the export packed for
    ``block``, each checked against this build (``ValueError`` on a mismatch)."""
    folder = Path(os.environ["SPARSEKIT_EXPORT"])
    out = []
    for path in sorted(folder.glob("*.json")):
        ld = load_export(path, build=(block, params))
        out.append((path, ld))
    assert out, f"no layer exported for {block} in {folder}"
    return out


def hex_words(path, ld, key):
    meta = ld["manifest"]["arrays"][key]
    return read_memh(path.parent / meta["hex"], meta["width_bits"])


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def export_csr(dut, stall):
    """Each exported CSR layer: random x, the exported row/nz words, y against golden."""
    name = test_name("export_csr", stall=stall)
    env = await start(dut, name)
    sb = Scoreboard(dut._log)
    p = get_block("csr_spmv").params(block_params())
    model = get_block("csr_spmv").make(**p)
    pause = STALL if stall else 0.0
    xs, rows_in, nz_in = env.source("s_axis_x", pause), env.source("s_axis_row", pause), \
        env.source("s_axis_nz", pause)
    ys = env.sink("m_axis_y", pause, side=("error",))
    xmask, yf = (1 << byte_width(p["x_width"])) - 1, byte_width(p["acc_width"])
    for path, ld in exported_layers("csr_spmv", p):
        mat = as_matrix(ld["q"]).astype(np.int64)
        rows, nz = hex_words(path, ld, "row_stream"), hex_words(path, ld, "nz_stream")
        x = env.rng.integers(-(1 << (p["x_width"] - 1)), 1 << (p["x_width"] - 1), mat.shape[1])
        want = spmv(from_dense(mat), x, value_width=p["value_width"], x_width=p["x_width"],
                    acc_width=p["acc_width"], overflow=p["overflow"], lanes=p["lanes"])
        seen, first_row = len(ys.beats), len(rows_in.sent)
        await rows_in.wait_idle(within=100_000)
        xs.send(Beat(int(v) & xmask, i == len(x) - 1) for i, v in enumerate(x))
        await xs.wait_idle(within=100_000)
        rows_in.send(Beat(r, i == len(rows) - 1) for i, r in enumerate(rows))
        nz_in.send(Beat(w, i == len(nz) - 1) for i, w in enumerate(nz))
        budget = 20 * (len(rows) + len(nz) + 10) + 2000
        await ys.wait_for(seen + mat.shape[0], within=budget)
        beats = ys.beats[seen:seen + mat.shape[0]]
        label = f"{path.name} {mat.shape}"
        sb.compare(f"{label}: y", [to_signed(b.data, yf) for b in beats], want)
        sb.compare(f"{label}: error", [b.side["error"] for b in beats], [0] * len(beats))
        sb.compare(f"{label}: tlast", [b.last for b in beats], [0] * (len(beats) - 1) + [1])
        lengths = row_lengths(from_dense(mat))
        env.report(elements=int(np.count_nonzero(mat)), first=rows_in.sent[first_row],
                   last=beats[-1], bound=None if stall else model.cycles(lengths, p["lanes"]),
                   layer=ld["manifest"]["layer"], lanes=p["lanes"])
    sb.summary()


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def export_rlc(dut, stall):
    """Each exported RLC layer: the exported words with the layer's length, values
    against golden.rlc.decode and the decoded weights."""
    name = test_name("export_rlc", stall=stall)
    env = await start(dut, name)
    sb = Scoreboard(dut._log)
    p = get_block("rlc_decoder").params(block_params())
    model = get_block("rlc_decoder").make(**p)
    src = env.source("s_axis", STALL if stall else 0.0)
    sink = env.sink("m_axis", STALL if stall else 0.0)
    for path, ld in exported_layers("rlc_decoder", p):
        words = hex_words(path, ld, "words")
        n = ld["manifest"]["format_params"]["n"]
        seen, first = len(sink.beats), len(src.sent)
        src.send(Beat(w, i == len(words) - 1, {"length": n}) for i, w in enumerate(words))
        await sink.wait_for(seen + n, within=20 * (n + len(words)) + 2000)
        await src.wait_idle(within=1000)
        got = [to_signed(b.data, rlc.LEVEL_BITS) for b in sink.beats[seen:seen + n]]
        label = f"{path.name} (n={n}, {len(words)} words)"
        sb.compare(f"{label}: values vs golden.rlc", got, rlc.decode(words, n, signed=True))
        sb.compare(f"{label}: values vs the weights", got, ld["q"].reshape(-1))
        sb.compare(f"{label}: tlast", [b.last for b in sink.beats[seen:seen + n]],
                   [0] * (n - 1) + [1])
        env.report(elements=n, first=src.sent[first], last=sink.beats[seen + n - 1],
                   bound=None if stall else n + model.latency, layer=ld["manifest"]["layer"])
    sb.summary()


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def export_nm(dut, stall):
    """Each exported 2:4 layer: its w_stream beats (one frame per row) against random
    activations; results against golden.nm_mac and the decoded weights."""
    name = test_name("export_nm", stall=stall)
    env = await start(dut, name)
    sb = Scoreboard(dut._log)
    p = get_block("sparse_mac").params(block_params())
    cfg = nm_mac.NMConfig.of_build(p)
    latency = get_block("sparse_mac").make(**p).latency
    pause = STALL if stall else 0.0
    ws, acts = env.source("s_axis_w", pause), env.source("s_axis_a", pause)
    out = env.sink("m_axis_o", pause, side=("error",))
    lim = 1 << (cfg.width - 1)
    for path, ld in exported_layers("sparse_mac", p):
        fp = ld["manifest"]["format_params"]
        mat = as_matrix(ld["q"]).astype(np.int64)
        beats = hex_words(path, ld, "w_stream")
        per = fp["beats_per_row"]
        sb.equal(f"{path.name}: w_stream beats", len(beats), per * mat.shape[0])
        a = env.rng.integers(-lim, lim, mat.shape)
        seen, first = len(out.beats), len(ws.sent)
        want = []
        for r in range(mat.shape[0]):
            row_w = beats[r * per:(r + 1) * per]
            row_a = nm_mac.pack_acts(np.pad(a[r], (0, per * cfg.span - mat.shape[1])), cfg)
            want.append(nm_mac.mac_beats(row_w, row_a, cfg))
            ws.send(Beat(w, i == per - 1) for i, w in enumerate(row_w))
            acts.send(Beat(x) for x in row_a)
        await out.wait_for(seen + mat.shape[0], within=20 * len(beats) + 2000)
        got = out.beats[seen:seen + mat.shape[0]]
        label = f"{path.name} {mat.shape}"
        sb.compare(f"{label}: o vs golden.nm_mac",
                   [to_signed(b.data, cfg.o_width) for b in got], [w for w, _ in want])
        if cfg.overflow == "wrap":     # modular: the exact sum, wrapped once
            sb.compare(f"{label}: o vs the weights",
                       [to_signed(b.data, cfg.o_width) for b in got],
                       [to_signed(int(x), cfg.acc_width) for x in (mat * a).sum(axis=1)])
        sb.compare(f"{label}: error", [b.side["error"] for b in got], [0] * len(got))
        model = nm_mac.frame_cycles(len(beats), latency)
        cycles = env.report(elements=len(beats), first=ws.sent[first], last=got[-1],
                            bound=None if stall else model, layer=ld["manifest"]["layer"],
                            groups=cfg.groups)
        if not stall:
            sb.equal(f"{label}: cycles first w beat -> last result", cycles, model)
    sb.summary()


@cocotb.test()
@cocotb.parametrize(stall=[False, True])
async def export_zfnaf(dut, stall):
    """Each exported ZFNAf tensor: one window per position (K = its channel axis) from
    the exported entries and counts, against random weights; sums against golden.cnv
    (the lane streams) and golden.cnv.reference (the decoded activations)."""
    name = test_name("export_zfnaf", stall=stall)
    env = await start(dut, name)
    sb = Scoreboard(dut._log)
    p = get_block("cnv_unit").params(block_params())
    L, B, F, yf = p["lanes"], p["brick"], p["filters"], byte_width(p["acc_width"])
    pause = STALL if stall else 0.0
    lanes = [env.source(f"s_axis_lane{k}", pause) for k in range(L)]
    wsrc, out = env.source("s_axis_w", pause), env.sink("m_axis", pause, side=("error",))
    kw = dict(lanes=L, brick=B, value_width=p["value_width"])
    for path, ld in exported_layers("cnv_unit", p):
        axis = ld["manifest"]["format_params"]["axis"]
        acts = np.moveaxis(ld["q"].astype(np.int64), axis, -1)
        acts = acts.reshape(-1, acts.shape[-1])
        k_len = acts.shape[1]
        counts = hex_words(path, ld, "counts")
        entries = hex_words(path, ld, "entries")
        windows = cnv.streams_from_zfnaf({"counts": counts}, k_len, entries=entries, **kw)
        lim = 1 << (p["weight_width"] - 1)
        w = env.rng.integers(-lim, lim, (F, k_len))
        for k, lane in enumerate(lanes):
            await lane.wait_idle(within=100_000)
        words = cnv.weight_words(w, weight_width=p["weight_width"])
        wsrc.send(Beat(x, i == len(words) - 1) for i, x in enumerate(words))
        await wsrc.wait_idle(within=100_000)
        seen, firsts = len(out.beats), [len(lane.sent) for lane in lanes]
        golden = [cnv.unit_window(s, w, acc_width=p["acc_width"], overflow=p["overflow"], **kw)
                  for s in windows]
        for streams in windows:
            for k, beats in enumerate(streams):
                lanes[k].send(Beat(b, i == len(beats) - 1) for i, b in enumerate(beats))
        steps = sum(g[2] for g in golden)
        await out.wait_for(seen + len(windows), within=20 * steps + 2000)
        got = out.beats[seen:seen + len(windows)]
        sums = [[to_signed(b.data >> (f * yf), yf) for f in range(F)] for b in got]
        label = f"{path.name} ({len(windows)} windows of K={k_len})"
        sb.compare(f"{label}: sums vs golden.cnv", sums, [g[0].tolist() for g in golden])
        sb.compare(f"{label}: sums vs the activations", sums,
                   [cnv.reference(a, w, lanes=L, brick=B, acc_width=p["acc_width"],
                                  overflow=p["overflow"]).tolist() for a in acts])
        sb.compare(f"{label}: error", [b.side["error"] for b in got], [0] * len(got))
        first = min((lane.sent[f] for lane, f in zip(lanes, firsts)), key=lambda b: b.cycle)
        model = steps + cnv.unit_latency(L)
        cycles = env.report(elements=int(acts.size), first=first, last=got[-1],
                            bound=None if stall else model, layer=ld["manifest"]["layer"],
                            lanes=L)
        if not stall:
            sb.equal(f"{label}: cycles first lane beat -> last output", cycles, model)
    sb.summary()
