"""`autograder grade COURSE --nbgrader`: a real nbgrader course round trip, read back with `nbgrader export`.

The course is built the way nbgrader builds one: generate_assignment (through
`autograder release`), release_assignment to an exchange folder, each student fetches
and submits, the instructor collects. Then we grade, and nbgrader's own export reads
the scores from its database.
"""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.release import release
from autograder.suites import ASSIGNMENTS
from test_release import filled_with_reference

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "convolution"


def nbgrader(*arguments, cwd):
    run = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *arguments], cwd=cwd, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run


def flipped_kernel(notebook_path):
    """A student who wrote everything but flipped the kernel in compute_convolution_at_position."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "compute_convolution_at_position":
            cell.source = cell.source.replace("total = total + img[i + k, j + l] * kernel[k, l]",
                                              "total = total + img[i + k, j + l] * kernel[-1 - k, -1 - l]")
            assert "kernel[-1 - k" in cell.source
    nbformat.write(notebook, str(notebook_path))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("nbgrader")
    course, exchange = base / "course", base / "exchange"
    (course / "assignments").mkdir(parents=True)
    exchange.mkdir()
    exchange.chmod(0o777)
    shutil.copytree(ROOT / "assignments" / ASSIGNMENT, course / "assignments" / ASSIGNMENT)
    config = (ROOT / "nbgrader_config.py").read_text() + f"\nc.Exchange.root = {str(exchange)!r}\n"
    (course / "nbgrader_config.py").write_text(config)
    release(course_root=course, assignments=[ASSIGNMENT])  # nbgrader generate_assignment + leak scan
    nbgrader("release_assignment", ASSIGNMENT, cwd=course)
    answers = {"alice": "reference", "bob": "flipped", "carol": "untouched"}
    for student, answer in answers.items():
        nbgrader("db", "student", "add", student, cwd=course)
        home = base / student
        home.mkdir()
        shutil.copy(course / "nbgrader_config.py", home)
        nbgrader("fetch_assignment", ASSIGNMENT, cwd=home)
        notebook = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        if answer in ("reference", "flipped"):
            filled_with_reference(ASSIGNMENT, notebook)
        if answer == "flipped":
            flipped_kernel(notebook)
        nbgrader("submit", ASSIGNMENT, "--student", student, cwd=home)
    nbgrader("collect", ASSIGNMENT, cwd=course)
    return course, answers


@pytest.fixture(scope="module")
def graded(course):
    """The course graded with `autograder grade COURSE --out COURSE/grades --nbgrader`: our gradebook rows."""
    folder, answers = course
    out = folder / "grades"
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(folder), "-a", ASSIGNMENT, "--out",
                          str(out), "--nbgrader"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "nbgrader gradebook: wrote the scores of 3 students" in run.stdout
    return {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").open())}


def exported_scores(folder):
    nbgrader("export", "--to", "export.csv", cwd=folder)
    return {row["student_id"]: row for row in csv.DictReader((folder / "export.csv").open())
            if row["assignment"] == ASSIGNMENT}


def test_does_the_course_have_nbgraders_collect_layout(course):
    course, answers = course
    for student in answers:
        folder = course / "submitted" / student / ASSIGNMENT
        assert (folder / f"{ASSIGNMENT}.ipynb").is_file() and (folder / "timestamp.txt").is_file()


def test_do_nbgrader_export_scores_equal_the_graded_scores(course, graded):
    folder, answers = course
    exported = exported_scores(folder)
    assert set(exported) == set(answers)
    total = sum(ASSIGNMENTS[ASSIGNMENT].values())
    for student in answers:
        assert float(exported[student]["score"]) == float(graded[student]["total"])
        assert float(exported[student]["max_score"]) == total
        assert exported[student]["timestamp"]  # from collect's timestamp.txt
    assert float(exported["alice"]["score"]) == total
    assert 0 < float(exported["bob"]["score"]) < total
    assert float(exported["carol"]["score"]) == 0


def test_does_each_test_cell_hold_that_questions_points(course, graded):
    from nbgrader.api import Gradebook

    folder, _ = course
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}", "convolutions-to-cnns") as gradebook:
        for question, points in ASSIGNMENTS[ASSIGNMENT].items():
            grade = gradebook.find_grade(f"{question}_tests", ASSIGNMENT, ASSIGNMENT, "bob")
            assert grade.max_score == points
            assert grade.score == float(graded["bob"][question])
    assert float(graded["bob"]["compute_convolution_at_position"]) < ASSIGNMENTS[ASSIGNMENT][
        "compute_convolution_at_position"]


def test_does_nbgrader_autograde_give_the_same_points_through_the_hidden_test_cells(course, graded):
    """nbgrader's own autograde runs the notebook with its hidden tests restored; each test cell's last
    value (hidden_points) is its partial credit. It must agree with autograder grade, question by question."""
    from nbgrader.api import Gradebook

    folder, _ = course
    nbgrader("autograde", ASSIGNMENT, "--student", "bob", "--force", cwd=folder)
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}", "convolutions-to-cnns") as gradebook:
        for question in ASSIGNMENTS[ASSIGNMENT]:
            grade = gradebook.find_grade(f"{question}_tests", ASSIGNMENT, ASSIGNMENT, "bob")
            assert grade.auto_score == float(graded["bob"][question]), question
    assert float(exported_scores(folder)["bob"]["score"]) == float(graded["bob"]["total"])


def test_is_nbgrader_refused_for_a_folder_that_is_not_a_course(tmp_path, capsys):
    (tmp_path / "alice.py").write_text("x = 1\n")
    assert main(["grade", str(tmp_path), "-a", ASSIGNMENT, "--out", str(tmp_path / "out"), "--nbgrader"]) == 2
    assert "needs an nbgrader course folder" in capsys.readouterr().out
