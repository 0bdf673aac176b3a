"""Typed results of grading one submission, and their Gradescope ``results.json`` form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from autograder.course.assignments import ASSIGNMENTS
from autograder.files import clean_text

# What a student reads when the grader, not their code, failed: never blamed on them (PrairieLearn's rule).
INTERNAL_ERROR = "internal grading error: the staff have been told; your score may change."
STATUSES = ("ok", "timeout", "crashed", "invalid", "internal-error")

@dataclass
class TestCaseResult:
    name: str             # the test's question-phrased docstring
    question: str         # the graded function, e.g. "apply_convolution"
    test_id: str          # the pytest function name, stable across runs
    score: float
    max_score: float
    status: str           # passed | failed | error (internal) | skipped
    message: str = ""
    visibility: str = "after_published"  # "visible" for checks that are public in the notebook
    output: str = ""      # what the student's code printed during this test (capped)
    requires_values: list[str] | None = None  # earns its points only when these value tests (test ids; [] for all
    #                                           the question's value tests) pass; None: a value test itself


@dataclass
class SubmissionResult:
    assignment: str
    submission: str
    student: str
    status: str           # ok | timeout | crashed | invalid | internal-error
    tests: list[TestCaseResult] = field(default_factory=list)
    skipped_content: list[str] = field(default_factory=list)
    load_errors: list[str] = field(default_factory=list)
    message: str = ""
    duration_s: float = 0.0
    isolation: str = ""   # the sandbox in force (autograder.isolation.Plan.describe)

    def clean_texts(self) -> SubmissionResult:
        """Every text of the result made encodable (files.clean_text): a lone surrogate in a student's message
        or output must not stop a terminal, a notebook or Gradescope from showing the rest."""
        for test in self.tests:
            test.name, test.message, test.output = clean_text(test.name), clean_text(test.message), \
                clean_text(test.output)
        self.message = clean_text(self.message)  # the id stays as it is: it names the student (see names.py)
        self.skipped_content = [clean_text(item) for item in self.skipped_content]
        self.load_errors = [clean_text(item) for item in self.load_errors]
        return self

    @property
    def score(self) -> float:
        return sum(test.score for test in self.tests)

    @property
    def max_score(self) -> float:
        return sum(test.max_score for test in self.tests)

    @classmethod
    def failed(cls, *, assignment: str, submission: str, student: str, status: str, message: str,
               zero_every_question: bool = False) -> SubmissionResult:
        """A result without test results (otter's ``GradingResults.without_results``): a file that cannot be read
        (invalid), a grading process that died (crashed), or the grader's own failure (internal-error, with
        INTERNAL_ERROR for the student). ``zero_every_question``: one failed test per question worth its points,
        so the totals say what was lost rather than 0 of 0."""
        tests = [TestCaseResult(name=f"{question} (not graded: {message.rstrip('.')[:200]})", question=question,
                                test_id=f"{question}_not_graded", score=0.0, max_score=float(points), status="failed",
                                message=message)
                 for question, points in ASSIGNMENTS.get(assignment, {}).items()] if zero_every_question else []
        return cls(assignment=assignment, submission=submission, student=student, status=status, message=message,
                   tests=tests)

    def per_question(self) -> dict[str, tuple[float, float]]:
        return per_question(self.assignment, [asdict(test) for test in self.tests])

    def to_dict(self) -> dict:
        return asdict(self) | {"score": self.score, "max_score": self.max_score}

    def to_gradescope(self) -> dict:
        """The Gradescope autograder results.json schema (score, tests[] with name/score/max_score/...)."""
        notes = []
        if self.message:
            notes.append(self.message)
        if self.skipped_content:
            notes.extend(summarise_skipped(self.skipped_content))
        if self.load_errors:
            notes.append("Errors while loading your code:\n  - " + "\n  - ".join(self.load_errors))
        # A 0-point check skipped on this machine (a CUDA test without a GPU) is not a failure: Gradescope
        # would show it as a red "failed" test, so it is left out and named here instead.
        shown = [test for test in self.tests if not (test.status == "skipped" and test.max_score == 0)]
        skipped = [test for test in self.tests if test not in shown]
        if skipped:
            notes.append(f"Not run on this machine ({len(skipped)} check(s) worth no points): "
                         + "; ".join(f"{test.name} ({test.message})" for test in skipped))
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.duration_s, 2),
            "output": "\n\n".join(notes),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [{"name": f"{test.question}: {test.name}", "number": str(index), "score": test.score,
                       "max_score": test.max_score, "status": "passed" if test.status == "passed" else "failed",
                       "output": test.message + (f"\n\nYour code printed:\n{test.output}" if test.output else ""),
                       "tags": [test.question], "visibility": test.visibility}
                      for index, test in enumerate(shown, 1)],
        }


def per_question(assignment: str, tests: list[dict]) -> dict[str, tuple[float, float]]:
    """(earned, possible) per question: every question of the manifest, in its order, then any other a test names."""
    totals = {question: (0.0, 0.0) for question in ASSIGNMENTS.get(assignment, {})}
    for test in tests:
        earned, possible = totals.get(test["question"], (0.0, 0.0))
        totals[test["question"]] = (earned + test["score"], possible + test["max_score"])
    return totals


def summarise_skipped(skipped: list[str]) -> list[str]:
    """What loading left out, for Gradescope's visible output: one line for the statements no graded function needs
    (a notebook's training runs and plots can be hundreds of lines), and each syntax error in full, since it costs
    the definitions in its cell."""
    errors = [line for line in skipped if "has a syntax error" in line]
    rest = [line for line in skipped if line not in errors]
    notes = []
    if rest:
        places = list(dict.fromkeys(line.split(":")[0].split(",")[0] for line in rest))
        where = ", ".join(places[:6]) + (f" and {len(places) - 6} more" if len(places) > 6 else "")
        notes.append(f"Not run while grading: {len(rest)} statement(s) that no graded function needs (training runs, "
                     f"plots, shell commands, magics), in {where}.")
    if errors:
        notes.append("Lost to a syntax error:\n  - " + "\n  - ".join(errors))
    return notes
