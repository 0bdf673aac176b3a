"""Write graded scores into nbgrader's own gradebook database, so `nbgrader export` and formgrader show them.

``autograder grade COURSE --out DIR --nbgrader`` grades ``COURSE/submitted/<student>/<assignment>/``
and then, through nbgrader's ``Gradebook`` API, records each question's points as the
auto score of that question's test cell (``<question>_tests``), exactly where
``nbgrader autograde`` would put them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from autograder.report import per_question
from autograder.suites import ASSIGNMENTS


class GradebookError(RuntimeError):
    """The folder is not an nbgrader course ready for this assignment."""


def is_course(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / "nbgrader_config.py").is_file() and (folder / "submitted").is_dir()


def _timestamp(course_root: Path, student: str, assignment: str):
    from nbgrader.utils import parse_utc

    stamp = course_root / "submitted" / student / assignment / "timestamp.txt"
    try:
        return parse_utc(stamp.read_text().strip())
    except (OSError, ValueError):
        return None


def write_scores(*, course_root: str | Path, assignment: str, results: list[dict]) -> int:
    """Record each student's per-question points in the course's gradebook; return how many students."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.coursedir import CourseDirectory

    from autograder.release import load_course_config

    course_root = Path(course_root).resolve()
    if not is_course(course_root):
        raise GradebookError(f"{course_root} is not an nbgrader course (needs nbgrader_config.py and submitted/)")
    config = load_course_config(course_root)
    config.CourseDirectory.root = str(course_root)
    coursedir = CourseDirectory(config=config)
    with warnings.catch_warnings(), Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        # nbgrader's add_submission trips SQLAlchemy 2's "not in session" autoflush warning; the rows are
        # written all the same (the round-trip test reads them back with `nbgrader export`).
        warnings.filterwarnings("ignore", message=".*not in session.*")
        try:
            stored = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise GradebookError(f"the gradebook has no assignment {assignment!r}: run `autograder release "
                                 f"{assignment}` (or `nbgrader generate_assignment {assignment}`) in {course_root} "
                                 "first") from None
        notebook = next((nb for nb in stored.notebooks if nb.name == assignment), None)
        if notebook is None:
            raise GradebookError(f"assignment {assignment!r} in the gradebook has no notebook {assignment}.ipynb")
        cells = {cell.name: cell.max_score for cell in notebook.grade_cells}
        expected = {f"{question}_tests": float(points) for question, points in ASSIGNMENTS[assignment].items()}
        if {name: cells.get(name) for name in expected} != expected:
            raise GradebookError(f"the gradebook's grade cells {cells} do not carry the hidden suites' points "
                                 f"{expected}: release the assignment again")
        for saved in results:
            student = saved["student"]
            gradebook.update_or_create_student(student)
            timestamp = _timestamp(course_root, student, assignment)
            gradebook.update_or_create_submission(assignment, student,
                                                  **({"timestamp": timestamp} if timestamp else {}))
            for question, (earned, _) in per_question(saved).items():
                grade = gradebook.find_grade(f"{question}_tests", assignment, assignment, student)
                grade.auto_score = earned
                grade.needs_manual_grade = False
            gradebook.db.commit()
    return len(results)
