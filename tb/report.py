"""Plain-text tables for the make sim summary and make bench."""

import sys

__all__ = ["print_table", "cell", "metric_rows"]


def cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_table(header, rows, out=sys.stdout):
    """Left-aligned columns under ``header``; ``rows`` are sequences of any values."""
    rows = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*header), file=out)
    print(line.format(*("-" * w for w in widths)), file=out)
    for row in rows:
        print(line.format(*row), file=out)


def metric_rows(bench, result):
    """One dict per figure a bench's tests recorded (a test without figures still gets a
    row): bench, test, result, elements, cycles, bound, rate (elements per clock) and the
    raw metrics under ``"metrics"``; the make sim summary and make bench format them."""
    for test in result.tests:
        for m in test.metrics or [{}]:
            elements, cycles = m.get("elements"), m.get("cycles")
            yield {
                "bench": bench.id, "test": test.name,
                "result": "PASS" if test.passed else "FAIL",
                "elements": elements, "cycles": cycles, "bound": m.get("bound"),
                "rate": elements / cycles if elements and cycles else None,
                "metrics": m,
            }
