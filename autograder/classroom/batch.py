"""Grade a whole class: parallel, sandboxed, resumable, with a progress bar and a gradebook.

Each student is graded in a pool process of its own slot (``classroom.pool``) or on a Dask worker
(``classroom.dask_cluster``), and each result is written atomically to ``OUT/<student>/`` (a folder named by
``submission.names.folder_name``: an id is data, never a path). A rerun skips students whose saved result
matches their submission's bytes, so after Ctrl-C or a kill it finishes the class without losing or duplicating
anything. The gradebook is always rebuilt from the saved results.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

from autograder.classroom import gradebook
from autograder.classroom.layout import Submission, SubmissionLayoutError, check_out_is_for, discover
from autograder.classroom.pool import grade_in_pool, stop_on_termination
from autograder.classroom.saved import adopt_legacy_folder, save_crashed, save_result, saved_result, student_folder
from autograder.reports.class_report import write_class_report
from autograder.reports.feedback import write_feedback
from autograder.sandbox.limits import Limits
from autograder.submission.names import is_plain, lookalikes

__all__ = ["ClassSummary", "Submission", "SubmissionLayoutError", "discover", "grade_class"]


@dataclass
class ClassSummary:
    assignment: str
    rows: list[dict] = field(default_factory=list)   # one per student, from the saved results
    results: list[dict] = field(default_factory=list)  # the saved results themselves (grading.json)
    graded_now: int = 0
    skipped: int = 0
    missing: list = field(default_factory=list)        # roster people without a submission (Person)
    settings: object = None                             # the roster and late policy used (ClassSettings)
    similarity: object = None                          # the similarity report (SimilarityReport), or None
    similarity_error: str = ""
    renamed: list = field(default_factory=list)         # (student id, folder) for ids that are not plain names
    lookalikes: list = field(default_factory=list)      # groups of ids that look alike (submission.names.lookalikes)
    interrupted: bool = False
    stop_signal: int = signal.SIGINT  # what interrupted the run (Ctrl-C, SIGTERM, SIGHUP)

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts


def grade_class(*, submissions: str | Path, assignment: str, out: str | Path, workers: int | None = None,
                limits: Limits | None = None, force: bool = False, progress=None, scheduler=None,
                students: list[str] | None = None, roster=None, late=None, similarity: bool = True) -> ClassSummary:
    """Grade every submission under ``submissions`` into ``out``. ``progress(done, total, row)`` is optional.

    ``scheduler``: a Dask scheduler's address or a ``distributed.Client``: the submissions are graded on its
    workers (autograder.classroom.dask_cluster) instead of in a local pool, and ``workers`` is ignored.
    ``students``: regrade these students only (a targeted regrade), whatever their saved results; the others'
    results stay as they are, and the gradebook and report are rebuilt from everyone's.
    ``roster`` (classroom.roster.Roster) and ``late`` (classroom.late.LatePolicy): checked against the class
    before anything is graded (RosterError, LatePolicyError), then kept in OUT/class.json for later runs
    (autograder.classroom.gradebook). ``similarity``: add the similarity report to report.html.
    """
    out = Path(out).resolve()
    everyone, chosen, missing = _prepare(out, submissions, assignment, roster, late)
    summary = ClassSummary(assignment=assignment, missing=missing, settings=chosen,
                           renamed=[(s.student, student_folder(out, s.student).name) for s in everyone
                                    if not is_plain(s.student)],
                           lookalikes=lookalikes(s.student for s in everyone))
    pending = _pending(everyone, out, students, force, submissions)
    summary.skipped = len(everyone) - len(pending)
    limits = limits or Limits()

    def finished(saved: dict) -> None:
        summary.graded_now += 1
        if progress:
            progress(summary.skipped + summary.graded_now, len(everyone),
                     gradebook.row(saved, assignment, gradebook.ClassSettings(assignment)))

    try:
        with stop_on_termination():
            if scheduler is not None and pending:
                _grade_on_dask(pending, assignment, out, limits, scheduler, finished)
            elif pending:
                grade_in_pool(pending, assignment, out, workers, limits, submissions, finished)
    except KeyboardInterrupt as stop:
        summary.interrupted = True
        summary.stop_signal = getattr(stop, "signal_number", signal.SIGINT)
    finally:  # what was saved is in the gradebook and report, also when the scheduler was lost mid-run
        _finish(out, everyone, summary, similarity)
    return summary


def _prepare(out: Path, submissions, assignment: str, roster, late):
    """Everything checked before anything is graded: OUT is this assignment's, the class is readable, the roster
    and late policy fit it. Returns (everyone, the settings in force, roster people without a submission)."""
    check_out_is_for(out, assignment)
    everyone = discover(submissions, assignment)
    chosen = gradebook.settings(out, assignment, roster, late)
    missing = chosen.roster.check([s.student for s in everyone]) if chosen.roster else []
    if chosen.late:
        chosen.late.check(everyone)
    out.mkdir(parents=True, exist_ok=True)
    for submission in everyone:  # an earlier run's folders of the old naming rule, found under the new names
        adopt_legacy_folder(out, submission.student)
    gradebook.save_settings(out, chosen)
    return everyone, chosen, missing


def _pending(everyone: list[Submission], out: Path, students, force: bool, submissions) -> list[Submission]:
    """Who is graded now: the students named (a targeted regrade), else everyone without a current saved result.
    Internal errors are ours, not the student's: a rerun tries them again."""
    if students is not None:
        unknown = sorted(set(students) - {s.student for s in everyone})
        if unknown:
            raise SubmissionLayoutError(f"no submission for student(s) {', '.join(unknown)} in {submissions}")
        return [s for s in everyone if s.student in set(students)]
    return [s for s in everyone if force or (saved_result(out, s) or {"status": "internal-error"})["status"]
            == "internal-error"]


def _finish(out: Path, everyone: list[Submission], summary: ClassSummary, similarity: bool) -> None:
    """The class's files from everyone's saved results: the late penalty on each feedback page (rewritten only
    when it changes), the gradebook, then the report with the similarity pairs."""
    chosen, assignment = summary.settings, summary.assignment
    paths = {s.student: s.path for s in everyone}
    summary.results = [saved for s in everyone if (saved := saved_result(out, s))]
    for saved in summary.results:
        if chosen.late:
            saved["late"] = chosen.late.assess(saved["student"], paths[saved["student"]]).to_dict(saved["score"])
        write_feedback(student_folder(out, saved["student"]), saved)
    summary.rows = ([gradebook.row(saved, assignment, chosen) for saved in summary.results]
                    + [gradebook.missing_row(person, assignment, chosen) for person in summary.missing])
    gradebook.write_gradebook(out, assignment, chosen, summary.rows)
    if similarity and len(everyone) > 1:
        from autograder.classroom.similarity import find_similar

        try:  # a lead for the TA; never worth the gradebook or the rest of the report
            summary.similarity = find_similar(everyone, assignment)
        except Exception as error:
            summary.similarity_error = f"{type(error).__name__}: {error}"
    write_class_report(out, assignment, summary.results, similarity=summary.similarity,
                       similarity_error=summary.similarity_error, missing=summary.missing,
                       folders={s.student: student_folder(out, s.student).name for s in everyone})


def _grade_on_dask(pending, assignment, out, limits, scheduler, finished) -> None:
    """A Dask cluster's workers grade; this process saves each result as it comes (classroom.dask_cluster)."""
    from autograder.classroom import dask_cluster

    def on_result(submission, payload, crash):
        finished(save_crashed(out, submission, assignment, crash) if payload is None
                 else save_result(student_folder(out, submission.student), payload["saved"], payload["gradescope"]))

    dask_cluster.grade_on_dask(pending, assignment=assignment, limits=limits, scheduler=scheduler, on_result=on_result)


