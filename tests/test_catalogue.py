"""Every catalogued mistake loses exactly the points it should, and its feedback names it.

The students' public checks (otter test files beside each notebook) run on the same
submissions: whenever a public check passes, the hidden suite's public tests for that
question pass too, so "passing a public check keeps those points" holds on every
mistake we know of, not only on the reference.
"""

from pathlib import Path

import pytest

from autograder.grading.grade import grade_submission
from autograder.platforms.selfcheck import run_checks
from autograder.course.assignments import ASSIGNMENTS
from submissions import reference_source, stub_source, with_replacements
from submissions.catalogue import CATALOGUE

pytestmark = pytest.mark.slow
ASSIGNMENTS_DIR = Path(__file__).resolve().parents[1] / "assignments"


def public_checks(source: str, assignment: str):
    """Run the assignment's public checks on a (trusted, catalogue) module source, in this process."""
    env = {"__name__": "submission"}
    exec(compile(source, f"{assignment}.py", "exec"), env)
    return run_checks(env, assignment, ASSIGNMENTS_DIR / assignment / "tests")


def assert_public_checks_keep_their_points(checks, result):
    """A passing public check means its points are safe; a failing one means the question really loses points
    (not, say, evaluate_shifted failing because of the student's shift_images)."""
    per_question = result.per_question()
    for check in checks:
        public = [t for t in result.tests if t.question == check.question and t.visibility == "visible"]
        assert public, f"{check.question} has no public test in the suite"
        if check.passed:
            assert all(t.status == "passed" for t in public), \
                f"{check.question}: the public check passes but the graded public test fails: {public[0].message}"
        else:
            earned, possible = per_question[check.question]
            assert earned < possible, f"{check.question}: the public check fails on full marks: {check.messages}"


@pytest.mark.parametrize("mistake", CATALOGUE, ids=[m.name for m in CATALOGUE])
def test_does_each_mistake_cost_exactly_its_pinned_points(mistake, tmp_path):
    path = tmp_path / f"{mistake.name}.py"
    source = with_replacements(mistake.assignment, mistake.replacements, mistake.extra)
    path.write_text(source)
    result = grade_submission(path, mistake.assignment)
    assert result.status == "ok", result.message
    expected = {question: mistake.expected.get(question, total)
                for question, total in ASSIGNMENTS[mistake.assignment].items()}
    got = {question: earned for question, (earned, _) in result.per_question().items()}
    messages = "\n---\n".join(t.message for t in result.tests if t.status == "failed")
    assert got == expected, messages
    if mistake.diagnosis:
        assert mistake.diagnosis in messages
    if mistake.not_diagnosed:
        assert mistake.not_diagnosed not in messages, messages
    assert_public_checks_keep_their_points(public_checks(source, mistake.assignment), result)


def test_is_the_catalogue_at_least_fifteen_distinct_mistakes():
    assert len({m.name for m in CATALOGUE}) == len(CATALOGUE) >= 15


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_do_reference_solutions_score_full_marks(assignment):
    from submissions import SOLUTIONS

    result = grade_submission(SOLUTIONS / f"{assignment}.py", assignment)
    assert result.status == "ok" and result.score == result.max_score == sum(ASSIGNMENTS[assignment].values()), \
        [(t.test_id, t.message) for t in result.tests if t.status != "passed"]
    checks = public_checks(reference_source(assignment), assignment)
    assert [c.question for c in checks if c.passed] == list(ASSIGNMENTS[assignment]), [c.messages for c in checks]


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_do_untouched_stubs_score_zero_with_a_not_implemented_message(assignment, tmp_path):
    path = tmp_path / f"{assignment}_stub.py"
    path.write_text(stub_source(assignment))
    result = grade_submission(path, assignment)
    assert result.status == "ok" and result.score == 0
    for check in public_checks(stub_source(assignment), assignment):
        assert not check.passed and "NotImplementedError" in check.messages[0], check.question
    for test in result.tests:
        if test.status == "skipped":
            continue
        assert test.status == "failed"
        assert any(phrase in test.message for phrase in ("not implemented yet", "is not defined", "not set yet")), \
            test.message
