"""Grade one submission: load it, start its worker, run the hidden suite, collect typed results."""

from __future__ import annotations

import contextlib
import io
import sys
import time
import traceback
from pathlib import Path

import pytest

from autograder.sandbox.failures import GradingFailure, StudentFailure, StudentTimeout
from autograder.submission.load import LoadedSubmission, SubmissionError, load_submission
from autograder.grading.results import INTERNAL_ERROR, SubmissionResult, TestCaseResult
from autograder.sandbox.isolation import Isolation
from autograder.sandbox.limits import Limits
from autograder.sandbox.channel import StudentCode
from autograder.course.assignments import ASSIGNMENTS, GRADED_CONSTANTS, SUITES_DIR, WORKER_BLOCKS, suite_dir


class InvalidCode(StudentFailure):
    """The submission could not be read, so none of its code runs."""


class InvalidSubmission(StudentCode):
    """Stands in for a submission that could not be read: every call fails with the same message."""

    def __init__(self, message: str):
        super().__init__(LoadedSubmission(path=""))
        self.load_failure = InvalidCode(message)


class GradingPlugin:
    """A pytest plugin: provides the ``student`` fixture and turns reports into TestCaseResults."""

    def __init__(self, code: StudentCode):
        self.code = code
        self.results: list[TestCaseResult] = []
        self.internal_errors: list[str] = []

    @pytest.fixture
    def student(self):
        return self.code

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        # The course's answers to a helper (through_grader) are never graded as that helper's own: run_suite
        # grades questions in the manifest's order, helpers first, and this holds the suites to it.
        question = item.path.stem.removeprefix("test_")
        if question in self.code.answered:
            raise RuntimeError(f"{question} is graded after the grader answered its calls through the grader "
                               "(the suite's order): its answers could be replayed")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._record(item, call, report)

    def _record(self, item, call, report) -> None:
        marker = item.get_closest_marker("points")
        points = float(marker.args[0]) if marker else 0.0
        doc = (item.function.__doc__ or item.name).strip().splitlines()[0]
        result = TestCaseResult(
            name=doc, question=item.path.stem.removeprefix("test_"), test_id=item.name, score=0.0,
            max_score=points, status="passed", visibility="visible" if item.get_closest_marker("public")
            else "after_published", output=self.code.drain_output(),
            requires_values=(list(gate.args) if (gate := item.get_closest_marker("requires_values")) else None))
        note = self.code.drain_notes()
        if report.skipped:
            result.status, result.max_score = "skipped", 0.0
            result.message = str(call.excinfo.value.msg if call.excinfo else report.longrepr[-1])
        elif call.excinfo is None:
            result.score, result.message = points, note
        elif isinstance(call.excinfo.value, GradingFailure):
            result.status, result.message = "failed", str(call.excinfo.value) + (f"\n{note}" if note else "")
        else:
            # A bug in the grader, not the student: say so, and keep the details for the staff.
            result.status = "error"
            result.message = ("internal grading error in this test; it is not a problem with your code and "
                              "the course staff have been told.")
            self.internal_errors.append(f"{item.nodeid}: {report.longreprtext}")
        if marker is None and result.status != "skipped":
            result.status, result.message = "error", "internal grading error: this test has no points marker."
            self.internal_errors.append(f"{item.nodeid}: no @pytest.mark.points")
        self.results.append(result)


def withhold_points_without_values(results: list[TestCaseResult]) -> None:
    """A robustness or implement-it-yourself test keeps its points only when its question's value tests all
    pass: a function that computes nothing must not "avoid conv2d" or "keep the dtype" for points."""
    for test in results:
        if test.requires_values is None or test.score == 0:
            continue
        failing = [other.name for other in results if other.question == test.question
                   and other.requires_values is None and other.max_score > 0 and other.status != "passed"
                   and (not test.requires_values or other.test_id in test.requires_values)]
        if failing:
            test.score, test.status = 0.0, "failed"
            test.message = (f"Not awarded yet: this check counts only once `{test.question}` computes the right "
                            "values, and these tests of it fail: " + "; ".join(failing)
                            + ". It passes on its own, so fixing the values earns it too.")


def _status_of(events: list[type]) -> str:
    """A submission's status from what went wrong in its workers: a timeout wins over a crash."""
    return "timeout" if any(issubclass(event, StudentTimeout) for event in events) else "crashed"


def run_suite(student: StudentCode, assignment: str, questions: list[str] | None = None) -> GradingPlugin:
    """Run ``assignment``'s hidden suite in this process, calling the student through ``student``.

    ``questions`` limits the run to those questions' files (default: all of them).
    """
    plugin = GradingPlugin(student)
    unknown = set(questions or ()) - set(ASSIGNMENTS[assignment])
    if unknown:
        raise KeyError(f"{assignment} has no question {', '.join(sorted(unknown))}; "
                       f"expected one of {', '.join(ASSIGNMENTS[assignment])}")
    # One file per question, in the manifest's order: a helper's question comes before the questions whose
    # tests answer calls to it through the grader (see GradingPlugin.pytest_runtest_setup).
    targets = [str(suite_dir(assignment) / f"test_{question}.py") for question in ASSIGNMENTS[assignment]
               if not questions or question in questions]
    arguments = [*targets, "-c", str(SUITES_DIR / "pytest.ini"), "--rootdir", str(SUITES_DIR),
                 "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly", "--import-mode=importlib",
                 # these two call gc.collect() at the end of a session: 0.4 s per submission for nothing here
                 "-p", "no:unraisableexception", "-p", "no:threadexception",
                 "-q", "--no-header", "-W", "ignore"]
    pytest_output = io.StringIO()
    with contextlib.redirect_stdout(pytest_output):
        exit_code = pytest.main(arguments, plugins=[plugin])
    if exit_code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or not plugin.results:
        plugin.internal_errors.append(f"pytest exited with {exit_code!r}:\n{pytest_output.getvalue()[-4000:]}")
    withhold_points_without_values(plugin.results)
    return plugin


def grade_submission(path: str | Path, assignment: str, *, limits: Limits | None = None,
                     isolation: Isolation | None = None, student_id: str | None = None,
                     questions: list[str] | None = None) -> SubmissionResult:
    """Grade the notebook or script at ``path`` for ``assignment``. Never raises for a student's problem.

    ``questions`` grades only those questions (the notebooks' hidden-test cells grade one each).
    A submission under which the slot's worker template died is graded again from the start, once, with a
    fresh template: a template's death is never the student's error.
    """
    result, lost = _grade_once(path, assignment, limits, isolation, student_id, questions)
    if lost:
        print(f"autograder: the worker template died while grading {path} ({lost}); grading it again",
              file=sys.stderr)
        result, lost = _grade_once(path, assignment, limits, isolation, student_id, questions)
        if lost:
            result.status, result.message = "internal-error", INTERNAL_ERROR
    return result


def _grade_once(path, assignment, limits, isolation, student_id, questions) -> tuple[SubmissionResult, str | None]:
    started = time.monotonic()
    path = Path(path)
    result = SubmissionResult(assignment=assignment, submission=str(path), student=student_id or path.stem,
                              status="ok")
    try:
        loaded = load_submission(path, keep_names=GRADED_CONSTANTS.get(assignment, ()))
        student = StudentCode(loaded, limits, isolation, blocks=WORKER_BLOCKS.get(assignment, ()))
        result.skipped_content = loaded.skipped
    except SubmissionError as error:
        result.status, result.message = "invalid", f"Your submission could not be graded: {error}."
        student = InvalidSubmission(result.message)
    if student.isolation.plan is not None:
        result.isolation = student.isolation.plan.describe()
    try:
        with student:
            student.prelaunch()
            plugin = run_suite(student, assignment, questions)
        order = list(ASSIGNMENTS[assignment])
        result.tests = sorted(plugin.results, key=lambda test: order.index(test.question)
                              if test.question in order else len(order))
        result.load_errors = list(student.load_errors)
        if plugin.internal_errors:
            result.status, result.message = "internal-error", INTERNAL_ERROR
            print("internal grading error while grading", path, *plugin.internal_errors, sep="\n", file=sys.stderr)
        elif result.status == "ok" and student.load_failure:
            result.status = _status_of([type(student.load_failure)])
            result.message = f"Your code could not be loaded: {student.load_failure}"
        elif result.status == "ok" and student.events:
            result.status = _status_of(student.events)
    except Exception:  # the last resort: a result is always produced
        result.status, result.message = "internal-error", INTERNAL_ERROR
        print("internal grading error while grading", path, traceback.format_exc(), sep="\n", file=sys.stderr)
    result.duration_s = time.monotonic() - started
    return result.clean_texts(), getattr(student, "template_lost", None)
