"""A class's gradebook in OUT: who is who (the roster), late work, and the files an LMS imports.

``OUT/class.json`` keeps the assignment, the roster and the late policy given to ``autograder
grade``; a later run (a ``--student`` regrade, a resumed class) and ``autograder export`` use
them without the options being given again, and new options replace them.
``OUT/gradebook.csv`` is for people (formula-safe cells); ``OUT/gradebook.json`` holds the
same rows as plain values, and ``autograder export`` reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from autograder.classroom.late import LatePolicy
from autograder.classroom.layout import SETTINGS_FILE
from autograder.classroom.roster import Person, Roster, RosterError, export_rows
from autograder.course.assignments import ASSIGNMENTS, max_score
from autograder.files import write_csv_atomic, write_json_atomic
from autograder.grading.results import per_question
from autograder.submission.names import marked
GRADEBOOK_JSON = "gradebook.json"
LATE_COLUMNS = ("score_before_penalty", "days_late", "penalty_percent", "submitted_at", "due")


@dataclass
class ClassSettings:
    assignment: str
    roster: Roster | None = None
    late: LatePolicy | None = None
    reused: list[str] = field(default_factory=list)   # what was read back from OUT/class.json


def settings(out: Path, assignment: str, roster: Roster | None, late: LatePolicy | None) -> ClassSettings:
    """The roster and late policy for this run: those given, else those saved in OUT/class.json for this
    assignment."""
    chosen = ClassSettings(assignment, roster, late)
    try:
        saved = json.loads((out / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return chosen
    if saved.get("assignment") != assignment:
        return chosen
    if roster is None and saved.get("roster"):
        chosen.roster = Roster.from_json(saved["roster"])
        chosen.reused.append("roster")
    if late is None and saved.get("late"):
        chosen.late = LatePolicy.from_json(saved["late"])
        chosen.reused.append("late policy")
    return chosen


def save_settings(out: Path, chosen: ClassSettings) -> None:
    write_json_atomic(out / SETTINGS_FILE, {"assignment": chosen.assignment,
                                            "roster": chosen.roster.to_json() if chosen.roster else None,
                                            "late": chosen.late.to_json() if chosen.late else None})


def columns(assignment: str, chosen: ClassSettings) -> list[str]:
    return ["student", *(("lms_id", "name") if chosen.roster else ()), *ASSIGNMENTS[assignment], "total",
            "max_score", "status", *(LATE_COLUMNS if chosen.late else ())]


def row(saved: dict, assignment: str, chosen: ClassSettings) -> dict:
    """A student's gradebook row: the score per question, and the total after any late penalty."""
    earned = {question: points for question, (points, _) in per_question(assignment, saved["tests"]).items()}
    late = saved.get("late")
    result = {"student": saved["student"], **{question: earned.get(question, 0.0)
                                              for question in ASSIGNMENTS[assignment]},
              "total": late["score_after"] if late else saved["score"], "max_score": saved["max_score"],
              "status": saved["status"]}
    if chosen.roster:
        person = chosen.roster.by_submission.get(saved["student"])
        result |= {"lms_id": person.id if person else "", "name": person.name if person else ""}
    if chosen.late and late:
        result |= {"score_before_penalty": late["score_before"], "days_late": late["days_late"],
                   "penalty_percent": late["penalty_percent"], "submitted_at": late["submitted_at"],
                   "due": late["due"]}
    return result


def missing_row(person: Person, assignment: str, chosen: ClassSettings) -> dict:
    """A roster student with no submission: reported as missing, with empty scores (not 0)."""
    return {"student": person.submission, "lms_id": person.id, "name": person.name,
            **{question: None for question in ASSIGNMENTS[assignment]}, "total": None,
            "max_score": max_score(assignment), "status": "missing"}


def write_gradebook(out: Path, assignment: str, chosen: ClassSettings, rows: list[dict]) -> Path:
    from autograder.files import write_csv_atomic

    names = columns(assignment, chosen)
    write_json_atomic(out / GRADEBOOK_JSON, {"assignment": assignment, "rows": rows})
    # For people: an id's hidden characters (a right-to-left override) are written as <U+202E>; the JSON keeps the id
    return write_csv_atomic(out / "gradebook.csv", names, [{name: marked(value) if name == "student" and
                                                            isinstance(value, str) else value
                                                            for name, value in r.items() if name in names}
                                                           for r in rows])


def export(out: str | Path, fmt: str, path: str | Path | None = None, column: str | None = None
           ) -> tuple[Path, int, int]:
    """Write OUT's gradebook in ``fmt`` (canvas, moodle, csv); return (path, students, missing). ``column``: the
    score column's header (the assignment's name in the LMS; default: the assignment)."""
    out = Path(out)
    try:
        book = json.loads((out / GRADEBOOK_JSON).read_text())
        saved = json.loads((out / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        raise RosterError(f"{out} holds no graded class (no {GRADEBOOK_JSON} and {SETTINGS_FILE}): run "
                          "`autograder grade SUBMISSIONS --out OUT` first") from None
    assignment = book["assignment"]
    roster = Roster.from_json(saved["roster"]) if saved.get("roster") else None
    header, body = export_rows(fmt, assignment, max_score(assignment), book["rows"], roster, column)
    path = write_csv_atomic(Path(path) if path else out / f"{assignment}-{fmt}.csv", header, body)
    return path, len(book["rows"]), sum(r["status"] == "missing" for r in book["rows"])
