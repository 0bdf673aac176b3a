"""Every catalogued mistake loses exactly the points it should, and its feedback names it."""

import pytest

from autograder.grade import grade_submission
from autograder.suites import ASSIGNMENTS
from submissions import stub_source, with_replacements
from submissions.catalogue import CATALOGUE

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mistake", CATALOGUE, ids=[m.name for m in CATALOGUE])
def test_does_each_mistake_cost_exactly_its_pinned_points(mistake, tmp_path):
    path = tmp_path / f"{mistake.name}.py"
    path.write_text(with_replacements(mistake.assignment, mistake.replacements, mistake.extra))
    result = grade_submission(path, mistake.assignment)
    assert result.status == "ok", result.message
    expected = {question: mistake.expected.get(question, total)
                for question, total in ASSIGNMENTS[mistake.assignment].items()}
    got = {question: earned for question, (earned, _) in result.per_question().items()}
    messages = "\n---\n".join(t.message for t in result.tests if t.status == "failed")
    assert got == expected, messages
    if mistake.diagnosis:
        assert mistake.diagnosis in messages


def test_is_the_catalogue_at_least_fifteen_distinct_mistakes():
    assert len({m.name for m in CATALOGUE}) == len(CATALOGUE) >= 15


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_do_reference_solutions_score_full_marks(assignment):
    from submissions import SOLUTIONS

    result = grade_submission(SOLUTIONS / f"{assignment}.py", assignment)
    assert result.status == "ok" and result.score == result.max_score == sum(ASSIGNMENTS[assignment].values()), \
        [(t.test_id, t.message) for t in result.tests if t.status != "passed"]


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_do_untouched_stubs_score_zero_with_a_not_implemented_message(assignment, tmp_path):
    path = tmp_path / f"{assignment}_stub.py"
    path.write_text(stub_source(assignment))
    result = grade_submission(path, assignment)
    assert result.status == "ok" and result.score == 0
    for test in result.tests:
        if test.status == "skipped":
            continue
        assert test.status == "failed"
        assert any(phrase in test.message for phrase in ("not implemented yet", "is not defined", "not set yet")), \
            test.message
