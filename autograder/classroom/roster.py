"""Who is who in the LMS, and grades in the files Canvas and Moodle import.

A roster CSV maps each submission name (a file stem, or an nbgrader student id) to the
student's id and name in the LMS:

    submission,id,name,sis_user_id,sis_login_id,section,email
    alice,12345,"Lovelace, Ada",S001,alovelace,Section A,ada@example.edu

``submission``, ``id`` and ``name`` are required; the rest are optional and are copied into
the exports that use them. ``autograder export OUT --format canvas|moodle|csv`` writes one
score column for the assignment (the score after any late penalty), in the layout each
system documents for import:

- **canvas**: the layout of Canvas's own gradebook export, which its importer
  (``GradebookImporter`` in canvas-lms) reads back: ``Student, ID, SIS User ID, SIS Login ID,
  Section`` (the importer wants ``Student`` and ``ID`` first and ``Section`` last), one column
  for the assignment, and a ``Points Possible`` row under the header. The importer finds a
  student by ``ID`` (the Canvas user id), then by SIS user id or login, then by name. A student
  with no submission gets an empty cell.
- **moodle**: Moodle's CSV grade import (``grade/import/csv``) identifies each row by a
  column the teacher maps to the user's ID number, email address, username or id; a grade is
  a number, and an empty cell means no grade. The file has ``ID number`` and
  ``Email address`` (Moodle's own export headers), the name, and the assignment column.
- **csv**: every column a spreadsheet needs, with the late-work details.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.classroom.late import read_csv

ROSTER_REQUIRED = ("submission", "id", "name")
ROSTER_OPTIONAL = ("sis_user_id", "sis_login_id", "section", "email")
FORMATS = ("canvas", "moodle", "csv")
CANVAS_ID_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_ID_COLUMNS = ("ID number", "Email address", "Full name")


class RosterError(ValueError):
    """A roster that cannot be used, or a class that does not match it."""


@dataclass(frozen=True)
class Person:
    submission: str
    id: str
    name: str
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""


@dataclass
class Roster:
    people: list[Person]

    def __post_init__(self):
        self.by_submission = {person.submission: person for person in self.people}

    @classmethod
    def read(cls, path: str | Path) -> Roster:
        rows = read_csv(path, ROSTER_REQUIRED, "roster", error=RosterError)
        people, seen = [], {"submission": {}, "id": {}}
        for number, row in enumerate(rows, 2):
            for column in ROSTER_REQUIRED:
                if not row.get(column):
                    raise RosterError(f"roster {path}, line {number}: empty {column}")
            for column in seen:
                if row[column] in seen[column]:
                    raise RosterError(f"roster {path}, line {number}: {column} {row[column]!r} is also on line "
                                      f"{seen[column][row[column]]}")
                seen[column][row[column]] = number
            people.append(Person(**{key: row.get(key, "") for key in ROSTER_REQUIRED + ROSTER_OPTIONAL}))
        if not people:
            raise RosterError(f"roster {path} lists nobody")
        return cls(people)

    def check(self, students: list[str]) -> list[Person]:
        """Every submission must be on the roster (an error names those that are not); returns the roster's
        people without a submission, who are reported as missing."""
        strangers = sorted(set(students) - set(self.by_submission))
        if strangers:
            raise RosterError(f"not on the roster: {', '.join(strangers)}. Add a row (submission,id,name) for each, "
                              "or fix the file names; no grades were written.")
        return [person for person in self.people if person.submission not in set(students)]

    def to_json(self) -> list[dict]:
        return [vars(person) for person in self.people]

    @classmethod
    def from_json(cls, data: list[dict]) -> Roster:
        return cls([Person(**person) for person in data])


def export_rows(fmt: str, assignment: str, max_score: float, rows: list[dict], roster: Roster | None,
                column: str | None = None) -> tuple[list[str], list[list]]:
    """Header and rows of the ``fmt`` export, from the gradebook's rows (one per student, "missing" included).

    ``column``: the score column's header, the assignment's name in the LMS (default: ``assignment``). Canvas
    matches ``Title (id)``, as its own export heads a column, by id, and a bare title by title; a title it does
    not know becomes a new assignment."""
    column = column or assignment
    if fmt not in FORMATS:
        raise RosterError(f"unknown format {fmt!r}: choose from {', '.join(FORMATS)}")
    if fmt in ("canvas", "moodle") and roster is None:
        raise RosterError(f"{fmt} identifies students by their {fmt.capitalize()} ids: grade with --roster "
                          "roster.csv (columns submission,id,name) first")

    def score(row):
        return "" if row["status"] == "missing" else row["total"]

    if fmt == "canvas":
        header = [*CANVAS_ID_COLUMNS, column]
        body = [["    Points Possible", "", "", "", "", max_score]]
        for row in rows:
            person = roster.by_submission[row["student"]]
            body.append([person.name, person.id, person.sis_user_id, person.sis_login_id, person.section, score(row)])
        return header, body
    if fmt == "moodle":
        header = [*MOODLE_ID_COLUMNS, column]
        people = [(roster.by_submission[row["student"]], row) for row in rows]
        return header, [[person.id, person.email, person.name, score(row)] for person, row in people]
    header = ["submission", "lms_id", "name", "score", "max_score", "status", "score_before_penalty", "days_late",
              "penalty_percent", "submitted_at", "due"]
    return header, [[row["student"], row.get("lms_id", ""), row.get("name", ""), score(row), max_score,
                     row["status"], row.get("score_before_penalty", score(row)), row.get("days_late", ""),
                     row.get("penalty_percent", ""), row.get("submitted_at", ""), row.get("due", "")]
                    for row in rows]
