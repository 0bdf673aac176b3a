"""What the hidden-test region of a source notebook's test cell calls: grade one question, return its points.

nbgrader restores hidden tests into each student's notebook when it autogrades,
runs them in the student's kernel, and reads a test cell's last value as partial
credit (``nbgrader.utils.determine_grade``). So ``hidden_points`` grades the code
this kernel has run so far with the same hidden suite, sandbox and limits as
``autograder grade``, and returns the points: nbgrader's score for the cell is
then the score ``autograder grade`` gives for that question.

The grading runs in a subprocess: pytest and the worker stay out of the kernel,
and nothing is written to the kernel's stderr (nbgrader gives a test cell that
wrote to stderr zero points).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.suites import ASSIGNMENTS


def _cells_run_so_far() -> list[str]:
    """The raw source of every cell this kernel has executed, in order, without the current one."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("hidden_points grades the cells run in a Jupyter kernel; outside one, use "
                           "`autograder grade NOTEBOOK --assignment A --question Q`")
    return list(shell.history_manager.input_hist_raw[1:-1])


def hidden_points(assignment: str, question: str, *, call_timeout: float = 10.0) -> float:
    """Grade ``question`` on the definitions run so far in this kernel; print each test; return the points."""
    import nbformat

    if question not in ASSIGNMENTS.get(assignment, {}):
        raise KeyError(f"unknown question {assignment}/{question}")
    with tempfile.TemporaryDirectory(prefix="hidden-tests-") as folder:
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(source) for source in _cells_run_so_far()]
        submission = Path(folder) / "kernel.ipynb"
        nbformat.write(notebook, str(submission))
        results = Path(folder) / "results.json"
        run = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(submission), "-a", assignment,
                              "-q", question, "--timeout", str(call_timeout), "--json", str(results)],
                             capture_output=True, text=True)
        if run.returncode != 0 or not results.exists():
            # Printed to stdout on purpose: a grader failure must not read as the student's error.
            print(f"internal grading error (exit {run.returncode}); the staff must look at it:\n"
                  f"{run.stderr[-2000:]}")
            return 0.0
        report = json.loads(results.read_text())
    for test in report["tests"]:
        if test["max_score"] == 0:  # a 0-point check, e.g. a GPU test skipped without CUDA
            print(f"· not scored  {test['name']}" + (f" ({test['output']})" if test["output"] else ""))
            continue
        mark = "✓" if test["score"] == test["max_score"] else "✗"
        print(f"{mark} {test['score']:g}/{test['max_score']:g}  {test['name']}")
        if mark == "✗" and test["output"]:
            print("    " + test["output"].replace("\n", "\n    "))
    return float(report["score"])
