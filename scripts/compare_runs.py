"""Compare two executions of a notebook the way the tests do (mmtheory.tolerance) and report the largest
differences: ``python scripts/compare_runs.py A.ipynb B.ipynb``.

For each code cell: whether its outputs agree within the book's tolerance (words exactly, numbers within
RTOL/ATOL or one unit of the last printed digit) and the largest relative difference between the numbers
both print. Exit status 1 when a cell does not agree.
"""

from __future__ import annotations

import argparse
import sys

import nbformat

from mmtheory.tolerance import first_difference, number_pairs

SKIP = {"image/png", "image/jpeg", "image/svg+xml"}


def _texts(cell) -> list[str]:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o.get("text", ""))
        for key, value in (o.get("data") or {}).items():
            if key not in SKIP and isinstance(value, str):
                out.append(value)
    return out


def compare(a: str, b: str) -> tuple[int, float, str]:
    """(cells that disagree, largest relative difference, a line describing it)."""
    nb_a, nb_b = nbformat.read(a, 4), nbformat.read(b, 4)
    cells_a = [c for c in nb_a.cells if c.cell_type == "code"]
    cells_b = [c for c in nb_b.cells if c.cell_type == "code"]
    bad, worst, where = 0, 0.0, ""
    for i, (ca, cb) in enumerate(zip(cells_a, cells_b)):
        ta, tb = _texts(ca), _texts(cb)
        for x, y in zip(ta, tb):
            diff = first_difference(x, y)
            if diff:
                bad += 1
                print(f"cell {i}: {diff}")
            for p, q in number_pairs(x, y):
                if p != q and max(abs(p), abs(q)) > 1e-9:
                    rel = abs(p - q) / max(abs(p), abs(q))
                    if rel > worst:
                        worst, where = rel, f"cell {i}: {p!r} vs {q!r}"
        if len(ta) != len(tb):
            bad += 1
            print(f"cell {i}: {len(ta)} vs {len(tb)} outputs")
    return bad, worst, where


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    args = parser.parse_args(argv)
    bad, worst, where = compare(args.a, args.b)
    print(f"{bad} output(s) beyond tolerance; largest relative difference {worst:.3g} ({where or 'none'})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
