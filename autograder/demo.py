"""`make demo`: grade the bundled class of every assignment and print the gradebooks."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from autograder.classroom.batch import grade_class
from autograder.reports.class_report import write_index
from autograder.course.assignments import PROJECT_ROOT
from autograder.course.assignments import ASSIGNMENTS


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
    ta_trial(Path(out) / "ta-trial", console)
    return 0


RENAMES = {"img": "picture", "kernel": "weights", "total": "acc", "height": "n_rows", "width": "n_cols"}


def ta_trial(folder: Path, console) -> None:
    """What a TA does next, on the convolution class plus a duplicate, a renamed copy and a late submission:
    grade with a roster and a late policy, export for Canvas. Written to ``folder`` (class, grades, CSVs)."""
    import csv
    import re
    import shutil

    from autograder.classroom.gradebook import export
    from autograder.classroom.late import policy_from_options
    from autograder.classroom.roster import Roster

    class_folder = folder / "class"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(PROJECT_ROOT / "examples" / "submissions" / "convolution", class_folder)
    correct = (class_folder / "correct.py").read_text()
    (class_folder / "copied_from_correct.py").write_text(correct)
    renamed = correct
    for old, new in RENAMES.items():
        renamed = re.sub(rf"\b{old}\b", new, renamed)
    (class_folder / "renamed_copy.py").write_text(renamed.replace("# ", "# (reworded) "))
    students = sorted(path.stem for path in class_folder.glob("*.py"))
    with open(folder / "roster.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "id", "name", "sis_user_id", "sis_login_id", "section"])
        for number, student in enumerate([*students, "no_show"], 1):
            writer.writerow([student, 1000 + number, f"Student {number}", f"SIS{number:03d}", student, "A"])
    with open(folder / "submitted-at.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "submitted_at"])
        for student in students:  # renamed_copy came in 2 days 10 hours after the due date (3 started days)
            writer.writerow([student, "2026-11-23 10:00" if student == "renamed_copy" else "2026-11-20 18:00"])
    summary = grade_class(submissions=class_folder, assignment="convolution", out=folder / "grades", force=True,
                          roster=Roster.read(folder / "roster.csv"),
                          late=policy_from_options(due="2026-11-20 23:59", penalty="10%", cap=30,
                                                   submitted_at=str(folder / "submitted-at.csv")))
    canvas, _, _ = export(folder / "grades", "canvas")
    late = [saved for saved in summary.results if saved["late"]["days_late"]]
    pairs = summary.similarity.pairs[:3] if summary.similarity else []
    leads = summary.similarity.dynamic if summary.similarity else []
    console.print(f"TA trial ({folder}): {len(summary.results)} submissions and {len(summary.missing)} roster "
                  f"student without one; late: "
                  + ", ".join(f"{s['student']} {s['late']['score_before']:g} -> {s['late']['score_after']:g}"
                              for s in late)
                  + "; most alike: " + "; ".join(f"{p.first} and {p.second} ({min(p.similarity):.0%})" for p in pairs)
                  + "; code that builds itself at run time: " + (", ".join(lead.student for lead in leads) or "none")
                  + f". Canvas file: {canvas}", markup=False)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
