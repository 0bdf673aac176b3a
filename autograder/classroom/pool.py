"""The local pool: one process per parallel slot, each with its own sandbox uid, grading one student at a time.

A pool process that dies (a submission that kills it) is retried once on a new pool; a second death records the
student as an internal error. Stopping the run (Ctrl-C, SIGTERM, SIGHUP) kills the pool and everything it was
starting; saved results stay saved and a rerun resumes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from autograder.classroom.layout import Submission
from autograder.classroom.saved import save_graded, save_internal_error
from autograder.files import file_digest
from autograder.sandbox.isolation import SANDBOX_UID_BASE, Isolation, default_isolation
from autograder.sandbox.launch import POOL_TAG, die_with_parent, kill_tagged
from autograder.sandbox.limits import Limits


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
    from autograder.grading.grade import grade_submission

    submission = Submission(student, Path(path))
    digest = file_digest(submission.path)  # before grading: the bytes graded, whatever happens to the file meanwhile
    result = grade_submission(submission.path, assignment, limits=limits, isolation=_slot_isolation,
                              student_id=student)
    return save_graded(Path(out), submission, result, digest)


def grade_in_pool(pending, assignment, out, workers, limits, submissions, finished) -> None:
    """The local pool, one sandbox uid per slot; a pool that breaks is restarted for what it had left."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(pending)))
    hidden = (str(out), str(Path(submissions).resolve() if Path(submissions).is_dir()
                             else Path(submissions).resolve().parent))
    # Decided once, here: a refusal comes before any student is graded, and the warning is printed once.
    plan = default_isolation(extra_hidden=hidden).resolve()
    attempts: dict[str, int] = {}
    while pending:
        pending = _run_pool(pending, assignment, out, workers, limits, (hidden, plan), finished, attempts)


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
                    saved = save_internal_error(out, submission, assignment, "the grading process died twice")
                except Exception as error:  # never lose a student to a grader bug: record it
                    saved = save_internal_error(out, submission, assignment, f"{type(error).__name__}: {error}")
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


