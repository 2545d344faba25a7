"""Plain-text tables for the make sim summary and make bench, narrow enough for a terminal.

Tables have one row per figure, numbers right-aligned; rows of one bench sit under a title
line of their own (:func:`print_sections`) rather than repeating the bench in a column.
A table wider than ``WIDTH`` columns is printed as several tables, one under the other,
each repeating the first column (the row's name) with as many further columns as fit.
"""

import sys

__all__ = ["print_table", "print_sections", "cell", "metric_rows", "short_test_name", "WIDTH"]

WIDTH = 100         # a terminal's worth of columns


def cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _layout(header, rows):
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [header, *cells]) for i in range(len(header))]
    # A column is right-aligned when every value in it is a number (or missing).
    right = [bool(rows) and all(_is_number(row[i]) or row[i] in (None, "-", "FAIL")
                                for row in rows)
             for i in range(len(header))]
    return cells, widths, right


def _line(values, widths, right):
    return "  ".join((str(v).rjust(w) if r else str(v).ljust(w))
                     for v, w, r in zip(values, widths, right)).rstrip()


def print_table(header, rows, out=sys.stdout, width=WIDTH):
    """Columns under ``header``; ``rows`` are sequences of any values."""
    print_sections(header, [(None, rows)], out=out, width=width)


def _column_groups(widths, budget):
    """Split columns 1.. into groups that fit ``budget`` next to column 0."""
    groups, current, used = [], [], widths[0]
    for i in range(1, len(widths)):
        if current and used + 2 + widths[i] > budget:
            groups.append(current)
            current, used = [], widths[0]
        current.append(i)
        used += 2 + widths[i]
    return groups + [current] if current else groups or [[]]


def print_sections(header, sections, out=sys.stdout, indent=2, width=WIDTH):
    """One table whose rows come in titled sections: ``sections`` is ``[(title, rows)]``.

    Each title stands on its own line and its rows are indented under it; columns are
    aligned across all sections.  A None title prints the rows without a title line.
    Wider than ``width``: several such tables, each with column 0 and the columns that fit.
    """
    all_rows = [row for _, rows in sections for row in rows]
    pad = " " * indent if any(title for title, _ in sections) else ""
    _, widths, _ = _layout(header, all_rows)
    groups = _column_groups(widths, width - len(pad))
    for n, group in enumerate(groups):
        if n:
            print(file=out)
        keep = [0, *group]
        _print_sections([header[i] for i in keep],
                        [(t, [[row[i] for i in keep] for row in rows]) for t, rows in sections],
                        out, pad)


def _print_sections(header, sections, out, pad):
    all_rows = [row for _, rows in sections for row in rows]
    cells, widths, right = _layout(header, all_rows)
    print(pad + _line(header, widths, [False] * len(header)), file=out)
    print(pad + _line(["-" * w for w in widths], widths, [False] * len(header)), file=out)
    it = iter(cells)
    for title, rows in sections:
        if title:
            print(title, file=out)
        for _ in rows:
            print(pad + _line(next(it), widths, right), file=out)


def short_test_name(name, drop=()):
    """A cocotb test name without the parametrisations in ``drop`` (e.g. ``stall=False``
    when a table shows only those)."""
    return "/".join(part for part in name.split("/") if part not in drop)


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
