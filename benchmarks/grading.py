"""Throughput of class grading, its cost over the floor, and the cost of grading on Dask.

    .venv/bin/python benchmarks/grading.py [--students 40] [--assignment convolution] [--no-dask] [--spawn]

Grades a class of mixed submissions (correct, stubs, catalogued mistakes) with 1
and with 2 local workers, then on a local Dask cluster of 2 single-threaded worker
processes (``autograder grade --scheduler``), and prints submissions per minute and
the median wall time per submission. The floor is what no grader can avoid:
``python -c "import torch"`` (each submission's worker starts one) plus the hidden
suite's own compute, measured by running the suite in this process against the
reference functions directly. Targets: per-submission time / floor <= 1.5 (issue 6);
Dask's wall time within 10% of the local pool's with the same 2 slots (issue 16).
Last, the expected time for 1,000 and 10,000 submissions on N workers, from the
measured time per submission. ``--spawn`` adds the local pool of 2 on the spawn path
(one interpreter per worker, ``AUTOGRADER_WORKERS=spawn``) beside the warm template's,
and their ratio.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from autograder.grading import harness  # noqa: E402
from autograder.classroom.batch import grade_class  # noqa: E402
from autograder.grading.grade import run_suite  # noqa: E402
from autograder.submission.load import LoadedSubmission  # noqa: E402
from autograder.sandbox.values import Reply
from autograder.sandbox.channel import StudentCode  # noqa: E402
from submissions import SOLUTIONS, stub_source, with_replacements  # noqa: E402
from submissions.catalogue import CATALOGUE  # noqa: E402


class InProcessReference(StudentCode):
    """Answers the suite's calls with the reference functions, in this process: the suite's bare compute."""

    def __init__(self, assignment: str):
        super().__init__(LoadedSubmission(path=""))
        self.module = importlib.import_module(f"solutions.{assignment}")

    def ensure_started(self):
        pass

    def call(self, name, *args, seed=0, timeout=None, module_probe=None, through_grader=None, blocks=(),
             keywords=None, **kwargs):
        from autograder.worker.serve import error_reply

        try:
            value, models = harness.run_locally(getattr(self.module, name), *args, seed=seed, keywords=keywords,
                                                **kwargs)
        except Exception as error:  # a test that expects an error (a ValueError for a kernel too large) sees it
            self._raise_error(error_reply(error, name)["error"])
        if module_probe is not None:
            from autograder.worker.serve import probe_module
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
    parser.add_argument("--no-dask", dest="dask", action="store_false", help="skip the Dask cluster")
    parser.add_argument("--spawn", action="store_true", help="also grade on the spawn path (the old baseline)")
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
        walls, per_submission = {}, {}
        runs = ([("spawn", 2)] if args.spawn else []) + [("local", 1), ("local", 2)] + ([("dask", 2)] if args.dask else [])
        for kind, workers in runs:
            out = Path(folder, f"out-{kind}{workers}")
            if kind == "spawn":
                os.environ["AUTOGRADER_WORKERS"] = "spawn"  # the pool's processes inherit it
            else:
                os.environ.pop("AUTOGRADER_WORKERS", None)
            cluster = client = None
            if kind == "dask":
                from distributed import Client, LocalCluster

                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
                client = Client(cluster)
            start = time.perf_counter()
            grade_class(submissions=class_folder, assignment=args.assignment, out=out,
                        workers=workers, scheduler=client)
            walls[kind, workers] = wall = time.perf_counter() - start
            if cluster is not None:
                client.close()
                cluster.close()
            per_submission[kind, workers] = statistics.median(json.loads(p.read_text())["duration_s"]
                                                              for p in out.glob("*/grading.json"))
            print(f"{kind + ' ' + str(workers):>7} {args.students:>8} {wall:>7.1f} {args.students / wall * 60:>9.1f} "
                  f"{per_submission[kind, workers]:>13.2f} {per_submission[kind, workers] / floor:>15.2f}")
    if args.spawn:
        print(f"\nLocal pool of 2, warm template / spawn path: wall {walls['local', 2] / walls['spawn', 2]:.3f}, "
              f"median per submission {per_submission['local', 2] / per_submission['spawn', 2]:.3f}")
    if args.dask:
        print(f"\nDask overhead: wall time on 2 Dask workers / on the local pool of 2 = "
              f"{walls['dask', 2] / walls['local', 2]:.3f} (target <= 1.10)")
        cost = per_submission["dask", 2]
        print(f"\nExpected wall time from the measured {cost:.2f} s per submission, one submission per worker at a "
              "time, scheduling overhead left out (it was inside the ratio above):")
        print(f"{'workers':>8} {'subs/min':>9} {'1,000 subs':>11} {'10,000 subs':>12}")
        for workers in (2, 8, 32, 128):
            print(f"{workers:>8} {workers * 60 / cost:>9.0f} {1000 * cost / workers / 60:>9.1f} min "
                  f"{10000 * cost / workers / 60:>9.1f} min")


if __name__ == "__main__":
    main()
