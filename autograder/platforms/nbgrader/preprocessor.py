"""nbgrader's own autograde pipeline, with the kernel taken out: scores come from the sandboxed grader.

``nbgrader autograde`` normally executes the student's notebook in a Jupyter kernel (its
``Execute`` preprocessor) and reads each test cell's output as its score. A kernel the
student's code runs in can rewrite anything in it, so no score may come from there. This
module replaces that one step: ``GradeInSandbox`` grades the submitted notebook with
``autograder.grading.grade`` (worker process, sandbox, hidden suites in this process) and writes
each question's result into its test cell's output, where nbgrader's ``SaveAutoGrades``
reads it as partial credit. Everything else is nbgrader's: the sanitising (OverwriteCells
restores locked cells), the submission record and timestamp, ``needs_manual_grade``, the
late penalty of the course's ``LateSubmissionPlugin``, the ``autograded/`` notebooks that
formgrader and ``generate_feedback`` read.

A course uses it by one line in its ``nbgrader_config.py`` (``configure_course``). Then
``nbgrader autograde``, formgrader's Autograde button and ``autograder grade COURSE
--nbgrader`` are the same pipeline and agree by construction.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput,
                                    NbGraderPreprocessor, SaveAutoGrades)
from traitlets import Float, Unicode

from autograder.course.assignments import ASSIGNMENTS
from autograder.files import clean_text, file_digest
from autograder.sandbox.limits import CALL_TIMEOUT_S
from autograder.submission.names import folder_name, legacy_folder_name

TEST_CELL_SUFFIX = "_tests"


class GradingFailed(RuntimeError):
    """The grader itself failed on this notebook: nbgrader records no score rather than a wrong 0."""


class GradeInSandbox(NbGraderPreprocessor):
    """Grade the submitted notebook in the sandbox; put each question's points in its test cell's output.

    With ``results_directory`` set (``autograder grade COURSE --out DIR --nbgrader`` sets it), a result saved
    there for the same submission bytes is used instead of grading again.
    """

    results_directory = Unicode("", help="a folder of autograder results (DIR/<student>/grading.json)").tag(
        config=True)
    call_timeout = Float(CALL_TIMEOUT_S, help="seconds allowed per call into the student's code").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        assignment, student = info["assignment"], info["student"]
        if assignment not in ASSIGNMENTS:
            raise GradingFailed(f"{assignment!r} is not an assignment of this autograder "
                                f"(known: {', '.join(ASSIGNMENTS)})")
        result = self._result(nb, resources, assignment, student)
        if result["status"] == "internal-error":
            raise GradingFailed(f"internal grading error for {student}: {result.get('message', '')}")
        per_question: dict[str, list[dict]] = {}
        for test in result["tests"]:
            per_question.setdefault(test["question"], []).append(test)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            question = grade_id.removesuffix(TEST_CELL_SUFFIX)
            if cell.cell_type == "code" and grade_id.endswith(TEST_CELL_SUFFIX) and question in ASSIGNMENTS[assignment]:
                cell.outputs = test_cell_outputs(per_question.get(question, []), result)
        return nb, resources

    def _result(self, nb, resources, assignment: str, student: str) -> dict:
        if self.results_directory:
            # A result of `autograder grade COURSE --nbgrader` for this student's submitted notebook, if the
            # file it graded still has the bytes it graded.
            # (the folder by today's naming rule, else by the old one: names.legacy_folder_name)
            for folder in dict.fromkeys((folder_name(student), legacy_folder_name(student))):
                try:
                    saved = json.loads((Path(self.results_directory) / folder / "grading.json").read_text())
                    submitted = Path(saved["submission"])
                    expected = Path(student, assignment, f"{resources['nbgrader']['notebook']}.ipynb")
                    if submitted.parts[-3:] == expected.parts and saved.get("sha256") == file_digest(submitted):
                        return saved
                except (OSError, ValueError, KeyError, TypeError):
                    pass
        from autograder.grading.grade import grade_submission
        from autograder.sandbox.limits import Limits

        with tempfile.TemporaryDirectory(prefix="nbgrader-autograde-") as folder:
            # The sanitised notebook (locked cells restored from the gradebook), not the raw upload.
            path = Path(folder) / f"{assignment}.ipynb"
            nbformat.write(nb, str(path))
            graded = grade_submission(path, assignment, student_id=student,
                                      limits=Limits(call_timeout_s=self.call_timeout))
        return graded.to_dict()


def test_cell_outputs(tests: list[dict], result: dict) -> list:
    """What a question's test cell shows in the autograded notebook and the feedback: a line per test, the
    messages of failing ones, then the points as the cell's value (nbgrader's partial credit)."""
    lines = []
    for test in tests:
        if test["max_score"] == 0 and test["status"] == "skipped":
            lines.append(f"· not scored  {test['name']} ({test['message']})")
            continue
        mark = "✓" if test["score"] == test["max_score"] else "✗"
        lines.append(f"{mark} {test['score']:g}/{test['max_score']:g}  {test['name']}")
        if test.get("message"):  # why it failed, or a note on a pass (graded with the student's own helper)
            lines.append("    " + test["message"].replace("\n", "\n    "))
    if not tests and result.get("message"):
        lines.append(result["message"])
    points = sum(test["score"] for test in tests)
    # clean_text: a lone surrogate in a student's message would stop nbformat writing the notebook (UTF-8)
    return [nbformat.v4.new_output("stream", name="stdout", text=clean_text("\n".join(lines) + "\n")),
            nbformat.v4.new_output("execute_result", data={"text/plain": f"{points:g}"}, execution_count=None)]


def autograde_preprocessors() -> list:
    """nbgrader's Autograde.autograde_preprocessors with Execute replaced by GradeInSandbox, in nbgrader's order:
    the grades go into the outputs first, SaveAutoGrades reads them, AssignLatePenalties needs the saved score."""
    return [GradeInSandbox, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
            AssignLatePenalties, CheckCellMetadata]
