"""The manifest, the points markers and the suite files agree."""

import ast

import pytest

from autograder.course.assignments import ASSIGNMENTS, suite_dir


def points_by_question(assignment):
    """Sum the @pytest.mark.points(n) of every test function, per test_<question>.py file."""
    totals = {}
    for path in sorted(suite_dir(assignment).glob("test_*.py")):
        question = path.stem.removeprefix("test_")
        for node in ast.parse(path.read_text()).body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            marks = [d for d in node.decorator_list if isinstance(d, ast.Call) and
                     ast.unparse(d.func) == "pytest.mark.points"]
            assert len(marks) == 1, f"{path.name}::{node.name} needs exactly one @pytest.mark.points(n)"
            assert ast.get_docstring(node), f"{path.name}::{node.name} needs a question-phrased docstring"
            totals[question] = totals.get(question, 0) + marks[0].args[0].value
    return totals


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_do_the_points_markers_add_up_to_the_manifest(assignment):
    assert points_by_question(assignment) == ASSIGNMENTS[assignment]


def test_is_an_unknown_assignment_refused_by_name():
    with pytest.raises(KeyError, match="expected one of convolution"):
        suite_dir("convolutions")
