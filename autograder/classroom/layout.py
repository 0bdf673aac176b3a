"""A class on disk: which file is whose submission, and whether an output folder is this assignment's."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from autograder.submission.load import SUBMISSION_SUFFIXES, find_submission_file

RESULT_FILE = "grading.json"        # everything we know of one student, for resuming and reports
SETTINGS_FILE = "class.json"        # the roster and late policy a class was graded with (classroom.gradebook)


class SubmissionLayoutError(ValueError):
    """The submissions folder cannot be read as a class (e.g. two files for one student)."""


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path


def discover(submissions: str | Path, assignment: str) -> list[Submission]:
    """A single file, a flat folder (student id = file stem), or nbgrader's submitted/<student>/<assignment>/."""
    root = Path(submissions)
    if root.is_file():
        return [Submission(root.stem, root)]
    if not root.is_dir():
        raise SubmissionLayoutError(f"{root} is neither a file nor a folder")
    if (root / "submitted").is_dir():
        root = root / "submitted"
    student_folders = [p for p in sorted(root.iterdir()) if (p / assignment).is_dir()]
    if student_folders:
        found, problems = [], []
        for folder in student_folders:
            path, problem = find_submission_file(folder / assignment, assignment)
            if path is None:
                problems.append(f"{folder.name}: {problem}")
            found.append(Submission(folder.name, path))
        if problems:
            raise SubmissionLayoutError(f"no single submission file under {root}/<student>/{assignment}/ for "
                                        + "; ".join(problems))
        return found
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in SUBMISSION_SUFFIXES)
    stems = [p.stem for p in files]
    duplicates = sorted({stem for stem in stems if stems.count(stem) > 1})
    if duplicates:
        raise SubmissionLayoutError(f"more than one file for student(s) {', '.join(duplicates)} in {root}: keep "
                                    "one .ipynb or .py per student")
    if not files:
        raise SubmissionLayoutError(f"no .ipynb or .py submissions in {root} (nor an nbgrader submitted/ tree "
                                    f"with an {assignment}/ folder per student)")
    return [Submission(p.stem, p) for p in files]


def check_out_is_for(out: Path, assignment: str) -> None:
    """Refuse an OUT that holds another assignment's grades: its gradebook, report, class.json and student folders
    would be overwritten or mixed with this one's. One OUT per assignment (say grades/convolution)."""
    found = set()
    try:
        found.add(json.loads((out / SETTINGS_FILE).read_text())["assignment"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if not found and out.is_dir():  # an OUT from before class.json: its students' saved results say
        for saved in sorted(out.glob(f"*/{RESULT_FILE}"))[:20]:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                found.add(json.loads(saved.read_text())["assignment"])
    others = sorted(str(name) for name in found - {assignment})
    if others:
        raise SubmissionLayoutError(f"{out} holds the grades of {', '.join(others)}; grading {assignment} there would "
                                    f"overwrite its gradebook, report and student folders. Give each assignment its "
                                    f"own --out (e.g. {out / assignment}).")
