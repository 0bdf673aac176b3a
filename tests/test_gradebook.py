"""nbgrader, as a new instructor runs it from the README, on a fresh course outside the repository.

The course is built the way nbgrader builds one: `autograder release --course` (generate_assignment
and the leak scan), release_assignment to an exchange, each student fetches and submits, the
instructor collects. Three students: one correct, one with a flipped kernel, and a cheater who keeps
the stubs and adds a cell that patches the grading hook and prints any suite or solution file it
finds. The course is graded by `nbgrader autograde`, then `autograder grade COURSE --nbgrader`, then
`nbgrader autograde` again; nbgrader's own export, formgrader's API and generate_feedback read the result.
"""

import csv
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.platforms.nbgrader.release import reference_fragments
from autograder.course.assignments import ASSIGNMENTS
from test_release import filled_with_reference

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "convolution"
TOTAL = sum(ASSIGNMENTS[ASSIGNMENT].values())
DUE = "2026-01-10 12:00:00 UTC"
CHEAT = '''
# The cheater's cell: patch the grading hook, then print whatever answers can be found.
import pathlib
try:
    import autograder.notebook
    autograder.notebook.hidden_points = lambda *args, **kwargs: 100.0
except ImportError as error:
    print("no hook to patch:", error)
try:
    import autograder
    project = pathlib.Path(autograder.__file__).parents[1]
    for path in list(project.glob("solutions/*.py")) + list(project.glob("autograder/suites/*/*.py")):
        print(path, path.read_text())
except Exception as error:
    print("nothing found:", error)
import nbgrader.utils
nbgrader.utils.determine_grade = lambda cell, log=None: (cell.metadata.nbgrader["points"],) * 2
'''


def nbgrader(*arguments, cwd):
    run = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *arguments], cwd=cwd, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
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


def cheater(notebook_path):
    notebook = nbformat.read(str(notebook_path), as_version=4)
    notebook.cells.insert(1, nbformat.v4.new_code_cell(CHEAT))
    nbformat.write(notebook, str(notebook_path))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("nbgrader")
    course, exchange = base / "course", base / "exchange"
    course.mkdir()
    exchange.mkdir()
    exchange.chmod(0o777)
    # A course as `nbgrader quickstart` leaves it (source/, release/), plus the README's lines.
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'conv-course-test'\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        "c.LateSubmissionPlugin.penalty_method = 'zero'\n"
        "from autograder.nbgrader_plugin import configure_course\n"
        "configure_course(c)\n")
    checkout_db = ROOT / "gradebook.db"
    before = checkout_db.stat().st_mtime_ns if checkout_db.exists() else None
    release = subprocess.run([sys.executable, "-m", "autograder.cli", "release", ASSIGNMENT], cwd=course,
                             capture_output=True, text=True, timeout=300)
    assert release.returncode == 0, release.stdout + release.stderr
    assert (course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    assert (course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file() and (course / "gradebook.db").is_file()
    assert (checkout_db.stat().st_mtime_ns if checkout_db.exists() else None) == before  # the checkout is untouched
    nbgrader("db", "assignment", "add", ASSIGNMENT, f"--duedate={DUE}", cwd=course)
    nbgrader("release_assignment", ASSIGNMENT, cwd=course)
    answers = {"alice": "reference", "bob": "flipped", "carol": "cheater"}
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
        if answer == "cheater":
            cheater(notebook)
        nbgrader("submit", ASSIGNMENT, "--student", student, cwd=home)
    nbgrader("collect", ASSIGNMENT, cwd=course)
    # bob handed in late; the others on time
    for student, stamp in {"alice": "2026-01-09 10:00:00", "bob": "2026-01-11 10:00:00",
                           "carol": "2026-01-09 11:00:00"}.items():
        (course / "submitted" / student / ASSIGNMENT / "timestamp.txt").write_text(f"{stamp}.000000 UTC")
    return course, answers


@pytest.fixture(scope="module")
def graded(course):
    """nbgrader autograde first (as an instructor might), then the README's command, then autograde again."""
    folder, answers = course
    nbgrader("autograde", ASSIGNMENT, "--force", cwd=folder)
    out = folder / "grades"
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(folder), "-a", ASSIGNMENT, "--out",
                          str(out), "--nbgrader"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "nbgrader: autograded 3 students" in run.stdout
    rows = {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    nbgrader("autograde", ASSIGNMENT, "--student", "carol", "--force", cwd=folder)
    return rows


def exported(folder):
    nbgrader("export", "--to", "export.csv", cwd=folder)
    return {row["student_id"]: row for row in csv.DictReader((folder / "export.csv").open())
            if row["assignment"] == ASSIGNMENT}


def test_do_nbgrader_export_scores_equal_the_graded_scores_whoever_ran_last(course, graded):
    folder, answers = course
    scores = exported(folder)
    assert set(scores) == set(answers)
    for student in answers:
        # the same numbers on both sides: nbgrader's score (after its late penalty) is our total, its raw score ours
        # before the penalty
        assert float(scores[student]["score"]) == float(graded[student]["total"]), student
        assert float(scores[student]["raw_score"]) == float(graded[student]["score_before_penalty"]), student
        assert float(scores[student]["max_score"]) == TOTAL and scores[student]["timestamp"]
    assert float(scores["alice"]["score"]) == TOTAL
    assert 0 < float(scores["bob"]["raw_score"]) < TOTAL
    assert float(scores["carol"]["score"]) == 0  # the cheater, after nbgrader autograde ran before and after


def test_is_the_late_penalty_of_the_courses_plugin_applied(course, graded):
    folder, _ = course
    scores = exported(folder)
    # penalty_method = "zero": bob, a day late, keeps his raw score on record and scores 0
    assert float(scores["bob"]["late_submission_penalty"]) == float(scores["bob"]["raw_score"]) > 0
    assert float(scores["bob"]["score"]) == 0
    assert float(scores["alice"]["late_submission_penalty"]) == 0


def test_does_every_file_of_the_grader_show_nbgraders_late_penalty(course, graded):
    """bob is late under the course's penalty_method 'zero': gradebook.csv, the CSV export, report.html and his
    feedback page say 0 and why, as `nbgrader export` does, not his score before the penalty."""
    folder, _ = course
    out = folder / "grades"
    assert float(graded["bob"]["total"]) == 0 < float(graded["bob"]["score_before_penalty"])
    assert graded["bob"]["days_late"] == "1" and float(graded["alice"]["total"]) == TOTAL
    assert main(["export", str(out), "--format", "csv"]) == 0
    rows = {row["submission"]: row for row in csv.DictReader((out / f"{ASSIGNMENT}-csv.csv").open())}
    assert float(rows["bob"]["score"]) == 0 and float(rows["alice"]["score"]) == TOTAL
    assert float(rows["bob"]["score_before_penalty"]) > 0
    feedback = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", (out / "bob" / "feedback.html").read_text())).split())
    feedback = feedback.replace(" :", ":").replace(" .", ".")
    assert "Late by 1 started day" in feedback and f"After: 0 / {TOTAL:g}" in feedback, feedback[:2000]
    report = html.unescape(re.sub(r"<[^>]+>", " ", (out / "report.html").read_text()))
    assert "bob" in report[report.index("Late"):], report[:3000]


def test_does_formgrader_see_every_submission_autograded_with_nothing_to_grade_by_hand(course, graded):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from autograder.platforms.nbgrader.course import load_course_config

    folder, answers = course
    config = load_course_config(folder)
    config.CourseDirectory.root = str(folder)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    submissions = api.get_submissions(ASSIGNMENT)
    assert {s["student"] for s in submissions} == set(answers)
    assert all(s["autograded"] and not s["needs_manual_grade"] for s in submissions), submissions
    notebooks = api.get_notebook_submissions(ASSIGNMENT, ASSIGNMENT)  # formgrader's Manual Grading page
    assert {n["student"] for n in notebooks} == set(answers)
    for student in answers:
        assert (folder / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()


def test_does_generate_feedback_work_and_show_no_hidden_test_or_reference_code(course, graded):
    folder, answers = course
    nbgrader("generate_feedback", ASSIGNMENT, cwd=folder)
    pages = {student: html.unescape(re.sub(r"<[^>]+>", "", (folder / "feedback" / student / ASSIGNMENT /
                                                             f"{ASSIGNMENT}.html").read_text()))
             for student in answers}
    reference_lines = [line for lines in reference_fragments(ASSIGNMENT).values() for line in lines]
    suite_lines = [line.strip() for path in (ROOT / "autograder" / "suites" / ASSIGNMENT).glob("test_*.py")
                   for line in path.read_text().splitlines() if len(line.strip()) > 30]
    autograded = {student: (folder / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
                  for student in answers}
    for student in answers:
        for text in (pages[student], autograded[student]):
            assert "def test_" not in text and "BEGIN HIDDEN" not in text, student
            assert not [line for line in suite_lines if line in text], student
        assert "hidden_points" not in pages[student] or student == "carol"  # only in the cheater's own cell
    # carol kept the stubs: any reference line in her feedback would have come from the answers
    assert "Sobel" in pages["carol"] and not [line for line in reference_lines if line in pages["carol"]]
    assert "a flipped kernel" in pages["bob"]  # our diagnosis reaches nbgrader's feedback
    assert "(Score: 0.0 / 11.0)" in pages["carol"] and "✗ 0/2  Is y[i, j] right" in pages["carol"]


def test_does_each_test_cell_hold_that_questions_points(course, graded):
    from nbgrader.api import Gradebook

    folder, _ = course
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}", "conv-course-test") as gradebook:
        for question, points in ASSIGNMENTS[ASSIGNMENT].items():
            grade = gradebook.find_grade(f"{question}_tests", ASSIGNMENT, ASSIGNMENT, "bob")
            assert grade.max_score == points and grade.score == float(graded["bob"][question])
    assert float(graded["bob"]["compute_convolution_at_position"]) < ASSIGNMENTS[ASSIGNMENT][
        "compute_convolution_at_position"]


def test_is_a_course_that_would_trust_a_kernel_refused(tmp_path, capsys):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    (tmp_path / "submitted").mkdir()
    assert main(["grade", str(tmp_path), "-a", ASSIGNMENT, "--out", str(tmp_path / "out"), "--nbgrader"]) == 2
    assert "configure_course(c)" in capsys.readouterr().out
    assert main(["release", "--course", str(tmp_path), ASSIGNMENT]) == 1
    assert "configure_course(c)" in capsys.readouterr().out
    assert not (tmp_path / "release").exists()


def test_is_nbgrader_refused_for_a_folder_that_is_not_a_course(tmp_path, capsys):
    (tmp_path / "alice.py").write_text("x = 1\n")
    assert main(["grade", str(tmp_path), "-a", ASSIGNMENT, "--out", str(tmp_path / "out"), "--nbgrader"]) == 2
    assert "needs an nbgrader course folder" in capsys.readouterr().out
