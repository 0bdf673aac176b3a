"""Hand graded results to an nbgrader course, the way ``nbgrader autograde`` would leave it.

``autograder grade COURSE --out DIR --nbgrader`` grades ``COURSE/submitted/<student>/<assignment>/``
in parallel in the sandbox, then runs nbgrader's own Autograde for each student with the
kernel taken out (``autograder.platforms.nbgrader.preprocessor``): nbgrader sanitises the notebook, our saved
result fills its test cells, and nbgrader records the grades, ``needs_manual_grade``, the
timestamp and the late penalty of the course's ``LateSubmissionPlugin``, and writes
``autograded/``. Formgrader, ``nbgrader export``, ``generate_feedback`` and ``release_feedback``
then work as after ``nbgrader autograde``, because it was ``nbgrader autograde``.
"""

from __future__ import annotations

import warnings
from datetime import timezone
from pathlib import Path

from autograder.course.assignments import ASSIGNMENTS
from autograder.platforms.nbgrader.course import (CourseError, is_course, load_course_config, put_scripts_on_path,
                                                  require_sandboxed)
from autograder.platforms.nbgrader.preprocessor import autograde_preprocessors


class GradebookError(CourseError):
    """The folder is not an nbgrader course ready for this assignment."""


def check_course(course_root: Path, assignment: str):
    """The course's configuration, once it is known to grade in the sandbox and to know this assignment."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.coursedir import CourseDirectory

    config = load_course_config(course_root)
    require_sandboxed(config, course_root, GradebookError)
    config.CourseDirectory.root = str(course_root)
    coursedir = CourseDirectory(config=config)
    with warnings.catch_warnings(), Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        try:
            stored = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise GradebookError(f"the gradebook has no assignment {assignment!r}: run `autograder release --course "
                                 f"{course_root} {assignment}` first") from None
        notebook = next((nb for nb in stored.notebooks if nb.name == assignment), None)
        if notebook is None:
            raise GradebookError(f"assignment {assignment!r} in the gradebook has no notebook {assignment}.ipynb")
        cells = {cell.name: cell.max_score for cell in notebook.grade_cells}
        expected = {f"{question}_tests": float(points) for question, points in ASSIGNMENTS[assignment].items()}
        if {name: cells.get(name) for name in expected} != expected:
            raise GradebookError(f"the gradebook's grade cells {cells} do not carry the hidden suites' points "
                                 f"{expected}: release the assignment again")
    return config, coursedir


def nbgrader_late_policy(course_root: str | Path, assignment: str):
    """The course's own late policy as autograder.classroom.late applies it, so that gradebook.csv, report.html, the feedback
    pages and ``autograder export`` show the number ``nbgrader export`` shows: the due date nbgrader's database
    holds for the assignment (``nbgrader db assignment add NAME --duedate=...``) and the penalty of its
    LateSubmissionPlugin, which has only two methods, ``none`` (shown, nothing taken) and ``zero`` (a late
    submission scores 0). Submission times come from nbgrader's timestamp.txt, as nbgrader's own do.

    None when the assignment has no due date. Raises GradebookError for a course with a late plugin of its own:
    its number cannot be shown outside nbgrader, so the grades there would disagree with nbgrader's."""
    from nbgrader.api import Gradebook

    from autograder.classroom.late import LatePolicy, Penalty

    config, coursedir = check_course(Path(course_root).resolve(), assignment)
    plugin = config.get("AssignLatePenalties", {}).get("plugin_class")
    if plugin is not None and getattr(plugin, "__name__", str(plugin)).rsplit(".", 1)[-1] != "LateSubmissionPlugin":
        raise GradebookError(f"the course's late plugin {plugin} is its own: autograder cannot show its penalties in "
                             "gradebook.csv, report.html or an export, which would then disagree with `nbgrader "
                             "export`. Use nbgrader's LateSubmissionPlugin (penalty_method 'none' or 'zero'), or "
                             "grade without --nbgrader and give --due and --late-penalty.")
    method = config.get("LateSubmissionPlugin", {}).get("penalty_method", "none")
    if method not in ("none", "zero"):
        raise GradebookError(f"LateSubmissionPlugin.penalty_method = {method!r}: nbgrader knows 'none' and 'zero'")
    with warnings.catch_warnings(), Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        due = gradebook.find_assignment(assignment).duedate
    if due is None:
        return None
    return LatePolicy(due=due.replace(tzinfo=timezone.utc) if due.tzinfo is None else due,
                      penalty=Penalty(rule=method))


def autograde_course(*, course_root: str | Path, assignment: str, results_directory: str | Path,
                     students: list[str]) -> list[str]:
    """Run nbgrader's sandboxed Autograde for each student, from the results saved in ``results_directory``.

    Returns the students done. Raises GradebookError for a course that is not ready, or when nbgrader fails.
    """
    from nbgrader.apps import NbGraderAPI


    course_root = Path(course_root).resolve()
    if not is_course(course_root):
        raise GradebookError(f"{course_root} is not an nbgrader course (needs nbgrader_config.py and submitted/)")
    config, coursedir = check_course(course_root, assignment)
    config.Autograde.autograde_preprocessors = autograde_preprocessors()
    config.GradeInSandbox.results_directory = str(Path(results_directory).resolve())
    put_scripts_on_path()
    api = NbGraderAPI(coursedir=coursedir, config=config)
    failures = []
    with warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy 2's "not in session" autoflush warning; the rows are
        # written all the same (the round-trip test reads them back with `nbgrader export`).
        warnings.filterwarnings("ignore", message=".*not in session.*")
        for student in students:
            outcome = api.autograde(assignment, student, force=True, create=True)
            if not outcome["success"]:
                failures.append(f"{student}: {(outcome.get('error') or outcome.get('log') or '')[-1500:]}")
    if failures:
        raise GradebookError("nbgrader autograde failed for " + "\n".join(failures))
    return students
