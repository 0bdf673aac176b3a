"""`make demo`: grade the bundled class of every assignment and print the gradebooks."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from autograder.batch import grade_class
from autograder.report import write_index
from autograder.sandbox import PROJECT_ROOT
from autograder.suites import ASSIGNMENTS


def main(out: str = "demo-output") -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    started = time.monotonic()
    results = {}
    for assignment, questions in ASSIGNMENTS.items():
        class_folder = PROJECT_ROOT / "examples" / "submissions" / assignment
        summary = grade_class(submissions=class_folder, assignment=assignment, out=Path(out) / assignment,
                              force=True)
        results[assignment] = summary.results
        table = Table(title=f"{assignment}: gradebook ({Path(out) / assignment / 'gradebook.csv'})")
        for column in ("student", *questions, "total", "status"):
            table.add_column(column, justify="left" if column in ("student", "status") else "right")
        for row in summary.rows:
            table.add_row(row["student"], *(f"{row[q]:g}/{points}" for q, points in questions.items()),
                          f"{row['total']:g}/{row['max_score']:g}", row["status"])
        console.print(table)
    index = write_index(out, results)
    console.print(f"graded {sum(1 for _ in Path(out).glob('*/*/grading.json'))} submissions in "
                  f"{time.monotonic() - started:.0f} s. Class reports: {index} (one per assignment in "
                  f"{out}/<assignment>/report.html); feedback: {out}/<assignment>/<student>/feedback.html")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
