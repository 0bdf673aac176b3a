"""Late work on the plain CLI path: a due date, per-student extensions and a penalty rule.

When a submission came in is read from nbgrader's ``timestamp.txt`` (written by ``nbgrader
collect`` beside each submitted notebook) or from a ``--submitted-at`` CSV, never from a file's
modification time: copying, unzipping or a ``git clone`` resets mtimes, and a student could set
their own. A student with no known submission time stops the run before anything is graded.

The penalty takes a share of the score the student earned, so a late 0 stays 0 and no penalty
exceeds what was earned. Every started day counts as a day, as in Canvas's late policy.
nbgrader courses graded with ``--nbgrader`` use the course's own ``LateSubmissionPlugin`` instead.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

NBGRADER_TIMESTAMP = "timestamp.txt"
DAY = timedelta(days=1)


class LatePolicyError(ValueError):
    """A due date, penalty rule, extensions or submission-times file that cannot be used as given."""


def parse_time(text: str, *, where: str) -> datetime:
    """An ISO 8601 time (``2026-11-20 23:59``, ``2026-11-20T23:59:00+01:00``, ``...Z``) or nbgrader's
    ``2026-11-20 23:59:00.123456 UTC``. A time without an offset is UTC, as nbgrader's timestamps are."""
    cleaned = re.sub(r"\s*(UTC|GMT)$", "", text.strip(), flags=re.IGNORECASE)
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise LatePolicyError(f"{where}: {text!r} is not a date and time (use ISO 8601, e.g. 2026-11-20 23:59 or "
                              "2026-11-20T23:59+01:00)") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def show_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Penalty:
    """none: lateness is shown, nothing is taken; zero: a late submission scores 0; percent: ``per_day``
    percent of the earned score per started day late, at most ``cap`` percent."""

    rule: str = "none"
    per_day: float = 0.0
    cap: float = 100.0

    @classmethod
    def parse(cls, text: str, cap: float | None = None) -> Penalty:
        value = text.strip().lower()
        if value in ("none", "zero"):
            if cap is not None:
                raise LatePolicyError(f"--late-cap applies to a percentage per day, not to --late-penalty {value}")
            return cls(rule=value)
        try:
            per_day = float(value.removesuffix("%/day").removesuffix("%"))
        except ValueError:
            raise LatePolicyError(f"--late-penalty {text!r}: use none, zero, or a percentage per day such as 10%"
                                  ) from None
        cap = 100.0 if cap is None else cap
        if not (0 < per_day <= 100) or not (0 < cap <= 100):
            raise LatePolicyError(f"--late-penalty {text!r} with cap {cap:g}%: both must be percentages in (0, 100]")
        return cls(rule="percent", per_day=per_day, cap=cap)

    def percent(self, days_late: int) -> float:
        if days_late <= 0 or self.rule == "none":
            return 0.0
        return 100.0 if self.rule == "zero" else min(self.cap, self.per_day * days_late)

    def describe(self) -> str:
        return {"none": "no penalty", "zero": "a late submission scores 0"}.get(
            self.rule, f"{self.per_day:g}% of the score per started day late, at most {self.cap:g}%")


@dataclass(frozen=True)
class Lateness:
    """One student's submission time against their due date, and what it costs."""

    submitted_at: datetime
    due: datetime
    extended: bool
    days_late: int
    penalty_percent: float

    def apply(self, score: float) -> float:
        return round(score * (1 - self.penalty_percent / 100), 2)

    def to_dict(self, score: float) -> dict:
        return {"submitted_at": show_time(self.submitted_at), "due": show_time(self.due), "extended": self.extended,
                "days_late": self.days_late, "penalty_percent": self.penalty_percent, "score_before": score,
                "score_after": self.apply(score)}


@dataclass
class LatePolicy:
    due: datetime
    penalty: Penalty = field(default_factory=Penalty)
    extensions: dict[str, datetime] = field(default_factory=dict)     # student -> their own due date
    submitted_at: dict[str, datetime] = field(default_factory=dict)   # student -> time, from --submitted-at

    def submission_time(self, student: str, path: Path) -> datetime | None:
        """From --submitted-at when it names the student, else nbgrader's timestamp.txt beside the file (in
        submitted/<student>/<assignment>/)."""
        if student in self.submitted_at:
            return self.submitted_at[student]
        stamp = Path(path).parent / NBGRADER_TIMESTAMP
        # Only in nbgrader's submitted/<student>/<assignment>/: a timestamp.txt that happens to lie in a flat
        # folder of submissions would otherwise date every student in it.
        if Path(path).parent.parent.name == student and stamp.is_file():
            return parse_time(stamp.read_text(errors="replace").strip(), where=str(stamp))
        return None

    def assess(self, student: str, path: Path) -> Lateness:
        submitted = self.submission_time(student, path)
        if submitted is None:
            raise LatePolicyError(f"no submission time for {student}")
        due = self.extensions.get(student, self.due)
        days = math.ceil((submitted - due) / DAY) if submitted > due else 0
        return Lateness(submitted_at=submitted, due=due, extended=student in self.extensions, days_late=days,
                        penalty_percent=self.penalty.percent(days))

    def check(self, submissions) -> None:
        """Before grading: every student has a submission time, and the CSVs name only known students."""
        students = {s.student for s in submissions}
        unknown = sorted((set(self.extensions) | set(self.submitted_at)) - students)
        if unknown:
            raise LatePolicyError(f"the extensions or submission times name student(s) with no submission: "
                                  f"{', '.join(unknown)}")
        timeless = sorted(s.student for s in submissions if self.submission_time(s.student, s.path) is None)
        if timeless:
            raise LatePolicyError(
                f"no submission time for {', '.join(timeless)}: with --due, each student needs one, from nbgrader's "
                f"submitted/<student>/<assignment>/{NBGRADER_TIMESTAMP} or from --submitted-at CSV (columns student,"
                "submitted_at). File modification times are never used: copying a file changes them.")

    def to_json(self) -> dict:
        return {"due": self.due.isoformat(), "penalty": vars(self.penalty),
                "extensions": {s: t.isoformat() for s, t in self.extensions.items()},
                "submitted_at": {s: t.isoformat() for s, t in self.submitted_at.items()}}

    @classmethod
    def from_json(cls, data: dict) -> LatePolicy:
        return cls(due=datetime.fromisoformat(data["due"]), penalty=Penalty(**data["penalty"]),
                   extensions={s: datetime.fromisoformat(t) for s, t in data["extensions"].items()},
                   submitted_at={s: datetime.fromisoformat(t) for s, t in data["submitted_at"].items()})


def read_csv(path: str | Path, required: tuple[str, ...], what: str, one_of: tuple[str, ...] = (),
             error: type[ValueError] = LatePolicyError) -> list[dict]:
    """Rows of a small CSV a TA wrote (Excel's BOM allowed), with the required columns checked by name
    (and at least one of ``one_of``, when given); a problem raises ``error``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in required if name not in header]
            if missing:
                raise error(f"{what} {path} has no column {', '.join(missing)} (its header: "
                                      f"{', '.join(header) or 'empty'}; expected {', '.join(required)})")
            if one_of and not set(one_of) & set(header):
                raise error(f"{what} {path} needs a column {' or '.join(one_of)} (its header: "
                                      f"{', '.join(header)})")
            return [{(key or "").strip(): (value or "").strip() for key, value in row.items()}
                    for row in reader if any((value or "").strip() for value in row.values())]
    except OSError as error:
        raise error(f"cannot read {what} {path}: {error.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise error(f"{what} {path} is not a UTF-8 CSV file ({error})") from None


def _per_student(path: str | Path, what: str, columns: tuple[str, ...], due: datetime | None = None
                 ) -> dict[str, datetime]:
    """student -> a time, from a CSV with a student column and one of ``columns`` (a time, or ``days`` added
    to ``due``)."""
    rows = read_csv(path, ("student",), what, one_of=columns)
    found: dict[str, datetime] = {}
    for number, row in enumerate(rows, 2):
        student = row["student"]
        if student in found:
            raise LatePolicyError(f"{what} {path}, line {number}: {student} appears twice")
        if row.get(columns[0]):
            found[student] = parse_time(row[columns[0]], where=f"{what} {path}, line {number}")
            continue
        try:
            found[student] = due + timedelta(days=float(row.get("days", "")))
        except (TypeError, ValueError):
            raise LatePolicyError(f"{what} {path}, line {number}: give {' or '.join(columns)} for {student}"
                                  ) from None
    return found


def policy_from_options(*, due: str, penalty: str = "none", cap: float | None = None,
                        extensions: str | None = None, submitted_at: str | None = None) -> LatePolicy:
    """The CLI's --due, --late-penalty, --late-cap, --extensions and --submitted-at, checked."""
    deadline = parse_time(due, where="--due")
    granted = _per_student(extensions, "extensions file", ("due", "days"), deadline) if extensions else {}
    times = _per_student(submitted_at, "submission times file", ("submitted_at",)) if submitted_at else {}
    return LatePolicy(due=deadline, penalty=Penalty.parse(penalty, cap), extensions=granted, submitted_at=times)
