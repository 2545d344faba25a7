"""``python -m e2e [--quick N]``: the end-to-end flow (see :mod:`e2e`)."""
import argparse
import json
import sys
from pathlib import Path

from pruning.progress import Progress

from . import flow, report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m e2e", description=(
        "Train, prune, quantise and export the digits ConvNet, then run every layer on its "
        "block in Verilator and compare with the golden integer model."))
    ap.add_argument("--quick", type=int, metavar="N",
                    help="only the first N held-out test images (default: all 449)")
    ap.add_argument("--threshold", type=int, default=0,
                    help="Cnvlutin threshold T on conv2's input activations (default 0)")
    ap.add_argument("--out", default="build/e2e", help="exports, work lists, table, picture")
    ap.add_argument("--cache", default="build/e2e",
                    help="where the trained network is cached (default build/e2e)")
    ap.add_argument("--no-hardware", action="store_true",
                    help="golden model and cycle models only (no Verilator)")
    ap.add_argument("--no-plot", action="store_true", help="skip the PNG (needs matplotlib)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    try:
        res = flow.run(args.quick, threshold=args.threshold, out_dir=out,
                       cache_dir=Path(args.cache), hardware=not args.no_hardware,
                       bar_factory=lambda total: Progress(total, "hardware (6 layers)"),
                       log=lambda m: print(m, flush=True))
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = report.format_table(res)
    print()
    print(table)
    (out / "table.txt").write_text(table + "\n")
    (out / "table.json").write_text(json.dumps(report.layer_rows(res), indent=1) + "\n")
    if not args.no_plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("note: matplotlib missing (pip install '.[data]'): no picture")
        else:
            png = out / "e2e.png"
            report.plot(res, report.threshold_sweep(res, res["model"]), png)
            print(f"picture: {png}")
    bad = "hardware" in res and (res["disagree"] or res["problems"]
                                 or any(res["layer_mismatch"].values()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
