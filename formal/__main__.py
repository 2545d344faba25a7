"""``python -m formal [--fast] [-k TEXT] [--jobs N] [--list]``: run the formal checks and
print the table (top, property, method, depth, result, time).

Exit status 0 only if every check ended as expected: PASS for a property, FAIL for a
deliberately broken design (anti-vacuity rows, marked MUTANT).
"""

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from .harness import OUT_DIR, run
from .suite import all_checks, fast_checks


def table(results):
    head = ("top", "property", "method", "depth", "result", "time")
    rows = [(r.check.top, r.check.prop, r.check.method, str(r.check.depth),
             r.status + ("" if r.ok else f" (expected {r.check.expect})"), f"{r.seconds:.1f} s")
            for r in results]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(r) for r in rows])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m formal", description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="only the make-test subset")
    parser.add_argument("-k", dest="match", default="", help="only checks whose top or "
                        "property contains this text")
    parser.add_argument("--jobs", type=int, default=2, help="checks run at once (default 2)")
    parser.add_argument("--list", action="store_true", help="list the checks, run nothing")
    args = parser.parse_args(argv)

    checks = fast_checks() if args.fast else all_checks()
    checks = [c for c in checks if args.match in f"{c.top} {c.prop}"]
    if args.list:
        for c in checks:
            print(f"{c.top:14} {c.method:9} {c.depth:3}  {c.prop}")
        return 0
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = []
        for r in pool.map(run, checks):
            mark = "ok" if r.ok else "UNEXPECTED"
            print(f"  {r.status:7} {r.seconds:7.1f} s  {r.check.top}: {r.check.prop}  [{mark}]",
                  flush=True)
            results.append(r)
    print()
    print(table(results))
    bad = [r for r in results if not r.ok]
    print(f"\n{len(results) - len(bad)} of {len(results)} checks as expected in "
          f"{time.monotonic() - start:.0f} s (logs: {OUT_DIR}/<top>__<property>/)")
    for r in bad:
        print(f"\nUNEXPECTED {r.status}: {r.check.top}: {r.check.prop}\n" +
              "\n".join(l for l in r.log.splitlines()
                        if "failed" in l or "ERROR" in l or "Assert" in l)[-2000:])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
