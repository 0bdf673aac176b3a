"""Throughput of class grading, and its cost over the floor.

    .venv/bin/python benchmarks/grading.py [--students 40] [--assignment convolution]

Grades a class of mixed submissions (correct, stubs, catalogued mistakes) with 1
and with 2 workers and prints submissions per minute and the median wall time per
submission. The floor is what no grader can avoid: ``python -c "import torch"``
(each submission's worker starts one) plus the hidden suite's own compute, measured
by running the suite in this process against the reference functions directly.
Target (issue 6): per-submission time / floor <= 1.5.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from autograder import harness  # noqa: E402
from autograder.batch import grade_class  # noqa: E402
from autograder.grade import run_suite  # noqa: E402
from autograder.load import LoadedSubmission  # noqa: E402
from autograder.sandbox import Reply, StudentCode  # noqa: E402
from submissions import SOLUTIONS, stub_source, with_replacements  # noqa: E402
from submissions.catalogue import CATALOGUE  # noqa: E402


class InProcessReference(StudentCode):
    """Answers the suite's calls with the reference functions, in this process: the suite's bare compute."""

    def __init__(self, assignment: str):
        super().__init__(LoadedSubmission(path=""))
        self.module = importlib.import_module(f"solutions.{assignment}")

    def ensure_started(self):
        pass

    def call(self, name, *args, seed=0, record_ops=False, timeout=None, module_probe=None, **kwargs):
        value, models = harness.run_locally(getattr(self.module, name), *args, seed=seed, **kwargs)
        if module_probe is not None:
            from autograder.worker import probe_module
            value = probe_module(value, module_probe)
        return Reply(value=value, args_after=list(args), models=models)

    def get(self, name):
        return getattr(self.module, name)


def build_class(folder: Path, assignment: str, students: int) -> None:
    mistakes = [m for m in CATALOGUE if m.assignment == assignment]
    for index in range(students):
        kind = index % 4
        if kind == 0:
            text = (SOLUTIONS / f"{assignment}.py").read_text()
        elif kind == 1:
            text = stub_source(assignment)
        else:
            mistake = mistakes[index % len(mistakes)]
            text = with_replacements(assignment, mistake.replacements)
        (folder / f"student{index:03d}.py").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--assignment", default="convolution")
    args = parser.parse_args()

    imports = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        imports.append(time.perf_counter() - start)
    import_torch = statistics.median(imports)
    run_suite(InProcessReference(args.assignment), args.assignment)  # warm up imports and collection
    start = time.perf_counter()
    plugin = run_suite(InProcessReference(args.assignment), args.assignment)
    suite_compute = time.perf_counter() - start
    assert all(r.status in ("passed", "skipped") for r in plugin.results), "reference must pass in-process"
    floor = import_torch + suite_compute
    print(f"floor = import torch {import_torch:.2f} s + suite compute {suite_compute:.2f} s = {floor:.2f} s\n")

    print(f"{'workers':>7} {'students':>8} {'wall s':>7} {'subs/min':>9} {'median s/sub':>13} {'ratio to floor':>15}")
    with tempfile.TemporaryDirectory() as folder:
        class_folder = Path(folder, "class")
        class_folder.mkdir()
        build_class(class_folder, args.assignment, args.students)
        for workers in (1, 2):
            out = Path(folder, f"out{workers}")
            start = time.perf_counter()
            grade_class(submissions=class_folder, assignment=args.assignment, out=out, workers=workers)
            wall = time.perf_counter() - start
            per_submission = statistics.median(json.loads(p.read_text())["duration_s"]
                                               for p in out.glob("*/grading.json"))
            print(f"{workers:>7} {args.students:>8} {wall:>7.1f} {args.students / wall * 60:>9.1f} "
                  f"{per_submission:>13.2f} {per_submission / floor:>15.2f}")
    print("\nnbgrader autograde comparison: not measured (the nbgrader release issue has not landed).")


if __name__ == "__main__":
    main()
