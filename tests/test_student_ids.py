"""A student is never lost or confused with another (issue 33, item 4).

Folder names are one per id by construction; a folder that holds someone else's results is a clash resolved,
never overwritten; folders of the old rule are still found. An id's hidden characters (a right-to-left override,
a zero-width space) are marked wherever it is shown, and ids that look alike are flagged.
"""

import base64
import csv
import json
import shutil

import pytest
from hypothesis import given, settings, strategies as st

from autograder.classroom import gradebook
from autograder.classroom.batch import grade_class
from autograder.classroom.layout import Submission
from autograder.classroom.saved import adopt_legacy_folder, save_graded, saved_result, student_folder
from autograder.grading.results import SubmissionResult
from autograder.reports.class_report import write_class_report
from autograder.reports.feedback import render_feedback
from autograder.sandbox.limits import Limits
from autograder.submission.names import (MAX_FOLDER_NAME, folder_name, legacy_folder_name, lookalikes, marked,
                                         shown)
from submissions import stub_source

# Two ids whose old folder names agree (student~58abedd9): found by trying 121,260 ids of two Greek or Cyrillic
# letters, a space and two more (not plain names, and all slug to "student": the old rule kept 32 bits of SHA-256).
SHARED_OLD_FOLDER = ("αν βφ", "αо нτ")
RLO = "al\u202eecips.py"  # shows as "alyp.sp" + "ice" reversed: a right-to-left override
NFC, NFD = "caf\u00e9", "cafe\u0301"
LATIN, CYRILLIC = "paypal", "p\u0430ypal"


def test_did_two_ids_share_a_folder_under_the_old_rule():
    first, second = SHARED_OLD_FOLDER
    assert first != second and legacy_folder_name(first) == legacy_folder_name(second)
    assert folder_name(first) != folder_name(second)


ids = st.text(st.characters(blacklist_categories=()), min_size=1, max_size=300)


@settings(max_examples=300, deadline=None)
@given(first=ids, second=ids)
def test_is_every_folder_name_one_ids_alone(first, second):
    for student in (first, second):
        name = folder_name(student)
        assert "/" not in name and name not in (".", "..") and len(name.encode()) <= MAX_FOLDER_NAME
        if "~~" not in name and "~" in name:  # the id can be read back from its folder's name
            encoded = name.split("~", 1)[1].upper()
            assert base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode("utf-8", "surrogatepass") == student
    if first != second:
        assert folder_name(first) != folder_name(second)


def result_for(student, path):
    return SubmissionResult(assignment="convolution", submission=str(path), student=student, status="ok",
                            tests=[], message="")


def test_is_a_clash_resolved_and_not_overwritten(tmp_path):
    path = tmp_path / "a.py"
    path.write_text("")
    first, second = "x" * 150 + "é", "y" * 150 + "é"  # too long for a name: a hash names them
    taken = tmp_path / "out" / folder_name(first)
    taken.mkdir(parents=True)
    (taken / "grading.json").write_text(json.dumps({"student": second}))  # as if SHA-256 had collided
    save_graded(tmp_path / "out", Submission(first, path), result_for(first, path))
    assert json.loads((taken / "grading.json").read_text())["student"] == second  # not overwritten
    assert student_folder(tmp_path / "out", first).name == folder_name(first) + "~2"
    assert saved_result(tmp_path / "out", Submission(first, path))["student"] == first


def test_is_an_old_folder_found_and_moved_to_its_new_name(tmp_path):
    path = tmp_path / "a.py"
    path.write_text("")
    out = tmp_path / "out"
    first, second = SHARED_OLD_FOLDER
    save_graded(out, Submission(second, path), result_for(second, path))
    (out / folder_name(second)).rename(out / legacy_folder_name(second))  # what the old rule wrote
    adopt_legacy_folder(out, first)  # the old folder is the other student's: left alone
    assert (out / legacy_folder_name(second)).is_dir() and saved_result(out, Submission(first, path)) is None
    adopt_legacy_folder(out, second)
    assert not (out / legacy_folder_name(second)).exists()
    assert saved_result(out, Submission(second, path))["student"] == second


@pytest.mark.slow
def test_is_every_student_graded_reported_and_flagged(tmp_path):
    """Two ids of one old folder, an id with a right-to-left override, NFC and NFD, Latin and Cyrillic: every one
    has a row, a folder and a feedback page of their own; the hidden character is marked; the look-alikes are
    flagged in the summary, the report and the terminal."""
    folder = tmp_path / "class"
    folder.mkdir()
    students = [*SHARED_OLD_FOLDER, RLO.removesuffix(".py"), NFC, NFD, LATIN, CYRILLIC]
    for student in students:
        (folder / f"{student}.py").write_text(stub_source("convolution"))
    out = tmp_path / "out"
    limits = Limits(call_timeout_s=5, load_timeout_s=30)
    summary = grade_class(submissions=folder, assignment="convolution", out=out, workers=2, limits=limits,
                          similarity=False)
    assert sorted(row["student"] for row in summary.rows) == sorted(students)
    assert len({student_folder(out, student) for student in students}) == len(students)
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as handle:
        cells = [row["student"] for row in csv.DictReader(handle)]
    assert len(cells) == len(students) and "al<U+202E>ecips" in cells
    assert not any("\u202e" in cell for cell in cells)
    assert summary.lookalikes == sorted([sorted([NFC, NFD]), sorted([LATIN, CYRILLIC])])
    report = (out / "report.html").read_text()
    assert "\u202e" not in report and "U+202E</mark>" in report
    assert 'id="lookalikes"' in report and "looks like" in report
    feedback = (student_folder(out, RLO.removesuffix(".py")) / "feedback.html").read_text()
    assert "\u202e" not in feedback and "U+202E</mark>" in feedback

    from io import StringIO

    from rich.console import Console

    from autograder.cli import print_class_summary

    printed = StringIO()
    print_class_summary(Console(file=printed, width=200), summary, out)
    assert "look alike" in printed.getvalue() and "\u202e" not in printed.getvalue()

    # The old rule's folders of an earlier run are still found: resumed, not graded again, and a regrade works.
    shutil.rmtree(out / folder_name(SHARED_OLD_FOLDER[0]))
    (out / folder_name(SHARED_OLD_FOLDER[1])).rename(out / legacy_folder_name(SHARED_OLD_FOLDER[1]))
    again = grade_class(submissions=folder, assignment="convolution", out=out, workers=2, limits=limits,
                        similarity=False)
    assert again.graded_now == 1 and again.skipped == len(students) - 1  # only the student the old rule lost
    assert sorted(row["student"] for row in again.rows) == sorted(students)
    assert not (out / legacy_folder_name(SHARED_OLD_FOLDER[1])).exists()
    regrade = grade_class(submissions=folder, assignment="convolution", out=out, workers=1, limits=limits,
                          similarity=False, students=[SHARED_OLD_FOLDER[1]])
    assert regrade.graded_now == 1 and len(regrade.rows) == len(students)


def saved_for(student):
    return {"student": student, "assignment": "convolution", "status": "ok", "score": 0.0, "max_score": 11.0,
            "submission": f"{student}.py", "tests": [], "skipped_content": [], "load_errors": []}


@pytest.mark.parametrize("hidden", ["\u202e", "\u200b", "\u2066", "\u3164", "\x1b[31m", "\udcff"])
def test_is_a_hidden_character_of_an_id_marked_wherever_it_is_shown(tmp_path, hidden):
    student = f"al{hidden}ice"
    page = render_feedback(saved_for(student))
    assert hidden not in page and f"U+{ord(hidden[0]):04X}</mark>" in page
    write_class_report(tmp_path, "convolution", [saved_for(student)])
    report = (tmp_path / "report.html").read_text(errors="surrogateescape")
    assert hidden not in report and f"U+{ord(hidden[0]):04X}</mark>" in report
    chosen = gradebook.ClassSettings("convolution")
    gradebook.write_gradebook(tmp_path, "convolution", chosen, [gradebook.row(saved_for(student), "convolution",
                                                                              chosen)])
    text = (tmp_path / "gradebook.csv").read_text()
    assert hidden not in text and marked(student) in text
    assert json.loads((tmp_path / "gradebook.json").read_text())["rows"][0]["student"] == student  # the id itself
    assert hidden not in shown(student) and f"<U+{ord(hidden[0]):04X}>" in shown(student)


def test_are_ids_that_look_alike_flagged_in_the_report(tmp_path):
    results = [saved_for(student) for student in (NFC, NFD, LATIN, CYRILLIC, "bob")]
    assert lookalikes(saved["student"] for saved in results) == sorted([sorted([NFC, NFD]), sorted([LATIN, CYRILLIC])])
    write_class_report(tmp_path, "convolution", results)
    report = (tmp_path / "report.html").read_text()
    section = report.split('id="lookalikes"')[1].split("</ul>")[0]
    for student in (NFC, NFD, LATIN, CYRILLIC):
        assert student in section
    assert "bob" not in section
    assert lookalikes(["alice", "bob", "carol"]) == []


def test_does_nbgrader_find_a_result_saved_under_the_old_folder_name(tmp_path, monkeypatch):
    """`autograder grade COURSE --nbgrader` results saved by the old rule are used, not graded again."""
    import nbformat

    from autograder.files import file_digest
    from autograder.platforms.nbgrader import preprocessor

    student, assignment = "ann lee", "convolution"  # not a plain name: a folder of its own
    notebook = tmp_path / "submitted" / student / assignment / f"{assignment}.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text("{}")
    saved = saved_for(student) | {"submission": str(notebook), "sha256": file_digest(notebook)}
    old = tmp_path / "grades" / legacy_folder_name(student)
    old.mkdir(parents=True)
    (old / "grading.json").write_text(json.dumps(saved))
    monkeypatch.setattr("autograder.grading.grade.grade_submission",
                        lambda *args, **kwargs: pytest.fail("graded again instead of using the saved result"))
    grader = preprocessor.GradeInSandbox(results_directory=str(tmp_path / "grades"))
    resources = {"nbgrader": {"assignment": assignment, "student": student, "notebook": assignment}}
    assert grader._result(nbformat.v4.new_notebook(), resources, assignment, student) == saved
