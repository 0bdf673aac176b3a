"""Release: nbgrader's generate_assignment, then the checks that the student version is safe to hand out.

``release()`` runs nbgrader's own GenerateAssignment (through ``NbGraderAPI``) with the
course's ``nbgrader_config.py``: solutions become stubs, hidden tests disappear, cells are
locked and checksummed. One small preprocessor of ours joins nbgrader's list (see
``release_preprocessors``). Then ``scan_for_leaks`` reads every released file and fails
on anything that must stay with the staff.
"""

from __future__ import annotations

import ast
import filecmp
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.preprocessors import ClearSolutions, NbGraderPreprocessor

from autograder.platforms.nbgrader.course import CourseError, load_course_config, put_scripts_on_path, require_sandboxed

from autograder.course.assignments import PROJECT_ROOT, ASSIGNMENTS

ROOT = PROJECT_ROOT
# Files copied from the package into an assignment's source folder, then released beside the notebook.
HELPERS = {"course_data.py": ROOT / "autograder" / "course" / "data.py"}
ASSIGNMENT_HELPERS = {"training": ["course_data.py"], "shifted_mnist": ["course_data.py"],
                      "what_networks_see": ["course_data.py"]}
STUB_LINE = re.compile(r"^(?P<indent>\s*)raise NotImplementedError\(\)\s*$")
DEF_LINE = re.compile(r"^(?P<indent>\s*)def (?P<name>\w+)\((?P<arguments>.*)")


class NameTheStubs(NbGraderPreprocessor):
    """Give each ``raise NotImplementedError()`` stub a message that names what to write.

    nbgrader's ``ClearSolutions.code_stub`` is one string for every cell, so on its own each
    stub would say nothing. Runs right after ClearSolutions, before the checksums.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("solution"):
            return cell, resources
        lines = cell.source.split("\n")
        for index, line in enumerate(lines):
            stub = STUB_LINE.match(line)
            if not stub:
                continue
            message = (f"replace this line with your code for {cell.metadata.nbgrader['grade_id']}, "
                       "then run the check cell below")
            for above in reversed(lines[:index]):
                definition = DEF_LINE.match(above)
                if definition and len(definition["indent"]) < len(stub["indent"]):
                    message = (f"{definition['name']} is not written yet: replace this line with its body "
                               "(the docstring says what to return), then run its check cell")
                    break
            lines[index] = f"{stub['indent']}raise NotImplementedError({message!r})"
        cell.source = "\n".join(lines)
        return cell, resources


def release_preprocessors() -> list:
    """nbgrader's GenerateAssignment preprocessors, with NameTheStubs right after ClearSolutions."""
    from nbgrader.converters import GenerateAssignment

    preprocessors = list(GenerateAssignment.class_traits()["preprocessors"].default())
    preprocessors.insert(preprocessors.index(ClearSolutions) + 1, NameTheStubs)
    return preprocessors


class ReleaseError(CourseError):
    """generate_assignment failed, or the released files leak something."""


@dataclass
class ReleaseReport:
    assignment: str
    folder: Path
    files: list[str] = field(default_factory=list)
    helpers_updated: list[str] = field(default_factory=list)
    source_copied: str = ""  # the source folder copied into another course, when it had none


def copy_source(source_root: Path, assignment: str) -> str:
    """Into another course (``--course``), copy this checkout's source folder of the assignment if it has none."""
    target = source_root / assignment
    if target.exists() or source_root == ROOT / "assignments":
        return ""
    shutil.copytree(ROOT / "assignments" / assignment, target,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", ".OTTER_LOG"))
    return str(target)


def sync_helpers(source_root: Path, assignment: str) -> list[str]:
    """Copy the package's helper files into the assignment's source folder; return those that changed."""
    changed = []
    for name in ASSIGNMENT_HELPERS.get(assignment, []):
        target = source_root / assignment / name
        if not target.exists() or not filecmp.cmp(HELPERS[name], target, shallow=False):
            shutil.copyfile(HELPERS[name], target)
            changed.append(str(target))
    return changed


def release(*, assignments: list[str] | None = None, course_root: str | Path = ROOT,
            release_directory: str | Path | None = None, db_url: str | None = None) -> list[ReleaseReport]:
    """Generate the student version of each assignment with nbgrader, then scan it for leaks.

    ``release_directory`` and ``db_url`` override nbgrader_config.py (the tests release into a
    temporary folder). Running it twice gives the same files.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    put_scripts_on_path()

    course_root = Path(course_root).resolve()
    config = load_course_config(course_root)
    require_sandboxed(config, course_root, ReleaseError)
    config.CourseDirectory.root = str(course_root)
    if release_directory is not None:
        config.CourseDirectory.release_directory = str(Path(release_directory).resolve())
    if db_url is not None:
        config.CourseDirectory.db_url = db_url
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    source_root = course_root / coursedir.source_directory
    reports = []
    for assignment in assignments or list(ASSIGNMENTS):
        if assignment not in ASSIGNMENTS:
            raise ReleaseError(f"unknown assignment {assignment!r}; expected one of {', '.join(ASSIGNMENTS)}")
        report = ReleaseReport(assignment, Path(coursedir.format_path(coursedir.release_directory, ".",
                                                                       assignment)).resolve())
        report.source_copied = copy_source(source_root, assignment)
        report.helpers_updated = sync_helpers(source_root, assignment)
        outcome = api.generate_assignment(assignment, force=True, create=True)
        if not outcome["success"]:
            raise ReleaseError(f"nbgrader generate_assignment {assignment} failed:\n{outcome.get('error', '')}\n"
                               f"{outcome.get('log', '')}")
        leaks = scan_for_leaks(report.folder)
        if leaks:
            raise ReleaseError(f"the release of {assignment} leaks staff material:\n  - " + "\n  - ".join(leaks))
        report.files = sorted(str(p.relative_to(report.folder)) for p in report.folder.rglob("*") if p.is_file())
        reports.append(report)
    return reports


def reference_fragments(assignment: str) -> dict[str, list[str]]:
    """For each graded function, the statement lines of its reference body (what a release must not contain).

    Graded constants (the Sobel filters) are not scanned: their values are textbook facts that the
    narrative states as formulas; the students' job there is to type them in.
    """
    source = (ROOT / "solutions" / f"{assignment}.py").read_text()
    fragments = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in ASSIGNMENTS[assignment]:
            body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
            segment = "\n".join(ast.get_source_segment(source, statement) for statement in body)
            # Distinctive lines only: "return out" alone is not a leak.
            fragments[node.name] = [line.strip() for line in segment.splitlines() if len(line.strip()) >= 24]
    return fragments


STAFF_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "hidden_points",
                 "solutions/", "solutions.", "autograder/suites", "autograder.suites", "BEGIN MARK SCHEME")


def scan_for_leaks(folder: str | Path) -> list[str]:
    """Every place in ``folder`` that shows a reference body line (of any assignment: a later assignment must
    not give away an earlier one), a solution or hidden-test marker, or a staff path."""
    fragments = {f"{assignment}.{name}": lines for assignment in ASSIGNMENTS
                 for name, lines in reference_fragments(assignment).items()}
    leaks = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix == ".ipynb":  # compare code, not JSON escapes
            import nbformat
            text = "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        for marker in STAFF_MARKERS:
            if marker in text:
                leaks.append(f"{path.name}: contains {marker!r}")
        for name, lines in fragments.items():
            for line in lines:
                if line in text:
                    leaks.append(f"{path.name}: contains the reference {name}: {line!r}")
    return leaks
