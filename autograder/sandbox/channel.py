"""Run student code in a separate, sandboxed worker process and call it from the grader.

``launch_worker`` is the one place that starts a worker, under the strongest isolation that
works here (``autograder.sandbox.isolation``: bubblewrap, else Landlock, else a sandbox uid, else a
refusal). With bubblewrap the worker gets no network, a read-only root, a private /tmp and
/dev/shm of bounded size, empty folders over everything that could reveal answers
(solutions/, the hidden suites, the notebooks' sources, .git, the output folder, other
submissions, every non-system top-level folder) and its own PID namespace that dies with the
grader. Resource limits (memory, CPU time, processes, file size) and an allow-listed
environment apply in every mode. ``StudentCode`` is the proxy the hidden
suites use: ``student.call("apply_convolution", img, kernel)``. Every problem
on the student's side (missing function, exception, timeout, crash, a value
that cannot cross the boundary) becomes a ``GradingFailure`` subclass with a
message written for the student, so it costs that test and nothing else."""

from __future__ import annotations

import errno
import os
import select
import shutil
import signal
import subprocess
import time
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from autograder.sandbox.failures import (MalformedReply, NotDefined, NotImplementedYet, StudentException,
                                         StudentFailure, StudentTimeout, Unsendable, WorkerCrashed, WorkerStartError)
from autograder.sandbox.isolation import Isolation, default_isolation
from autograder.sandbox.launch import adopt_orphans, kill_orphans, launch_worker
from autograder.sandbox.limits import CALLBACK_MAX_ELEMENTS, WALL_CAP_FACTOR, Limits
from autograder.sandbox.template import (SpawnedProcess, Template, TemplateLost, discard, release,
                                         running_templates, template_for, template_problem)
from autograder.sandbox.values import (Reply, _check_reply, _decode, _extent, _on_meta, describe_arguments)
from autograder.worker import protocol
from autograder.worker.protocol import ErrorKind


class LoadedCode(Protocol):
    """What the sandbox needs of a loaded submission (autograder.submission.load.LoadedSubmission, a layer above):
    the chunks to run, each with a ``label`` and its ``code``, and why a definition could not be used."""

    chunks: list
    broken: dict[str, str]


def _describe_exit(returncode: int | None, limits: Limits) -> str:
    if returncode is None:
        return "it stopped answering"
    if returncode < 0:
        signal_number = -returncode
        if signal_number == signal.SIGXCPU:
            return f"it exceeded the CPU-time limit of {limits.cpu_seconds} s"
        if signal_number == signal.SIGXFSZ:
            return f"it wrote a file larger than the {limits.file_bytes // 2**20} MiB limit"
        try:
            name = signal.Signals(signal_number).name
        except ValueError:
            name = str(signal_number)
        if signal_number == signal.SIGKILL:
            return (f"killed by SIGKILL, which usually means it exceeded the "
                    f"{limits.memory_bytes / 2**30:g} GiB memory limit")
        return f"killed by signal {name}"
    return f"exit code {returncode}"


class _Clock:
    """One call's time limit: CPU time of the worker where it can be read (a forked worker: its template reads it),
    so that a busy machine never costs a correct student a call, with a wall-clock cap ``WALL_CAP_FACTOR`` times
    larger for sleeps and blocked reads; wall-clock time alone on the spawn path (the launcher is not the worker).

    The worker's CPU time is first read after ``POLL_S`` without an answer, not when the call starts: most calls
    answer sooner, and a read is a round trip to the template. A call is then lent at most that much CPU time."""

    POLL_S = 0.05

    def __init__(self, process, cpu_limit: float, wall_cap: float):
        self.process, self.cpu_limit = process, cpu_limit
        self.measured = process.measures_cpu
        self.started, self.cpu_started = time.monotonic(), None
        self.wall = wall_cap if self.measured else cpu_limit
        self.cause = "wall"

    def wall_left(self) -> float:
        return max(0.0, self.started + self.wall - time.monotonic())

    def wait_readable(self, fd: int) -> None:
        """Return once ``fd`` has data; raise ReceiveTimeout when the call's CPU time or its wall-clock cap runs out."""
        while not select.select([fd], [], [], min(self.POLL_S, self.wall_left()))[0]:
            if self.wall_left() <= 0:
                raise protocol.ReceiveTimeout()
            if not self.measured:
                continue
            used = self.process.cpu_seconds()
            if used is None and self.process.poll() is not None:
                raise EOFError  # it died, and a process it started holds its end of the pipe open
            if used is None:
                continue
            if self.cpu_started is None:
                self.cpu_started = used
            elif used - self.cpu_started > self.cpu_limit:
                self.cause = "cpu"
                raise protocol.ReceiveTimeout()

    def describe(self) -> str:
        if not self.measured:
            return f"{round(self.wall, 1):g} s"
        if self.cause == "cpu":
            return f"{round(self.cpu_limit, 1):g} s of CPU time"
        return (f"{round(self.wall, 1):g} s of waiting (the limit is {round(self.cpu_limit, 1):g} s of CPU time, "
                f"and {WALL_CAP_FACTOR:g} times that on the clock for code that sleeps or waits)")


@dataclass
class _Worker:
    """One worker process: its pipes, its folder, the blocks it runs under and what its load reported."""

    process: Any               # template.ForkedProcess, or template.SpawnedProcess on the spawn path
    send_fd: int
    receive_fd: int
    workdir: str | None        # the spawn path's own folder (a forked worker's home is the template's to remove)
    blocks: frozenset
    defined: dict = field(default_factory=dict)
    load_errors: list = field(default_factory=list)
    loaded: bool = False


class StudentCode:
    """A proxy to one submission's code, running in worker processes that are restarted after a crash.

    ``blocks`` (autograder.worker.blocks kinds) hold for every worker of this submission; a call may ask for more
    (``call(..., blocks=...)``), and is then run in a worker of its own that was started with them, before
    the student's code was loaded into it."""

    def __init__(self, submission: LoadedCode, limits: Limits | None = None,
                 isolation: Isolation | None = None, blocks=()):
        self.submission = submission
        self.limits = limits or Limits()
        self.isolation = isolation or default_isolation()
        self.isolation.resolve()  # refuse now, before any student code, when nothing can isolate it
        self.blocks = frozenset(blocks)
        self.deadline = time.monotonic() + self.limits.submission_timeout_s
        self._workers: dict[frozenset, _Worker] = {}
        self._failed: dict[frozenset, str] = {}  # workers whose loading timed out or crashed: said once per call
        self.defined: dict[str, bool] = {}       # what the student's code defines (its first worker's load)
        self.load_errors: list[str] = []
        self.load_failure: StudentFailure | None = None  # set when loading itself timed out or crashed
        self.events: list[type[StudentFailure]] = []  # StudentTimeout / WorkerCrashed, for the submission's status
        self.output: list[str] = []             # student output since the last drain
        self.notes: list[str] = []              # what a test wants the student told, pass or fail
        self.answered: set[str] = set()         # helpers the grader answered (through_grader) for this submission
        self._request_id = 0
        # A subreaper from here on: whatever the student starts and leaves behind is found and killed at close().
        self._children_before = adopt_orphans()
        self.spawn_reason = template_problem()  # None: workers are forked from this slot's warm template
        self._template: Template | None = None
        self.template_lost: str | None = None   # the template died under this submission: it is graded again
        self._owner = f"{os.getpid()}-{id(self)}-{time.monotonic_ns()}"

    def _launch(self, blocks: frozenset) -> _Worker:
        """A new worker for these blocks: forked from the slot's template, or spawned where that cannot work."""
        if self.spawn_reason is None:
            try:
                self._template = self._template or template_for(self.limits, self.isolation)
                process, send_fd, receive_fd = self._template.fork(blocks, self.limits, self._owner)
            except TemplateLost as error:
                self._lose_template(str(error))
                raise WorkerStartError(f"the worker template failed: {error}") from None
            return _Worker(process, send_fd, receive_fd, None, blocks=blocks)
        process, send_fd, receive_fd, workdir = launch_worker(self.limits, self.isolation, blocks)
        return _Worker(SpawnedProcess(process), send_fd, receive_fd, workdir, blocks=blocks)

    def _lose_template(self, why: str) -> None:
        self.template_lost = self.template_lost or why
        if self._template is not None:
            discard(self._template)

    # -- process management -----------------------------------------------------------------
    def prelaunch(self) -> None:
        """Start the worker now, so its `import torch` overlaps with the grader's own start-up work."""
        if self.blocks not in self._workers and not self.load_failure:
            self._workers[self.blocks] = self._launch(self.blocks)

    def _start(self, blocks: frozenset) -> _Worker:
        if blocks not in self._workers:
            self._workers[blocks] = self._launch(blocks)
        worker = self._workers[blocks]
        try:  # the worker says "ready" before it sees any student code: failing before that is our fault
            ready = protocol.receive(worker.receive_fd, timeout=self.limits.load_timeout_s)
            if not (isinstance(ready, dict) and ready.get("ready") and ready.get("blocks") == sorted(blocks)):
                raise protocol.ProtocolError(f"unexpected first message {ready!r:.200}")
        except (EOFError, protocol.ReceiveTimeout, protocol.ProtocolError) as error:
            log = (Path(worker.workdir, "launcher.log").read_text(errors="replace")[-2000:] if worker.workdir
                   else self._template.log_tail() if self._template else "")
            lost = worker.process.lost
            self._kill(worker)
            if lost:
                self._lose_template("it died while a worker started")
            raise WorkerStartError(f"the worker process could not start ({type(error).__name__}: {error}): "
                                   f"{log}") from None
        chunks = [(chunk.label, chunk.code) for chunk in self.submission.chunks]
        try:
            reply = self._exchange(worker, {"op": "load", "chunks": chunks}, self.limits.load_timeout_s,
                                   "loading your code")
        except StudentFailure as failure:
            self._failed[blocks] = str(failure)
            if blocks == self.blocks:
                self.load_failure = failure
            raise
        worker.defined, worker.load_errors, worker.loaded = reply["defined"], reply["errors"], True
        if blocks == self.blocks:
            self.defined, self.load_errors = worker.defined, worker.load_errors
        return worker

    def _kill(self, worker: _Worker) -> None:
        worker.process.kill()
        for fd in (worker.send_fd, worker.receive_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        if worker.workdir:
            shutil.rmtree(worker.workdir, ignore_errors=True)
        if self._workers.get(worker.blocks) is worker:
            del self._workers[worker.blocks]

    def close(self) -> None:
        for worker in list(self._workers.values()):
            self._kill(worker)
        left = kill_orphans(self._children_before | running_templates())
        if self._template is not None and self._template.alive():
            try:  # every process of the slot killed and checked gone before the next student starts
                left |= {f"in the template: {pid}" for pid in self._template.reset(self._owner)}
            except TemplateLost as error:
                self._lose_template(str(error))
        if self._template is not None:
            release(self._template)
            self._template = None
        if left:
            print(f"autograder: {len(left)} processes of this submission outlived every kill: {sorted(map(str, left))}",
                  file=sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _worker(self, extra=()) -> _Worker:
        """The loaded worker for these blocks (the submission's own, plus ``extra``), started if need be."""
        blocks = self.blocks | frozenset(extra)
        if self.load_failure:
            raise WorkerCrashed(str(self.load_failure))
        if blocks in self._failed:
            raise WorkerCrashed(self._failed[blocks])
        worker = self._workers.get(blocks)
        if worker is not None and worker.loaded:
            return worker
        if blocks != self.blocks:
            self._worker()  # the submission's own worker first: it says what the code defines
        return self._start(blocks)

    def ensure_started(self) -> None:
        self._worker()

    # -- the channel ------------------------------------------------------------------------------
    def _answer_callback(self, frame: dict, callbacks: dict) -> dict:
        """A helper the worker asks the grader for (``through_grader``): the grader's own function, run here on
        the decoded arguments. Its answer is all that crosses back, and it is never larger than
        CALLBACK_MAX_ELEMENTS numbers: the size is worked out on torch's meta device (shapes only) first."""
        name, args, kwargs = frame.get("callback"), frame.get("args", []), frame.get("kwargs", {})
        if not isinstance(name, str) or not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict) \
                or not all(isinstance(key, str) for key in kwargs):
            raise MalformedReply("the process running your code sent the grader a malformed request for a helper "
                                 "(its name, arguments or keywords are not of the protocol).")
        function = callbacks.get(name)
        if function is None:
            return {"ok": False, "message": "not a helper the grader answers"}
        args, kwargs = _decode(list(args)), _decode(kwargs)
        limit = (f"the grader answers {name} for inputs and outputs of at most {CALLBACK_MAX_ELEMENTS} numbers "
                 "(counting every axis of a tensor, empty ones as 1)")
        if _extent(args) + _extent(kwargs) > CALLBACK_MAX_ELEMENTS:
            return {"ok": False, "message": f"inputs too large: {limit}"}
        try:
            with torch.no_grad():
                predicted = _extent(function(*_on_meta(args), **_on_meta(kwargs)))
        except Exception:
            predicted = 0  # the real call below says what is wrong, in the helper's own words
        if predicted > CALLBACK_MAX_ELEMENTS:
            return {"ok": False, "message": f"the answer would be too large ({predicted} numbers): {limit}"}
        try:
            value = function(*args, **kwargs)
        except Exception as error:  # the student's arguments did not fit the helper: their mistake, said plainly
            return {"ok": False, "message": f"{type(error).__name__}: {str(error)[:300]}"}
        if _extent(value) > CALLBACK_MAX_ELEMENTS:
            return {"ok": False, "message": f"the answer is too large: {limit}"}
        self.answered.add(name)
        return {"ok": True, "value": protocol.to_wire(value)}

    def _exchange(self, worker: _Worker, request: dict, timeout: float, activity: str,
                  callbacks: dict | None = None) -> dict:
        """Send ``request`` and return the worker's answer to it; every way it can go wrong is a StudentFailure."""
        cpu_limit, activity = self._within_budget(timeout, activity)
        clock = _Clock(worker.process, cpu_limit, min(timeout * WALL_CAP_FACTOR, self._remaining()))
        self._request_id += 1
        request = request | {"id": self._request_id}
        try:
            reply = self._converse(worker, request, clock, callbacks or {})
        except (protocol.ReceiveTimeout, protocol.SendTimeout):
            self._kill(worker)
            self.events.append(StudentTimeout)
            raise StudentTimeout(f"timed out after {clock.describe()} while {activity}") from None
        except (EOFError, BrokenPipeError):
            raise self._ended(worker, activity) from None
        except protocol.ProtocolError:
            self._kill(worker)
            raise Unsendable(f"your code sent back something the grader will not decode while {activity}: only "
                             "tensors, numbers, strings and lists, tuples or dicts of them are accepted "
                             "(other objects could run code when unpickled).") from None
        except MalformedReply:
            self._kill(worker)
            raise
        except RecursionError:
            self._kill(worker)
            raise MalformedReply("the process running your code sent the grader values nested too deeply.") \
                from None
        if reply.get("output"):
            self.output.append(reply["output"])
        return reply

    def _within_budget(self, timeout: float, activity: str) -> tuple[float, str]:
        """The call's time limit, cut to what is left of the submission's budget (none left: a timeout)."""
        remaining = self._remaining()
        if remaining <= 0:
            self.events.append(StudentTimeout)
            raise StudentTimeout(f"not run: your code used up the {self.limits.submission_timeout_s:g} s "
                                 "allowed for the whole submission")
        if remaining < timeout:
            return remaining, f"{activity} (the submission's time budget ran out)"
        return timeout, activity

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _converse(self, worker: _Worker, request: dict, clock: _Clock, callbacks: dict) -> dict:
        """Send the request, answer the worker's callbacks, and return the first well-formed reply to it.

        Every write and read is bounded by the call's clock: a worker that stops reading (or asks for a large
        answer and never takes it) costs this call a timeout, never the grader its run."""
        left = clock.wall_left
        protocol.send(worker.send_fd, request, timeout=left())
        while True:
            clock.wait_readable(worker.receive_fd)
            reply = protocol.receive(worker.receive_fd, timeout=left())
            if not isinstance(reply, dict):
                raise MalformedReply(f"the process running your code sent the grader a "
                                     f"{type(reply).__name__} instead of an answer.")
            if type(reply.get("id")) is not int or reply["id"] != request["id"]:
                continue  # stale (say, from a process the student forked): not an answer to this request
            if "callback" in reply:
                protocol.send(worker.send_fd, self._answer_callback(reply, callbacks), timeout=left())
                continue
            _check_reply(reply, request["op"])
            return reply

    def _ended(self, worker: _Worker, activity: str) -> WorkerCrashed:
        """The failure for a worker whose end of the channel closed: how it ended, in the student's terms."""
        returncode = worker.process.poll()
        if returncode is None:
            try:
                returncode = worker.process.wait(timeout=2)
            except (subprocess.TimeoutExpired, TemplateLost):
                returncode = None
        lost = worker.process.lost
        self._kill(worker)
        if lost:  # the template died and took its children with it: not this student's doing
            self._lose_template(f"it died while {activity}")
            raise TemplateLost(f"the worker template died while {activity}")
        self.events.append(WorkerCrashed)
        return WorkerCrashed(f"the process running your code ended while {activity} "
                             f"({_describe_exit(returncode, self.limits)}). Code that calls exit(), os._exit() or "
                             "crashes the interpreter costs the tests that reach it.")

    # -- the API the suites use -------------------------------------------------------------------
    def _missing(self, name: str) -> NotDefined:
        reason = self.submission.broken.get(name)
        message = f"`{name}` is not defined in your submission"
        if reason:
            message += f": {reason}"
        elif self.load_errors:
            message += ". Errors while loading your code: " + "; ".join(self.load_errors[:3])
        return NotDefined(message + ".")

    def _raise_error(self, error: dict, called_with: str = "") -> None:
        """The StudentFailure for an error reply (its kind, ErrorKind, decides the type), worded for the student."""
        name = error.get("function") or "?"
        kind, kind_of_error, message = error["kind"], error.get("type", ""), error.get("message", "")
        if kind == ErrorKind.MISSING:
            raise self._missing(name)
        if kind == ErrorKind.NOT_CALLABLE:
            raise NotDefined(f"`{name}` is a {kind_of_error}, not a function.")
        if kind == ErrorKind.NOT_IMPLEMENTED:
            raise NotImplementedYet(f"`{name}` is not implemented yet (it raised NotImplementedError"
                                    f"{': ' + message if message else ''}).")
        if kind == ErrorKind.UNSENDABLE:
            raise Unsendable(f"`{name}` returned something that cannot be graded: {message}")
        raise StudentException(self._exception_message(name, error, called_with),
                               types=tuple(str(item) for item in error.get("types") or (kind_of_error,)),
                               errno=error.get("errno") if type(error.get("errno")) is int else None,
                               blocked=tuple(map(str, error["blocked"])) if isinstance(error.get("blocked"), list)
                               and len(error["blocked"]) == 2 else None)

    def _exception_message(self, name: str, error: dict, called_with: str) -> str:
        kind_of_error, message = error.get("type", ""), error.get("message", "")
        trace = error.get("traceback") or f"{kind_of_error}: {message}"
        if error.get("errno") == errno.ENOSPC:
            return (f"`{name}` ran out of file space: no space left (the sandbox allows "
                    f"{self.limits.tmp_bytes // 2**20} MiB of files in /tmp and the home folder, and "
                    f"{self.limits.shm_bytes // 2**20} MiB in /dev/shm).\n\nYour traceback:\n{trace}")
        if error.get("errno") == errno.EFBIG:
            return f"`{name}` wrote more than the {self.limits.file_bytes // 2**20} MiB allowed for output and files."
        # torch's CPU allocator raises RuntimeError with this text when RLIMIT_DATA refuses it memory
        if "MemoryError" in (error.get("types") or ()) or "DefaultCPUAllocator: can't allocate memory" in message:
            return (f"`{name}` exceeded the {self.limits.memory_bytes / 2**30:g} GiB memory limit "
                    f"({kind_of_error}: {message[:200]}).")
        return (f"`{name}` raised {kind_of_error}: {message}"
                + (f"\nThe test called it with {called_with}." if called_with else "")
                + f"\n\nYour traceback:\n{trace}")

    def call(self, name: str, *args, seed: int = 0, timeout: float | None = None, module_probe=None,
             through_grader: dict | None = None, keywords: dict | None = None, blocks=(), **kwargs) -> Reply:
        """Call the student's ``name(*args, **kwargs)`` in the worker; return a Reply or raise StudentFailure.

        ``module_probe``: when the function returns an nn.Module, the worker answers with its parameters
        and its output on this input instead (modules never cross the boundary).
        ``through_grader``: {helper name: function}; while the call runs, the student's ``helper`` is replaced
        by a stand-in whose every call is answered by ``function`` in this process (the course's helper), so
        a function is graded on its own when the student's helper is broken. Only answers cross over.
        ``keywords``: keyword arguments whose names this method uses itself (``seed``), for the student's function.
        ``blocks``: run the call in a worker started with these blocks too (autograder.worker.blocks).
        """
        kwargs = {**kwargs, **(keywords or {})}
        worker = self._worker(blocks)
        if name not in worker.defined:
            raise self._missing(name)
        timeout = self.limits.call_timeout_s if timeout is None else timeout
        reply = self._exchange(worker, {"op": "call", "name": name, "args": list(args), "kwargs": kwargs,
                                        "seed": seed, "module_probe": module_probe,
                                        "through_grader": sorted(through_grader or {})}, timeout,
                               f"running `{name}`", callbacks=through_grader)
        if not reply["ok"]:
            self._raise_error(reply["error"], called_with=describe_arguments(args, kwargs))
        try:
            return Reply(value=_decode(reply["value"]), args_after=_decode(reply["args_after"]),
                         models=reply.get("models", []))
        except RecursionError:
            raise MalformedReply("your code returned values nested too deeply to grade.") from None

    def __call__(self, name: str, *args, **kwargs) -> Any:
        """Shortcut: the decoded return value of ``name(*args, **kwargs)``."""
        return self.call(name, *args, **kwargs).value

    def get(self, name: str) -> Any:
        """The value of a top-level name (e.g. SOBEL_X) in the student's code."""
        worker = self._worker()
        reply = self._exchange(worker, {"op": "get", "name": name}, self.limits.call_timeout_s, f"reading `{name}`")
        if not reply["ok"]:
            self._raise_error(reply["error"])
        return _decode(reply["value"])

    def note(self, text: str) -> None:
        """Tell the student something about the current test, whether it passes or fails (said once)."""
        if text and text not in self.notes:
            self.notes.append(text)

    def drain_notes(self) -> str:
        text, self.notes = "\n".join(self.notes), []
        return text

    def drain_output(self) -> str:
        """What the student's code printed since the last drain, capped at OUTPUT_CAP_BYTES per test."""
        from autograder.worker.serve import OUTPUT_CAP_BYTES

        text, self.output = "".join(self.output), []
        if len(text) > OUTPUT_CAP_BYTES:
            text = text[:OUTPUT_CAP_BYTES] + f"\n[... output truncated: {len(text)} characters in this test]"
        return text
