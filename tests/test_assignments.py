"""The nbgrader source notebooks agree with solutions/ and with the hidden suites' points."""

import ast
import filecmp
import re
from pathlib import Path

import nbformat
import pytest

from autograder.platforms.nbgrader.release import HELPERS, ASSIGNMENT_HELPERS
from autograder.course.assignments import ASSIGNMENTS, GRADED_CONSTANTS, suite_dir

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


def source_notebook(assignment):
    return nbformat.read(str(ROOT / "assignments" / assignment / f"{assignment}.ipynb"), as_version=4)


def nbgrader_cells(assignment, kind):
    return [cell for cell in source_notebook(assignment).cells
            if cell.metadata.get("nbgrader", {}).get(kind)]


def without_markers(source):
    return "\n".join(line for line in source.splitlines() if not MARKER.match(line))


def suite_public_points(assignment, question):
    """Points of the suite's tests marked @pytest.mark.public, read from the test file's decorators."""
    tree = ast.parse((suite_dir(assignment) / f"test_{question}.py").read_text())
    total = 0
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        names = {ast.unparse(d) for d in node.decorator_list}
        if "pytest.mark.public" in names:
            total += next(d.args[0].value for d in node.decorator_list
                          if isinstance(d, ast.Call) and ast.unparse(d.func) == "pytest.mark.points")
    return total


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_do_the_grade_cells_carry_the_hidden_suites_points(assignment):
    points = {cell.metadata.nbgrader.grade_id.removesuffix("_tests"): cell.metadata.nbgrader.points
              for cell in nbgrader_cells(assignment, "grade")}
    assert points == ASSIGNMENTS[assignment]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_each_test_cell_run_only_the_public_check(assignment):
    """No hidden-test region: the hidden suites grade from the grader's process (GradeInSandbox), so nothing a
    kernel runs can set a score, and nbgrader's feedback shows no grading hook."""
    for cell in nbgrader_cells(assignment, "grade"):
        question = cell.metadata.nbgrader.grade_id.removesuffix("_tests")
        assert f'grader.check("{question}")' in cell.source
        assert "HIDDEN" not in cell.source and "autograder" not in cell.source
        assert cell.metadata.nbgrader.locked


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_are_narrative_and_given_cells_read_only(assignment):
    for cell in source_notebook(assignment).cells:
        meta = cell.metadata.get("nbgrader")
        if cell.cell_type == "markdown":
            assert meta and meta["locked"], cell.source[:60]
        if meta and meta.get("solution"):
            assert not meta["locked"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_is_the_reference_code_in_the_notebook_the_same_as_in_solutions(assignment):
    """Every function, class and constant the notebook defines that solutions/ also defines (in any module:
    shifted_mnist gives build_mlp from training) is the same code, compared as syntax trees: docstrings
    included, comments and solution markers ignored."""
    reference = {}
    for module in ASSIGNMENTS:
        for node in ast.parse((ROOT / "solutions" / f"{module}.py").read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                reference[node.name] = ast.dump(node)
            elif isinstance(node, ast.Assign):
                reference[ast.unparse(node.targets[0])] = ast.dump(node)
    compared = set()
    for cell in source_notebook(assignment).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.parse(without_markers(cell.source)).body:
            name = (node.name if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                    else ast.unparse(node.targets[0]) if isinstance(node, ast.Assign) else None)
            if name in reference:
                assert ast.dump(node) == reference[name], f"{name} differs between the notebook and solutions/"
                compared.add(name)
    assert compared >= set(ASSIGNMENTS[assignment]) | set(GRADED_CONSTANTS.get(assignment, ()))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_is_every_graded_function_a_solution_region_inside_its_own_signature_and_docstring(assignment):
    cells = {cell.metadata.nbgrader.grade_id: cell for cell in nbgrader_cells(assignment, "solution")}
    for question in ASSIGNMENTS[assignment]:
        source = cells[question].source
        before, _, after = source.partition("### BEGIN SOLUTION")
        assert f"def {question}(" in before and '"""' in before, f"{question}: signature and docstring stay"
        assert "### END SOLUTION" in after


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_each_public_check_protect_exactly_the_points_of_the_suites_public_tests(assignment):
    for question in ASSIGNMENTS[assignment]:
        check = ROOT / "assignments" / assignment / "tests" / f"{question}.py"
        declared = re.search(r"^points = (\d+)$", check.read_text(), re.MULTILINE)
        assert declared and int(declared[1]) == suite_public_points(assignment, question), question


def test_are_the_helpers_beside_the_notebooks_copies_of_the_package():
    for assignment, names in ASSIGNMENT_HELPERS.items():
        for name in names:
            for folder in ("assignments", "release"):
                assert filecmp.cmp(HELPERS[name], ROOT / folder / assignment / name, shallow=False), \
                    f"{folder}/{assignment}/{name} differs from {HELPERS[name]}: run `autograder release`"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_each_question_heading_state_the_points_its_check_protects_and_the_hidden_tests_weigh(assignment):
    """The headings' numbers are the suite's: total, the public check's points, and the rest for hidden tests."""
    heading = re.compile(r"### Question \d+: `(\w+)` \((\d+) points: (\d+) from its public check, (\d+) from hidden "
                         r"tests\)")
    found = {match[1]: tuple(map(int, match.groups()[1:])) for cell in source_notebook(assignment).cells
             if cell.cell_type == "markdown" for match in heading.finditer(cell.source)}
    expected = {question: (total, suite_public_points(assignment, question),
                           total - suite_public_points(assignment, question))
                for question, total in ASSIGNMENTS[assignment].items()}
    assert found == expected


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_each_check_cell_print_what_its_check_protects_and_the_hidden_tests_weigh(assignment):
    line = re.compile(r'print\("This public check protects (\d+) of the (\d+) points of (\w+); the hidden tests weigh '
                      r'the other (\d+)\."\)')
    found = {}
    for cell in nbgrader_cells(assignment, "grade"):
        match = line.search(cell.source)
        assert match, f"{cell.metadata.nbgrader.grade_id}: the check cell does not say what its check protects"
        found[match[3]] = (int(match[2]), int(match[1]), int(match[4]))
    assert found == {question: (total, suite_public_points(assignment, question),
                                total - suite_public_points(assignment, question))
                     for question, total in ASSIGNMENTS[assignment].items()}
