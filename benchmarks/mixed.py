"""A large mixed class across every assignment, graded as a TA would: wall time in all, per assignment, per submission.

    .venv/bin/python benchmarks/mixed.py [--students 1000] [--workers 2] [--spawn-sample 0]

Builds ``--students`` submissions spread evenly over the assignments (each a quarter correct, a quarter the stub,
half catalogued mistakes, as benchmarks/grading.py builds them), grades each assignment's class with
``--workers`` local workers (the warm template, as `autograder grade` does), and prints a table: submissions,
wall seconds and median seconds per submission per assignment, then the total against the issue's target
(1,000 mixed submissions in under 10 minutes on 2 cores). ``--spawn-sample N`` grades N submissions of each
assignment again on the spawn path (one interpreter per worker), side by side, for the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading import build_class  # noqa: E402

from autograder.classroom.batch import grade_class  # noqa: E402
from autograder.course.assignments import ASSIGNMENTS  # noqa: E402


def grade(folder: Path, assignment: str, students: int, workers: int, label: str) -> tuple[float, float]:
    class_folder = folder / f"{label}-{assignment}"
    class_folder.mkdir()
    build_class(class_folder, assignment, students)
    out = folder / f"{label}-{assignment}-out"
    started = time.perf_counter()
    grade_class(submissions=class_folder, assignment=assignment, out=out, workers=workers)
    wall = time.perf_counter() - started
    durations = [json.loads(path.read_text())["duration_s"] for path in out.glob("*/grading.json")]
    assert len(durations) == students, f"{assignment}: {len(durations)} results for {students} submissions"
    return wall, statistics.median(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--spawn-sample", type=int, default=0)
    args = parser.parse_args()
    assignments = sorted(ASSIGNMENTS)
    share = [args.students // len(assignments) + (index < args.students % len(assignments))
             for index in range(len(assignments))]
    rows, total = [], 0.0
    with tempfile.TemporaryDirectory() as folder:
        for assignment, students in zip(assignments, share):
            wall, median = grade(Path(folder), assignment, students, args.workers, "template")
            total += wall
            row = [assignment, students, wall, median]
            if args.spawn_sample:
                os.environ["AUTOGRADER_WORKERS"] = "spawn"
                try:
                    spawn_wall, spawn_median = grade(Path(folder), assignment, args.spawn_sample, args.workers,
                                                     "spawn")
                finally:
                    os.environ.pop("AUTOGRADER_WORKERS")
                row += [spawn_median, median / spawn_median]
            rows.append(row)
            print(*row, sep="\t", flush=True)
    spawn_columns = " spawn median s/sub | template / spawn |" if args.spawn_sample else ""
    print(f"\n| assignment | submissions | wall s | median s/sub |{spawn_columns}\n|---|---|---|---|"
          + ("---|---|" if args.spawn_sample else ""))
    for row in rows:
        cells = [row[0], str(row[1]), f"{row[2]:.1f}", f"{row[3]:.2f}"] + [f"{value:.2f}" for value in row[4:]]
        print("| " + " | ".join(cells) + " |")
    print(f"\n{args.students} mixed submissions on {args.workers} workers: {total:.0f} s "
          f"({total / 60:.1f} min; target: under 10 min on 2 cores)")


if __name__ == "__main__":
    main()
