"""Wall time of one full hidden suite, per assignment, for a correct, a stub and a buggy submission.

    .venv/bin/python benchmarks/grading_suites.py [--repeat 3]

Target (issue 4): under 10 s per submission on 2 cores. The floor column is the
time to start a worker (``python -c "import torch"``): most of a suite's cost.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from autograder.grading.grade import grade_submission  # noqa: E402
from autograder.course.assignments import ASSIGNMENTS  # noqa: E402
from submissions import SOLUTIONS, stub_source, with_replacements  # noqa: E402
from submissions.catalogue import CATALOGUE  # noqa: E402


def import_torch_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    floor = statistics.median(import_torch_seconds() for _ in range(args.repeat))
    print(f"floor: python -c 'import torch' = {floor:.2f} s (median of {args.repeat})\n")
    print(f"{'assignment':<16} {'submission':<36} {'score':>9} {'median s':>9} {'max s':>7} {'/ floor':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for assignment in ASSIGNMENTS:
            mistake = next(m for m in CATALOGUE if m.assignment == assignment)
            stub = Path(folder, f"{assignment}_stub.py")
            stub.write_text(stub_source(assignment))
            buggy = Path(folder, f"{mistake.name}.py")
            buggy.write_text(with_replacements(assignment, mistake.replacements))
            for label, path in (("reference", SOLUTIONS / f"{assignment}.py"), ("stub", stub),
                                (f"mistake: {mistake.name}", buggy)):
                times, result = [], None
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    result = grade_submission(path, assignment)
                    times.append(time.perf_counter() - start)
                median = statistics.median(times)
                print(f"{assignment:<16} {label:<36} {result.score:>4g}/{result.max_score:<4g} {median:>9.2f} "
                      f"{max(times):>7.2f} {median / floor:>8.1f}")


if __name__ == "__main__":
    main()
