"""Grade a whole class: parallel, sandboxed, resumable, with a progress bar and a gradebook.

Each student is graded in a pool process of its own slot (one sandbox uid per
slot), and each result is written atomically to ``OUT/<student>/`` (a folder named by
``names.folder_name``: an id is data, never a path). A rerun skips
students whose saved result matches their submission's bytes, so after Ctrl-C or
a kill it finishes the class without losing or duplicating anything. The
gradebook is always rebuilt from the saved results.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import io
import json
import multiprocessing
import os
import signal
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from autograder.names import folder_name, is_plain, shown
from autograder.report import write_class_report, write_feedback
from autograder.results import SubmissionResult, TestCaseResult, write_json_atomic
from autograder.sandbox import (POOL_TAG, SANDBOX_UID_BASE, Isolation, Limits, default_isolation, die_with_parent,
                                kill_tagged)
from autograder.suites import ASSIGNMENTS

SUBMISSION_SUFFIXES = (".ipynb", ".py")
SOLUTIONS_DIR = Path(__file__).resolve().parents[1] / "solutions"
RESULT_FILE = "grading.json"        # everything we know, for resuming and reports
GRADESCOPE_FILE = "results.json"    # Gradescope's schema, for the student


class SubmissionLayoutError(ValueError):
    """The submissions folder cannot be read as a class (e.g. two files for one student)."""


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path


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
    interrupted: bool = False
    stop_signal: int = signal.SIGINT  # what interrupted the run (Ctrl-C, SIGTERM, SIGHUP)

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts


def _pick_file(folder: Path, assignment: str) -> Path | None:
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUBMISSION_SUFFIXES)
    preferred = [p for p in candidates if p.stem == assignment]
    return (preferred or candidates or [None])[0]


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
        found = [Submission(folder.name, _pick_file(folder / assignment, assignment)) for folder in student_folders]
        missing = [s.student for s in found if s.path is None]
        if missing:
            raise SubmissionLayoutError(f"no .ipynb or .py file for {', '.join(missing)} under {root}/<student>/"
                                        f"{assignment}/")
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
    from autograder.classbook import SETTINGS_FILE

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


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.cache
def suite_fingerprint(assignment: str) -> str:
    """A hash of what grades ``assignment``: its hidden suite (every file of its folder and the suites'
    conftest.py) and its reference solution. A saved result graded by another suite is out of date."""
    from autograder.suites import SUITES_DIR, suite_dir

    digest = hashlib.sha256()
    files = sorted(suite_dir(assignment).rglob("*.py")) + [SUITES_DIR / "conftest.py",
                                                            SOLUTIONS_DIR / f"{assignment}.py"]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def saved_result(out: Path, submission: Submission) -> dict | None:
    """The saved result for this exact submission graded by this suite, or None if absent, unreadable, for
    other bytes, or graded by another version of the hidden suite or the reference."""
    try:
        saved = json.loads((out / folder_name(submission.student) / RESULT_FILE).read_text())
        current = (saved.get("sha256") == fingerprint(submission.path)
                   and saved.get("suite") == suite_fingerprint(saved.get("assignment", "")))
        return saved if current else None
    except (OSError, ValueError, KeyError):
        return None


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe, as OWASP recommends;
    numbers stay numbers, and the text stays readable."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv_atomic(path: Path, fieldnames: list[str], rows: list[dict]) -> Path:
    """Every CSV the grader writes goes through here: formula-safe cells, written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(buffer.getvalue())
    os.replace(temporary, path)
    return path


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: stop the class run exactly as Ctrl-C does."""

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


@contextlib.contextmanager
def stop_on_termination():
    """While grading, SIGTERM and SIGHUP raise Stopped in the main thread: the pool is killed, saved results
    stay saved, and a rerun resumes. (Their default action would kill this process alone and leave the pool
    grading as orphans.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signal_number, frame):
        raise Stopped(signal_number)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


# -- pool processes -------------------------------------------------------------------------------------
_slot_isolation: Isolation | None = None


def _initialise_slot(slots, extra_hidden: tuple[str, ...], plan, tag: str) -> None:
    """Pool process start-up: take a slot (its own sandbox uid), use the parent's isolation plan, leave Ctrl-C
    and SIGTERM to the parent, and die with it. ``tag`` marks every worker it starts (sandbox.kill_tagged)."""
    global _slot_isolation
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(multiprocessing.parent_process().pid)
    os.environ[POOL_TAG] = tag
    slot = slots.get()
    uid = None if plan.uid is None else SANDBOX_UID_BASE + 1 + slot
    _slot_isolation = Isolation(extra_hidden=tuple(Path(p) for p in extra_hidden), uid=uid,
                                plan=dataclasses.replace(plan, uid=uid))


def _grade_and_save(student: str, path: str, assignment: str, out: str, limits: Limits) -> dict:
    from autograder.grade import grade_submission

    submission_path = Path(path)
    digest = fingerprint(submission_path)
    result: SubmissionResult = grade_submission(submission_path, assignment, limits=limits,
                                                isolation=_slot_isolation, student_id=student)
    return save_result(Path(out) / folder_name(student), result.to_dict() | {"sha256": digest}, result.to_gradescope())


def save_result(folder: Path, saved: dict, gradescope: dict) -> dict:
    """One student's files in OUT, whoever graded them (a pool process here, or a Dask worker elsewhere)."""
    saved = saved | {"suite": suite_fingerprint(saved["assignment"])}
    write_json_atomic(folder / GRADESCOPE_FILE, gradescope)
    write_feedback(folder, saved)
    write_json_atomic(folder / RESULT_FILE, saved)  # last: its presence means this student is done
    return saved


def grade_class(*, submissions: str | Path, assignment: str, out: str | Path, workers: int | None = None,
                limits: Limits | None = None, force: bool = False, progress=None, scheduler=None,
                students: list[str] | None = None, roster=None, late=None, similarity: bool = True) -> ClassSummary:
    """Grade every submission under ``submissions`` into ``out``. ``progress(done, total, row)`` is optional.

    ``scheduler``: a Dask scheduler's address or a ``distributed.Client``: the submissions are graded on its
    workers (autograder.scaleout) instead of in a local pool, and ``workers`` is ignored.
    ``students``: regrade these students only (a targeted regrade), whatever their saved results; the others'
    results stay as they are, and the gradebook and report are rebuilt from everyone's.
    ``roster`` (autograder.roster.Roster) and ``late`` (autograder.late.LatePolicy): checked against the class
    before anything is graded (RosterError, LatePolicyError), then kept in OUT/class.json for later runs
    (autograder.classbook). ``similarity``: add the similarity report to report.html.
    """
    from autograder import classbook

    out = Path(out).resolve()
    check_out_is_for(out, assignment)
    everyone = discover(submissions, assignment)
    chosen = classbook.settings(out, assignment, roster, late)
    missing = chosen.roster.check([s.student for s in everyone]) if chosen.roster else []
    if chosen.late:
        chosen.late.check(everyone)
    out.mkdir(parents=True, exist_ok=True)
    classbook.save_settings(out, chosen)
    summary = ClassSummary(assignment=assignment, missing=missing, settings=chosen,
                           renamed=[(s.student, folder_name(s.student)) for s in everyone if not is_plain(s.student)])
    # Internal errors are ours, not the student's: a rerun tries them again.
    if students is not None:
        unknown = sorted(set(students) - {s.student for s in everyone})
        if unknown:
            raise SubmissionLayoutError(f"no submission for student(s) {', '.join(unknown)} in {submissions}")
        pending = [s for s in everyone if s.student in set(students)]
    else:
        pending = [s for s in everyone if force or (saved_result(out, s) or {"status": "internal-error"})["status"]
                   == "internal-error"]
    summary.skipped = len(everyone) - len(pending)
    limits = limits or Limits()

    def finished(saved: dict) -> None:
        summary.graded_now += 1
        if progress:
            progress(summary.skipped + summary.graded_now, len(everyone),
                     classbook.row(saved, assignment, classbook.ClassSettings(assignment)))

    try:
        with stop_on_termination():
            if scheduler is not None and pending:
                _grade_on_dask(pending, assignment, out, limits, scheduler, finished)
            elif pending:
                _grade_in_pool(pending, assignment, out, workers, limits, submissions, finished)
    except KeyboardInterrupt as stop:
        summary.interrupted = True
        summary.stop_signal = getattr(stop, "signal_number", signal.SIGINT)
    finally:  # what was saved is in the gradebook and report, also when the scheduler was lost mid-run
        _finish(out, everyone, summary, similarity)
    return summary


def _finish(out: Path, everyone: list[Submission], summary: ClassSummary, similarity: bool) -> None:
    """The class's files from everyone's saved results: the late penalty on each feedback page (rewritten only
    when it changes), the gradebook, then the report with the similarity pairs."""
    from autograder import classbook

    chosen, assignment = summary.settings, summary.assignment
    paths = {s.student: s.path for s in everyone}
    summary.results = [saved for s in everyone if (saved := saved_result(out, s))]
    for saved in summary.results:
        if chosen.late:
            saved["late"] = chosen.late.assess(saved["student"], paths[saved["student"]]).to_dict(saved["score"])
        write_feedback(out / folder_name(saved["student"]), saved)
    summary.rows = ([classbook.row(saved, assignment, chosen) for saved in summary.results]
                    + [classbook.missing_row(person, assignment, chosen) for person in summary.missing])
    classbook.write_gradebook(out, assignment, chosen, summary.rows)
    if similarity and len(everyone) > 1:
        from autograder.similarity import find_similar

        try:  # a lead for the TA; never worth the gradebook or the rest of the report
            summary.similarity = find_similar(everyone, assignment)
        except Exception as error:
            summary.similarity_error = f"{type(error).__name__}: {error}"
    write_class_report(out, assignment, summary.results, similarity=summary.similarity,
                       similarity_error=summary.similarity_error, missing=summary.missing)


def _grade_in_pool(pending, assignment, out, workers, limits, submissions, finished) -> None:
    """The local pool, one sandbox uid per slot; a pool that breaks is restarted for what it had left."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(pending)))
    hidden = (str(out), str(Path(submissions).resolve() if Path(submissions).is_dir()
                             else Path(submissions).resolve().parent))
    # Decided once, here: a refusal comes before any student is graded, and the warning is printed once.
    base = default_isolation()
    plan = Isolation(extra_hidden=tuple(Path(p) for p in hidden), uid=base.uid, modes=base.modes).resolve()
    attempts: dict[str, int] = {}
    while pending:
        pending = _run_pool(pending, assignment, out, workers, limits, (hidden, plan), finished, attempts)


def _grade_on_dask(pending, assignment, out, limits, scheduler, finished) -> None:
    """A Dask cluster's workers grade; this process saves each result as it comes (autograder.scaleout)."""
    from autograder import scaleout

    def on_result(submission, payload, crash):
        finished(_crashed(submission, assignment, out, crash) if payload is None
                 else save_result(out / folder_name(submission.student), payload["saved"], payload["gradescope"]))

    scaleout.grade_on_dask(pending, assignment=assignment, limits=limits, scheduler=scheduler, on_result=on_result)


def _run_pool(pending, assignment, out, workers, limits, confinement, finished, attempts):
    """Run one pool over ``pending``; return what is left if a pool process died (it is then retried)."""
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for slot in range(workers):
        slots.put(slot)
    tag = f"{os.getpid()}-{uuid.uuid4().hex}"
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_initialise_slot,
                               initargs=(slots, *confinement, tag))
    futures = {pool.submit(_grade_and_save, s.student, str(s.path), assignment, str(out), limits): s
               for s in pending}
    left = []
    try:
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                submission = futures[future]
                try:
                    saved = future.result()
                except BrokenProcessPool:
                    attempts[submission.student] = attempts.get(submission.student, 0) + 1
                    if attempts[submission.student] < 2:
                        left.append(submission)
                        continue
                    saved = _internal_error(submission, assignment, out, "the grading process died twice")
                except Exception as error:  # never lose a student to a grader bug: record it
                    saved = _internal_error(submission, assignment, out, f"{type(error).__name__}: {error}")
                finished(saved)
    except KeyboardInterrupt:
        # Stop now: unfinished students are not saved and a rerun grades them. concurrent.futures has no
        # public way to kill busy pool processes, hence the private attribute.
        for process in list(pool._processes.values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        kill_tagged(tag)  # what a killed pool process was starting: nothing else would ever end it
        raise
    pool.shutdown(wait=True)
    kill_tagged(tag)  # a pool process that died (BrokenProcessPool) may have left its worker too
    return left


def _internal_error(submission: Submission, assignment: str, out: Path, detail: str) -> dict:
    result = SubmissionResult(assignment=assignment, submission=str(submission.path), student=submission.student,
                              status="internal-error",
                              message="internal grading error: the staff have been told; your score may change.")
    print(f"internal grading error for {shown(submission.student)}: {detail}", flush=True)
    return save_result(out / folder_name(submission.student),
                       result.to_dict() | {"sha256": fingerprint(submission.path)},
                       result.to_gradescope())


def _crashed(submission: Submission, assignment: str, out: Path, detail: str) -> dict:
    """A submission whose grading process died twice (on two Dask workers): zero, with the reason."""
    message = (f"Grading stopped: {detail}. Code that exhausts memory or kills its own process costs the tests "
               "it reaches; here that was all of them.")
    result = SubmissionResult(
        assignment=assignment, submission=str(submission.path), student=submission.student, status="crashed",
        message=message, tests=[TestCaseResult(name=f"{question} (not graded: the grading process died)",
                                               question=question, test_id=f"{question}_crashed", score=0.0,
                                               max_score=float(points), status="failed", message=message)
                                for question, points in ASSIGNMENTS[assignment].items()])
    return save_result(out / folder_name(submission.student),
                       result.to_dict() | {"sha256": fingerprint(submission.path)},
                       result.to_gradescope())
