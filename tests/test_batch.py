"""`autograder grade FOLDER --out DIR`: layouts, gradebook, resuming, and isolation between students."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from autograder.classroom import saved as saved_results
from autograder.classroom.batch import SubmissionLayoutError, discover, grade_class
from autograder.reports.class_report import class_statistics
from autograder.sandbox.limits import Limits
from submissions import SOLUTIONS, stub_source, with_replacements

pytestmark = pytest.mark.slow
HOG = '''
def sobel_magnitude(img):
    while True:
        pass
'''


def make_class(folder, count=4):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "correct.py").write_text((SOLUTIONS / "shifted_mnist.py").read_text())
    (folder / "stub.py").write_text(stub_source("shifted_mnist"))
    for index in range(count - 2):
        (folder / f"student{index}.py").write_text(stub_source("shifted_mnist") if index % 2 else
                                                   (SOLUTIONS / "shifted_mnist.py").read_text())
    return folder


def read_gradebook(out):
    with open(out / "gradebook.csv") as handle:
        return list(csv.DictReader(handle))


def test_are_flat_folders_and_nbgrader_trees_both_discovered(tmp_path):
    flat = make_class(tmp_path / "flat", 3)
    assert [s.student for s in discover(flat, "shifted_mnist")] == ["correct", "stub", "student0"]
    tree = tmp_path / "course" / "submitted"
    for student in ("ann", "ben"):
        (tree / student / "shifted_mnist").mkdir(parents=True)
        (tree / student / "shifted_mnist" / "shifted_mnist.ipynb").write_text("{}")
    assert [(s.student, s.path.name) for s in discover(tmp_path / "course", "shifted_mnist")] == \
        [("ann", "shifted_mnist.ipynb"), ("ben", "shifted_mnist.ipynb")]


def test_are_two_files_for_one_student_refused_clearly(tmp_path):
    (tmp_path / "ann.py").write_text("")
    (tmp_path / "ann.ipynb").write_text("")
    with pytest.raises(SubmissionLayoutError, match="more than one file for student"):
        discover(tmp_path, "convolution")


def test_is_an_out_folder_of_another_assignment_refused_before_anything_is_written(tmp_path, capsys):
    """Reusing --out for another assignment would overwrite its gradebook, report and student folders."""
    from autograder.cli import main

    classroom = make_class(tmp_path / "class", 2)
    for out, marker in ((tmp_path / "grades", "class.json"), (tmp_path / "old-grades", "alice/grading.json")):
        (out / marker).parent.mkdir(parents=True)
        (out / marker).write_text(json.dumps({"assignment": "convolution", "student": "alice"}))
        before = sorted(str(path.relative_to(out)) for path in out.rglob("*"))
        with pytest.raises(SubmissionLayoutError, match=f"{out} holds the grades of convolution"):
            grade_class(submissions=classroom, assignment="shifted_mnist", out=out)
        assert main(["grade", str(classroom), "-a", "shifted_mnist", "--out", str(out)]) == 2
        assert f"own --out (e.g. {out / 'shifted_mnist'})" in capsys.readouterr().out.replace("\n", "")
        assert sorted(str(path.relative_to(out)) for path in out.rglob("*")) == before


def test_does_a_class_get_a_gradebook_and_a_results_file_per_student(tmp_path):
    out = tmp_path / "out"
    summary = grade_class(submissions=make_class(tmp_path / "class"), assignment="shifted_mnist", out=out, workers=2)
    rows = {row["student"]: row for row in read_gradebook(out)}
    assert set(rows) == {"correct", "stub", "student0", "student1"}
    assert rows["correct"]["total"] == "6.0" and rows["stub"]["total"] == "0.0"
    assert rows["correct"]["status"] == "ok" and list(rows["correct"])[1:3] == ["shift_images", "evaluate_shifted"]
    results = json.loads((out / "correct" / "results.json").read_text())
    assert results["score"] == 6 and class_statistics("shifted_mnist", summary.results).full_marks["shift_images"] == 0.5
    # a rerun skips everyone, and --force regrades everyone
    again = grade_class(submissions=tmp_path / "class", assignment="shifted_mnist", out=out, workers=2)
    assert (again.skipped, again.graded_now) == (4, 0)
    forced = grade_class(submissions=tmp_path / "class", assignment="shifted_mnist", out=out, workers=2, force=True)
    assert forced.graded_now == 4


def test_is_a_changed_submission_or_hidden_suite_regraded_on_the_next_run(tmp_path, monkeypatch):
    folder = make_class(tmp_path / "class", 2)
    out = tmp_path / "out"
    grade_class(submissions=folder, assignment="shifted_mnist", out=out, workers=1)
    saved = json.loads((out / "correct" / "grading.json").read_text())
    assert saved["suite"] == saved_results.suite_fingerprint("shifted_mnist")
    assert grade_class(submissions=folder, assignment="shifted_mnist", out=out, workers=1).graded_now == 0
    (folder / "stub.py").write_text((SOLUTIONS / "shifted_mnist.py").read_text())  # a changed submission
    summary = grade_class(submissions=folder, assignment="shifted_mnist", out=out, workers=1)
    assert summary.graded_now == 1 and {r["student"]: r["total"] for r in read_gradebook(out)}["stub"] == "6.0"
    # a fixed test in the hidden suite (or the reference): everyone is regraded
    monkeypatch.setattr(saved_results, "suite_fingerprint", lambda assignment: "a fixed test in the hidden suite")
    assert grade_class(submissions=folder, assignment="shifted_mnist", out=out, workers=1).graded_now == 2


# A targeted regrade (--student) is tested in test_classbook.py, in a TA's whole run.


def test_does_a_hog_leave_another_students_result_unchanged(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "fair.py").write_text((SOLUTIONS / "convolution.py").read_text())
    (folder / "hog.py").write_text(with_replacements("convolution", {"sobel_magnitude": HOG}))
    out = tmp_path / "out"
    grade_class(submissions=folder, assignment="convolution", out=out, workers=2,
                limits=Limits(call_timeout_s=3))
    rows = {row["student"]: row for row in read_gradebook(out)}
    assert rows["fair"]["total"] == "11.0" and rows["fair"]["status"] == "ok"
    assert rows["hog"]["sobel_magnitude"] == "1.0" and rows["hog"]["status"] == "timeout"


def test_does_a_killed_run_resume_without_losing_or_duplicating_anyone(tmp_path):
    folder = make_class(tmp_path / "class", 6)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder.cli", "grade", str(folder), "-a", "shifted_mnist", "--out", str(out),
               "--workers", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*/grading.json"))) < 2:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # as hard as it gets: no chance to clean up
    process.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/grading.json")}
    assert 2 <= len(finished) < 6
    assert not list(out.glob("**/*.tmp"))  # atomic writes leave no half files behind
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    rows = read_gradebook(out)
    assert sorted(row["student"] for row in rows) == sorted(p.stem for p in folder.iterdir())
    # students finished before the kill were not graded again
    assert {name: (out / name / "grading.json").stat().st_mtime_ns for name in finished} == finished


def test_can_a_student_not_forge_the_gradebook_or_anothers_results(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    (folder / "honest.py").write_text(stub_source("shifted_mnist"))
    forge = f"""
def shift_images(images, dx, dy):
    for target in ({str(out / 'gradebook.csv')!r}, {str(out / 'honest' / 'results.json')!r},
                   {str(out / 'forger' / 'grading.json')!r}):
        try:
            with open(target, "w") as handle:
                handle.write('{{"score": 100}}')
        except OSError:
            pass
    return images
"""
    (folder / "forger.py").write_text(with_replacements("shifted_mnist", {"shift_images": forge}))
    grade_class(submissions=folder, assignment="shifted_mnist", out=out, workers=2)
    rows = {row["student"]: row for row in read_gradebook(out)}
    # Returning the input unchanged earns nothing in shift_images ("shape and dtype kept" counts only with the
    # right values); evaluate_shifted is graded against the student's own shifts and is the reference code (2 of 2).
    assert rows["honest"]["total"] == "0.0"
    assert (rows["forger"]["shift_images"], rows["forger"]["total"]) == ("0.0", "2.0")
    assert json.loads((out / "honest" / "results.json").read_text())["score"] == 0
    assert json.loads((out / "forger" / "grading.json").read_text())["score"] == 2
