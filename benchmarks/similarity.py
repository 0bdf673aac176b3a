"""The similarity report for a large class: time to compare, time to write report.html, its size, and the
time a browser takes to load it.

    .venv/bin/python benchmarks/similarity.py [--students 300] [--assignment conv_gradients]

Two classes of N students each:
- **mixed**: each student's graded functions are drawn, function by function, from the reference and the
  catalogued mistakes of that function, then their local names are renamed at random and a helper of
  their own is added (no graded function calls it, so it is parsed and followed but not compared); five
  pairs are exact duplicates and five are renamed copies (planted).
- **worst case**: every student is the reference with renamed names, so nearly every pair is alike.
Prints one table; compare the rows as ratios (the machine is noisy).
"""

from __future__ import annotations

import argparse
import ast
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from autograder.classroom.batch import discover  # noqa: E402
from autograder.reports.class_report import class_statistics, render_report  # noqa: E402
from autograder.classroom.similarity import find_similar  # noqa: E402
from submissions import reference_source, with_replacements  # noqa: E402
from submissions.catalogue import CATALOGUE  # noqa: E402

WORDS = ["acc", "buf", "tmp", "grad", "res", "val", "out", "cur", "step", "delta", "part", "tot", "k2", "z"]


def renamed(source: str, rng: random.Random) -> str:
    """Every local name of every function renamed at random (what copying and renaming looks like)."""
    tree = ast.parse(source)
    for function in [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]:
        names = {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        names |= {a.arg for a in function.args.args}
        mapping = {name: f"{rng.choice(WORDS)}_{rng.randrange(1000)}" for name in names}
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and node.id in mapping:
                node.id = mapping[node.id]
            elif isinstance(node, ast.arg) and node.arg in mapping:
                node.arg = mapping[node.arg]
    return ast.unparse(tree)


def own_helper(rng: random.Random, index: int) -> str:
    body = "\n".join(f"    x = x * {rng.randrange(2, 9)} + {rng.randrange(100)}" for _ in range(rng.randrange(3, 9)))
    return f"\n\ndef helper_{index}(x):\n{body}\n    return x\n"


def mixed_class(folder: Path, assignment: str, count: int, rng: random.Random) -> None:
    by_function: dict[str, list[str]] = {}
    for mistake in CATALOGUE:
        if mistake.assignment == assignment:
            for name, body in mistake.replacements.items():
                by_function.setdefault(name, []).append(body)
    for index in range(count - 10):
        chosen = {name: rng.choice(bodies + [None]) for name, bodies in by_function.items()}
        source = with_replacements(assignment, {n: b for n, b in chosen.items() if b})
        (folder / f"student{index:03d}.py").write_text(renamed(source, rng) + own_helper(rng, index))
    for pair in range(5):  # planted: exact duplicates, and copies with every name renamed
        original = (folder / f"student{pair:03d}.py").read_text()
        (folder / f"duplicate{pair}.py").write_text(original)
        (folder / f"renamed{pair}.py").write_text(renamed((folder / f"student{pair + 5:03d}.py").read_text(), rng))


def worst_class(folder: Path, assignment: str, count: int, rng: random.Random) -> None:
    for index in range(count):
        (folder / f"student{index:03d}.py").write_text(renamed(reference_source(assignment), rng))


def browser_load_seconds(page: Path) -> float | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        return None
    started = time.monotonic()
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                   capture_output=True, timeout=120)
    return time.monotonic() - started


def measure(kind: str, folder: Path, assignment: str) -> dict:
    submissions = discover(folder, assignment)
    started = time.monotonic()
    report = find_similar(submissions, assignment)
    compare_s = time.monotonic() - started
    started = time.monotonic()
    results = [{"student": s.student, "assignment": assignment, "status": "ok", "score": 0.0, "tests": []}
               for s in submissions]
    page = folder / "report.html"
    page.write_text(render_report(class_statistics(assignment, results), {"totals": "", "questions": "",
                                                                            "tests": ""}, {},
                                  results=results, similarity=report))
    render_s = time.monotonic() - started
    planted = [f"{p.first}-{p.second}" for p in report.pairs[:10]]
    return {"class": kind, "students": len(submissions), "pairs above": report.above_threshold,
            "listed": len(report.pairs),
            "planted in top 10": sum(("duplicate" in name or "renamed" in name) for name in planted),
            "compare s": compare_s, "report s": render_s, "report KiB": page.stat().st_size / 1024,
            "browser load s": browser_load_seconds(page)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--assignment", default="conv_gradients")
    args = parser.parse_args()
    rng = random.Random(0)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for kind, build in (("mixed", mixed_class), ("worst case", worst_class)):
            folder = Path(scratch) / kind.replace(" ", "_")
            folder.mkdir()
            build(folder, args.assignment, args.students, rng)
            rows.append(measure(kind, folder, args.assignment))
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"similarity report, {args.assignment}, {args.students} students")
    for column in rows[0]:
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in rows:
        table.add_row(*(("-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value))
                        for value in row.values()))
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
