"""The students' public checks, outside Jupyter: ``autograder check NOTEBOOK``.

Each assignment ships otter-grader test files in ``tests/<question>.py`` beside its
notebook; inside the notebook ``grader.check(question)`` runs them. Here the same
files run through otter's own ``ExceptionTestFile`` against the definitions that the
grader would load from the notebook (``autograder.submission.load``).

This runs the student's code in this process, without the sandbox: it is a tool for
students on their own notebook. Grading (``autograder grade``) never does this.
"""

from __future__ import annotations

import contextlib
import io
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from autograder.submission.load import load_submission
from autograder.course.assignments import PROJECT_ROOT, ASSIGNMENTS, GRADED_CONSTANTS


@dataclass
class PublicCheck:
    question: str
    points: float              # the points the public check protects
    passed: bool
    messages: list[str] = field(default_factory=list)  # one per failing test case


def public_test_file(tests_dir: Path, question: str) -> Path:
    return Path(tests_dir) / f"{question}.py"


def run_checks(env: dict, assignment: str, tests_dir: str | Path) -> list[PublicCheck]:
    """Run every public test file of ``assignment`` in ``tests_dir`` against the namespace ``env``."""
    from otter.test_files.exception_test import ExceptionTestFile

    checks = []
    for question in ASSIGNMENTS[assignment]:
        path = public_test_file(Path(tests_dir), question)
        if not path.exists():
            continue
        test_file = ExceptionTestFile.from_file(str(path))
        with contextlib.redirect_stdout(io.StringIO()):  # the student's prints are not the check's result
            test_file.run(env)
        checks.append(PublicCheck(question=question, points=float(test_file.possible), passed=test_file.passed_all,
                                  messages=[result.message for result in test_file.test_case_results
                                            if not result.passed]))
    return checks


def definitions(notebook: str | Path, assignment: str) -> tuple[dict, list[str]]:
    """Run the notebook's graded definitions (as the grader selects them) in a fresh namespace.

    Returns the namespace and the errors raised while defining, one line each.
    """
    loaded = load_submission(notebook, keep_names=GRADED_CONSTANTS.get(assignment, ()))
    env: dict = {"__name__": "__main__"}
    errors = []
    folder = Path(notebook).resolve().parent
    previous = os.getcwd()
    os.chdir(folder)  # helpers beside the notebook (course_data.py) import as they do in Jupyter
    try:
        for chunk in loaded.chunks:
            try:
                exec(compile(chunk.code, f"{Path(notebook).name} ({chunk.label})", "exec"), env)
            except Exception as error:
                last = traceback.format_exception_only(type(error), error)[-1].strip()
                errors.append(f"{chunk.label}: {last}")
    finally:
        os.chdir(previous)
    errors.extend(f"{name}: {why}" for name, why in loaded.broken.items())
    return env, errors


def find_tests_dir(notebook: Path, assignment: str) -> Path:
    """``tests/`` beside the notebook (a student's release folder), else the course's own copy."""
    beside = notebook.resolve().parent / "tests"
    if beside.is_dir():
        return beside
    course_copy = PROJECT_ROOT / "release" / assignment / "tests"
    if course_copy.is_dir():
        return course_copy
    raise FileNotFoundError(f"no public tests found: expected a tests/ folder beside {notebook.name}")


def assignment_for(notebook: Path, assignment: str | None) -> str:
    if assignment:
        return assignment
    if notebook.stem in ASSIGNMENTS:
        return notebook.stem
    raise ValueError(f"cannot tell the assignment from the name {notebook.name}; pass --assignment "
                     f"({', '.join(ASSIGNMENTS)})")
