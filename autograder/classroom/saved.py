"""One student's files in OUT: written by whoever graded them (a pool process, a Dask worker's result received
here), read back to resume a run and to build the gradebook and reports."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from autograder.course.assignments import SOLUTIONS_DIR, SUITES_DIR, suite_dir
from autograder.files import file_digest, write_json_atomic
from autograder.grading.results import INTERNAL_ERROR, SubmissionResult
from autograder.reports.feedback import write_feedback
from autograder.classroom.layout import RESULT_FILE, Submission
from autograder.submission.names import folder_name, legacy_folder_name, shown

GRADESCOPE_FILE = "results.json"    # Gradescope's schema, for the student


@functools.cache
def suite_fingerprint(assignment: str) -> str:
    """A hash of what grades ``assignment``: its hidden suite (every file of its folder and the suites'
    conftest.py) and its reference solution. A saved result graded by another suite is out of date."""
    digest = hashlib.sha256()
    files = sorted(suite_dir(assignment).rglob("*.py")) + [SUITES_DIR / "conftest.py",
                                                            SOLUTIONS_DIR / f"{assignment}.py"]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _owner(folder: Path) -> str | None:
    """Whose results a folder holds (its grading.json says), or None when it holds none."""
    try:
        student = json.loads((folder / RESULT_FILE).read_text()).get("student")
    except (OSError, ValueError, AttributeError):
        return None
    return student if isinstance(student, str) else None


def student_folder(out: Path, student: str) -> Path:
    """The folder under OUT for this student: ``folder_name``, which no other id is given. Should it hold another
    student's results all the same (two ids too long for a name whose SHA-256 agree, or a folder of the old rule),
    that clash is resolved, never overwritten: the next of ``NAME~2``, ``NAME~3``, ... that is free or theirs."""
    base = folder_name(student)
    for number in range(1, 1000):
        folder = out / (base if number == 1 else f"{base}~{number}")
        if _owner(folder) in (None, student):
            return folder
    raise RuntimeError(f"no free folder for {shown(student)} under {out}")


def adopt_legacy_folder(out: Path, student: str) -> None:
    """Move a folder named by the old rule (legacy_folder_name) that holds this student's results to the folder the
    student has now, so an earlier run's results are found, resumed and regraded as before. A folder of the old rule
    that holds someone else's results (two ids shared it) is left alone: the student is graded again."""
    old = out / legacy_folder_name(student)
    if old.name == folder_name(student) or _owner(old) != student:
        return
    new = student_folder(out, student)
    if not new.exists():
        old.rename(new)


def saved_result(out: Path, submission: Submission) -> dict | None:
    """The saved result for this exact submission graded by this suite, or None if absent, unreadable, for
    other bytes, or graded by another version of the hidden suite or the reference."""
    try:
        saved = json.loads((student_folder(out, submission.student) / RESULT_FILE).read_text())
        current = (saved.get("student") == submission.student and saved.get("sha256") == file_digest(submission.path)
                   and saved.get("suite") == suite_fingerprint(saved.get("assignment", "")))
        return saved if current else None
    except (OSError, ValueError, KeyError):
        return None


def save_result(folder: Path, saved: dict, gradescope: dict) -> dict:
    """One student's files in OUT, whoever graded them (a pool process here, or a Dask worker elsewhere)."""
    saved = saved | {"suite": suite_fingerprint(saved["assignment"])}
    write_json_atomic(folder / GRADESCOPE_FILE, gradescope)
    write_feedback(folder, saved)
    write_json_atomic(folder / RESULT_FILE, saved)  # last: its presence means this student is done
    return saved


def save_graded(out: Path, submission: Submission, result: SubmissionResult, digest: str | None = None) -> dict:
    """Save a SubmissionResult for ``submission`` (``digest``: of the bytes graded, when they came from elsewhere)."""
    return save_result(student_folder(out, submission.student),
                       result.to_dict() | {"sha256": digest or file_digest(submission.path)}, result.to_gradescope())


def save_internal_error(out: Path, submission: Submission, assignment: str, detail: str) -> dict:
    """Never lose a student to a grader bug: record it (a rerun grades them again), and tell the staff."""
    print(f"internal grading error for {shown(submission.student)}: {detail}", flush=True)
    return save_graded(out, submission, SubmissionResult.failed(
        assignment=assignment, submission=str(submission.path), student=submission.student,
        status="internal-error", message=INTERNAL_ERROR))


def save_crashed(out: Path, submission: Submission, assignment: str, detail: str) -> dict:
    """A submission whose grading process died twice (on two Dask workers): zero, with the reason."""
    message = (f"Grading stopped: {detail}. Code that exhausts memory or kills its own process costs the tests "
               "it reaches; here that was all of them.")
    return save_graded(out, submission, SubmissionResult.failed(
        assignment=assignment, submission=str(submission.path), student=submission.student, status="crashed",
        message=message, zero_every_question=True))
