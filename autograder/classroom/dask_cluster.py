"""Grading on a Dask cluster: one task per submission, the TA's machine alone writing OUT.

``batch.grade_class(..., scheduler=...)`` comes here, and only then is Dask imported. We do not write a
scheduler of our own: Dask distributed already runs over SSH (``dask scheduler`` / ``dask worker``), on
Slurm, PBS or SGE (dask-jobqueue) and on Kubernetes (dask-kubernetes), and it already retries the tasks of
a worker that dies.

- A task carries the submission's bytes; a worker needs the installed project and nothing else: no
  checkout, no submissions folder, no shared file system. It grades in its own sandbox, with the same
  limits as a local run, and sends the results back; this process writes them, atomically, as a local run
  does, so a rerun resumes from OUT.
- A worker killed while grading: the scheduler gives its task to another worker. A submission whose worker
  dies twice is recorded as ``crashed`` (the scheduler's allowed failures are set to 1), never retried in a
  loop.
- A worker that cannot sandbox refuses the task with WorkerCannotSandbox: the task goes to the other
  workers, and when none is left the run stops with the workers' reasons. Nothing is graded unsandboxed.
- The scheduler lost: SchedulerLost, with what to do; OUT keeps every result received.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from autograder.sandbox.isolation import IsolationUnavailable

ALLOWED_FAILURES = 1  # a task whose worker dies twice (once retried) is the submission's doing: crashed
# How long to try to reach the scheduler before saying so (AUTOGRADER_SCHEDULER_TIMEOUT, seconds).
CONNECT_TIMEOUT_S = float(os.environ.get("AUTOGRADER_SCHEDULER_TIMEOUT", "20"))


class SchedulerLost(RuntimeError):
    """The Dask scheduler could not be reached, or stopped answering during the run."""


class WorkerCannotSandbox(RuntimeError):
    """A Dask worker refused a task: no isolation works on its machine, so it will not run student code (or its
    grading code is not the TA's). ``args``: (message, the worker's address)."""


def grade_on_worker(student: str, data: bytes, submission: str, assignment: str, limits) -> dict:
    """A Dask task: grade one submission's bytes in this worker's sandbox; return what OUT should hold.

    The bytes are written to a private temporary folder that the sandbox hides from student code, like the
    submissions folder of a local run. ``submission`` is the path on the TA's machine, kept in the results.
    """
    from autograder.grading.grade import grade_submission
    from autograder.sandbox.isolation import default_isolation

    folder = Path(tempfile.mkdtemp(prefix="autograder-task-"))
    try:
        path = folder / Path(submission).name  # its name shows in tracebacks and feedback: keep it
        path.write_bytes(data)
        isolation = default_isolation(extra_hidden=(folder,))
        try:
            isolation.resolve()
        except IsolationUnavailable as error:
            from distributed import get_worker

            worker = get_worker().address
            raise WorkerCannotSandbox(f"the Dask worker {worker} on {socket.gethostname()} cannot sandbox student "
                                      f"code, so it refuses to grade: {error}", worker) from None
        result = grade_submission(path, assignment, limits=limits, isolation=isolation, student_id=student)
        result.submission = submission
        return {"saved": result.to_dict() | {"sha256": hashlib.sha256(data).hexdigest()},
                "gradescope": result.to_gradescope()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def grader_fingerprint() -> str:
    """A hash of the grading code here: the autograder package (suites included) and the solutions.

    Every worker must grade with the same code as the TA's machine, or two students of one class would be
    graded by different suites: the run refuses workers whose fingerprint differs."""
    import autograder
    import solutions

    digest = hashlib.sha256()
    for package in (autograder, solutions):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _allow_one_retry(dask_scheduler=None) -> int:
    """Run on the scheduler: a task may lose ALLOWED_FAILURES workers before it is declared failed."""
    dask_scheduler.allowed_failures = ALLOWED_FAILURES
    return ALLOWED_FAILURES


def connect(scheduler):
    """A distributed.Client for an address (tcp://host:8786), or the Client given; SchedulerLost if none."""
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False), True
    except (OSError, TimeoutError) as error:
        raise SchedulerLost(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None


def _check_workers(client, address: str) -> None:
    """Refuse a scheduler without workers, or one whose workers run other grading code than this machine."""
    from distributed.comm.core import CommClosedError

    try:
        client.run_on_scheduler(_allow_one_retry)
        workers = set(client.scheduler_info()["workers"])
    except (OSError, CommClosedError, TimeoutError) as error:
        raise SchedulerLost(f"lost the Dask scheduler at {address}: {error}") from None
    if not workers:
        raise SchedulerLost(f"the Dask scheduler at {address} has no workers: start some with "
                            f"`dask worker {address} --nthreads 1`")
    ours = grader_fingerprint()
    theirs = client.run(grader_fingerprint)
    stale = sorted(worker for worker, fingerprint in theirs.items() if fingerprint != ours)
    if stale:
        raise WorkerCannotSandbox(
            f"{len(stale)} of {len(theirs)} Dask workers run other grading code than this machine (another "
            f"version of the project, or of a hidden suite): {', '.join(stale)}. Install the same version on "
            f"every worker and restart them, so every student is graded by the same suite.")


def _without_refusing_worker(client, error: WorkerCannotSandbox, refused: dict[str, str]) -> list[str]:
    """Note the worker that could not sandbox (said once) and return the workers still usable; none left is a
    WorkerCannotSandbox for the whole run."""
    worker = error.args[1] if len(error.args) > 1 else f"worker {len(refused) + 1}"
    if worker not in refused:
        print(f"autograder: {error.args[0]}\nIts tasks go to the other workers.", file=sys.stderr, flush=True)
    refused[worker] = error.args[0]
    usable = sorted(set(client.scheduler_info()["workers"]) - set(refused))
    if not usable:
        raise WorkerCannotSandbox("no Dask worker can sandbox student code, so nothing more is graded:\n"
                                  + "\n".join(f"  {name}: {reason}" for name, reason in refused.items()))
    return usable


def grade_on_dask(pending, *, assignment: str, limits, scheduler,
                  on_result: Callable[[object, dict | None, str | None], None]) -> None:
    """Submit one task per pending submission and hand each outcome to ``on_result(submission, payload,
    crash)`` as it finishes (payload None and crash set when its workers died twice).

    Raises SchedulerLost when the scheduler goes away, WorkerCannotSandbox when no worker will grade.
    """
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    client, owned = connect(scheduler)
    address = client.scheduler.address
    try:
        _check_workers(client, address)
        refused: dict[str, str] = {}

        def submit(submission, allowed=None):
            data = submission.path.read_bytes()
            key = f"grade-{assignment}-{submission.student}-{hashlib.sha256(data).hexdigest()[:16]}"
            return client.submit(grade_on_worker, submission.student, data,
                                 str(submission.path), assignment, limits, pure=False, workers=allowed,
                                 allow_other_workers=False,
                                 key=key if allowed is None else f"{key}-on-{len(refused)}-refused")

        futures = {}
        for submission in pending:
            futures[submit(submission)] = submission
        queue = as_completed(list(futures), loop=client.loop)
        for future in queue:
            submission = futures.pop(future)
            try:
                payload = future.result()
            except KilledWorker as error:
                on_result(submission, None, f"the grading process died twice while grading this submission "
                                            f"({error})")
                continue
            except WorkerCannotSandbox as error:
                retry = submit(submission, _without_refusing_worker(client, error, refused))
                futures[retry] = submission
                queue.add(retry)
                continue
            except (FutureCancelledError, CommClosedError, OSError, TimeoutError) as error:
                raise SchedulerLost(f"lost the Dask scheduler at {address} ({type(error).__name__}: {error})") \
                    from None
            on_result(submission, payload, None)
    finally:
        if owned:
            client.close(timeout=5)

