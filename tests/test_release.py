"""`autograder release`: nbgrader's generate_assignment reproduces release/, and nothing staff-only leaks."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.platforms.nbgrader.release import NameTheStubs, reference_fragments, release, scan_for_leaks
from autograder.course.assignments import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "release"


def files(folder):
    """Files of the assignment folders (release/README.md, written by hand, is not nbgrader's)."""
    return sorted(str(p.relative_to(folder)) for assignment in ASSIGNMENTS for p in (folder / assignment).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def normalised(notebook_path):
    """A notebook's content without what may vary between runs (nbgrader writes none today)."""
    notebook = json.loads(Path(notebook_path).read_text())
    notebook.get("metadata", {}).pop("language_info", None)  # filled in by whichever kernel last ran it
    return notebook


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    reports = release(release_directory=folder, db_url=f"sqlite:///{folder.parent / 'gradebook.db'}")
    return folder, reports


def test_does_a_fresh_release_reproduce_the_committed_release(fresh_release):
    folder, reports = fresh_release
    assert [r.assignment for r in reports] == list(ASSIGNMENTS)
    assert files(folder) == files(RELEASE) != []
    for name in files(RELEASE):
        if name.endswith(".ipynb"):
            assert normalised(folder / name) == normalised(RELEASE / name), f"{name}: run `autograder release`"
        else:
            assert (folder / name).read_bytes() == (RELEASE / name).read_bytes(), name


def test_is_releasing_twice_the_same_as_releasing_once(fresh_release, tmp_path):
    folder, _ = fresh_release
    again = tmp_path / "again"
    shutil.copytree(folder, again)
    release(assignments=["convolution"], release_directory=again, db_url=f"sqlite:///{tmp_path / 'gb.db'}")
    assert (again / "convolution" / "convolution.ipynb").read_bytes() == \
        (folder / "convolution" / "convolution.ipynb").read_bytes()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_the_committed_release_hold_no_solution_hidden_test_or_staff_path(assignment):
    assert scan_for_leaks(RELEASE / assignment) == []


def test_does_the_leak_scan_find_a_planted_reference_line_and_marker(tmp_path):
    shutil.copytree(RELEASE / "convolution", tmp_path / "convolution")
    notebook_path = tmp_path / "convolution" / "convolution.ipynb"
    notebook = nbformat.read(str(notebook_path), as_version=4)
    planted = reference_fragments("conv_gradients")["conv_gradient_wrt_input"][-1]
    notebook.cells[-1].source += f"\n{planted}\n# BEGIN HIDDEN TESTS\nfrom solutions.convolution import SOBEL_X"
    nbformat.write(notebook, str(notebook_path))
    leaks = "\n".join(scan_for_leaks(tmp_path / "convolution"))
    assert "conv_gradients.conv_gradient_wrt_input" in leaks
    assert "'BEGIN HIDDEN TESTS'" in leaks and "'solutions.'" in leaks


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_every_stub_raise_not_implemented_with_a_message_naming_its_function(assignment):
    notebook = nbformat.read(str(RELEASE / assignment / f"{assignment}.ipynb"), as_version=4)
    stubs = {cell.metadata.nbgrader.grade_id: cell.source for cell in notebook.cells
             if cell.metadata.get("nbgrader", {}).get("solution")}
    for question in ASSIGNMENTS[assignment]:
        assert f"raise NotImplementedError('{question} is not written yet" in stubs[question]
        assert "raise NotImplementedError()" not in stubs[question]


def test_does_name_the_stubs_name_the_enclosing_function_and_leave_other_cells_alone():
    solution = nbformat.v4.new_code_cell(
        "def outer(x):\n    def inner():\n        raise NotImplementedError()\n    raise NotImplementedError()\n"
        "raise NotImplementedError()", metadata={"nbgrader": {"solution": True, "grade_id": "outer"}})
    given = nbformat.v4.new_code_cell("raise NotImplementedError()", metadata={})
    for cell in (solution, given):
        NameTheStubs().preprocess_cell(cell, {}, 0)
    lines = solution.source.splitlines()
    assert "inner is not written yet" in lines[2] and "outer is not written yet" in lines[3]
    assert "your code for outer" in lines[4]
    assert given.source == "raise NotImplementedError()"


def test_does_the_release_command_refuse_an_unknown_assignment(capsys):
    with pytest.raises(SystemExit):
        main(["release", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def filled_with_reference(assignment, path):
    """The release notebook with each solution cell replaced by the source notebook's (markers removed)."""
    source = nbformat.read(str(ROOT / "assignments" / assignment / f"{assignment}.ipynb"), as_version=4)
    answers = {cell.metadata.nbgrader.grade_id: "\n".join(
        line for line in cell.source.splitlines() if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
        for cell in source.cells if cell.metadata.get("nbgrader", {}).get("solution")}
    notebook = nbformat.read(str(RELEASE / assignment / f"{assignment}.ipynb"), as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[cell.metadata.nbgrader.grade_id]
    nbformat.write(notebook, str(path))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_a_release_notebook_filled_with_the_reference_score_full_marks(assignment, tmp_path):
    from autograder.grading.grade import grade_submission

    path = filled_with_reference(assignment, tmp_path / f"{assignment}.ipynb")
    result = grade_submission(path, assignment)
    assert result.status == "ok" and result.score == result.max_score == sum(ASSIGNMENTS[assignment].values()), \
        [(t.test_id, t.message) for t in result.tests if t.status != "passed"]
    shutil.copytree(RELEASE / assignment / "tests", tmp_path / "tests")
    assert main(["check", str(path)]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_an_untouched_release_notebook_score_zero_without_a_crash(assignment, capsys):
    from autograder.grading.grade import grade_submission

    result = grade_submission(RELEASE / assignment / f"{assignment}.ipynb", assignment)
    assert result.status == "ok" and result.score == 0 and result.max_score == sum(ASSIGNMENTS[assignment].values())
    assert all("not written yet" in t.message for t in result.tests if t.max_score and "SOBEL" not in t.name), \
        [t.message for t in result.tests]
    assert main(["check", str(RELEASE / assignment / f"{assignment}.ipynb")]) == 1
    assert "0 of" in capsys.readouterr().out
