"""nbgrader's own autograde against `autograder grade` on the same nbgrader course.

    .venv/bin/python benchmarks/nbgrader_autograde.py [--students 4] [--assignment convolution]

Builds a course in a temporary folder (`autograder release`, then one submitted
notebook per student in nbgrader's collect layout: the release notebook filled with
the reference), then times:
- `nbgrader autograde ASSIGNMENT`: nbgrader's own pipeline, one notebook at a time, with its
  kernel step replaced by GradeInSandbox (the course config's `configure_course`);
- `autograder grade COURSE --out DIR --nbgrader`: grades in parallel in the sandbox, then runs
  the same nbgrader pipeline from the saved results.

Both fill nbgrader's gradebook; the table shows the time per student and the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from autograder.platforms.nbgrader.release import release  # noqa: E402
from test_release import filled_with_reference  # noqa: E402


def build_course(folder: Path, assignment: str, students: int) -> list[str]:
    (folder / "assignments").mkdir(parents=True)
    shutil.copytree(ROOT / "assignments" / assignment, folder / "assignments" / assignment)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    release(course_root=folder, assignments=[assignment])
    names = [f"student{index:02d}" for index in range(students)]
    for name in names:
        target = folder / "submitted" / name / assignment
        target.mkdir(parents=True)
        shutil.copytree(ROOT / "release" / assignment, target, dirs_exist_ok=True)
        filled_with_reference(assignment, target / f"{assignment}.ipynb")
        (target / "timestamp.txt").write_text("2026-11-24 12:00:00.000000 UTC")
    return names


def timed(command: list[str], cwd: Path) -> float:
    started = time.monotonic()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--assignment", default="convolution")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as temporary:
        course = Path(temporary) / "course"
        names = build_course(course, args.assignment, args.students)
        for name in names:
            subprocess.run([str(bin_dir / "nbgrader"), "db", "student", "add", name], cwd=course, check=True,
                           capture_output=True)
        nbgrader_s = timed([str(bin_dir / "nbgrader"), "autograde", args.assignment], cwd=course)
        ours_s = timed([sys.executable, "-m", "autograder.cli", "grade", str(course), "-a", args.assignment,
                        "--out", str(course / "grades"), "--nbgrader", "--force"], cwd=course)
    print(f"\n{args.students} students, assignment {args.assignment}, this machine\n")
    print("| grader | wall time | per student | ratio |")
    print("|---|---|---|---|")
    print(f"| nbgrader autograde (GradeInSandbox, one at a time) | {nbgrader_s:.1f} s | "
          f"{nbgrader_s / args.students:.1f} s | {nbgrader_s / ours_s:.2f} |")
    print(f"| autograder grade --nbgrader (2 workers, then nbgrader's pipeline) | {ours_s:.1f} s | "
          f"{ours_s / args.students:.1f} s | 1.00 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
