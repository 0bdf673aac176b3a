"""Run student code in a separate worker process and call it from the grader.

``launch_worker`` is the one place that starts a worker; the batch issue wraps
it in bubblewrap and resource limits. ``StudentCode`` is the proxy the hidden
suites use: ``student.call("apply_convolution", img, kernel)``. Every problem
on the student's side (missing function, exception, timeout, crash, a value
that cannot cross the boundary) becomes a ``GradingFailure`` subclass with a
message written for the student, so it costs that test and nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from autograder import protocol
from autograder.checks import GradingFailure, Unsupported
from autograder.load import LoadedSubmission


class StudentFailure(GradingFailure):
    """Base class of failures caused by the student's code rather than a wrong value."""


class NotDefined(StudentFailure):
    pass


class NotImplementedYet(StudentFailure):
    pass


class StudentException(StudentFailure):
    pass


class StudentTimeout(StudentFailure):
    pass


class WorkerCrashed(StudentFailure):
    pass


class Unsendable(StudentFailure):
    pass


@dataclass
class Limits:
    call_timeout_s: float = 10.0
    load_timeout_s: float = 60.0
    threads: int = 1


@dataclass
class Reply:
    """A successful call: the decoded value, tensors passed in as they were afterwards, model reports, ops."""

    value: Any
    args_after: list
    models: list[dict] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    output: str = ""


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {protocol.UNSUPPORTED_KEY}:
            return Unsupported(str(value[protocol.UNSUPPORTED_KEY]))
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_decode(item) for item in value)
    return value


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "it stopped answering"
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def launch_worker(limits: Limits) -> tuple[subprocess.Popen, int, int, str]:
    """Start ``python -m autograder.worker`` with a pipe each way. Returns (process, send_fd, receive_fd, tmpdir)."""
    to_worker_read, to_worker_write = os.pipe()
    from_worker_read, from_worker_write = os.pipe()
    workdir = tempfile.mkdtemp(prefix="autograder-worker-")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(OMP_NUM_THREADS=str(limits.threads), MKL_NUM_THREADS=str(limits.threads), PYTHONHASHSEED="0",
               PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    process = subprocess.Popen(
        [sys.executable, "-m", "autograder.worker", str(to_worker_read), str(from_worker_write)],
        pass_fds=(to_worker_read, from_worker_write), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, cwd=workdir, env=env, start_new_session=True)
    os.close(to_worker_read), os.close(from_worker_write)
    return process, to_worker_write, from_worker_read, workdir


class StudentCode:
    """A proxy to one submission's code, running in a worker process that is restarted after a crash."""

    def __init__(self, submission: LoadedSubmission, limits: Limits | None = None):
        self.submission = submission
        self.limits = limits or Limits()
        self.process: subprocess.Popen | None = None
        self.defined: dict[str, bool] = {}
        self.load_errors: list[str] = []
        self.load_failure: str | None = None   # set when loading itself timed out or crashed
        self.events: list[str] = []            # "timeout" / "crashed", for the submission's status
        self.output: list[str] = []            # student output since the last drain

    # -- process management -----------------------------------------------------------------
    def _start(self) -> None:
        self.process, self._send_fd, self._receive_fd, self._workdir = launch_worker(self.limits)
        chunks = [(chunk.label, chunk.code) for chunk in self.submission.chunks]
        try:
            reply = self._exchange({"op": "load", "chunks": chunks}, self.limits.load_timeout_s, "loading your code")
        except StudentFailure as failure:
            self.load_failure = str(failure)
            raise
        self.defined, self.load_errors = reply["defined"], reply["errors"]

    def _kill(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        for fd in (self._send_fd, self._receive_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        subprocess.run(["rm", "-rf", self._workdir], check=False)
        self.process = None

    def close(self) -> None:
        self._kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def ensure_started(self) -> None:
        if self.load_failure:
            raise WorkerCrashed(self.load_failure)
        if self.process is None:
            self._start()

    def _exchange(self, request: dict, timeout: float, activity: str) -> dict:
        try:
            protocol.send(self._send_fd, request)
            reply = protocol.receive(self._receive_fd, timeout=timeout)
        except protocol.ReceiveTimeout:
            self._kill()
            self.events.append("timeout")
            raise StudentTimeout(f"timed out after {timeout:g} s while {activity}") from None
        except (EOFError, BrokenPipeError):
            returncode = self.process.poll() if self.process else None
            if returncode is None and self.process is not None:
                try:
                    returncode = self.process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    returncode = None
            self._kill()
            self.events.append("crashed")
            raise WorkerCrashed(f"the process running your code ended while {activity} "
                                f"({_describe_exit(returncode)}). Code that calls exit(), os._exit() or "
                                "crashes the interpreter costs the tests that reach it.") from None
        except protocol.ProtocolError as error:
            self._kill()
            raise Unsendable(f"your code sent back something that could not be decoded while {activity}: "
                             f"{error}") from None
        if reply.get("output"):
            self.output.append(reply["output"])
        return reply

    # -- the API the suites use -------------------------------------------------------------------
    def has(self, name: str) -> bool:
        self.ensure_started()
        return name in self.defined

    def _missing(self, name: str) -> NotDefined:
        reason = self.submission.broken.get(name)
        message = f"`{name}` is not defined in your submission"
        if reason:
            message += f": {reason}"
        elif self.load_errors:
            message += ". Errors while loading your code: " + "; ".join(self.load_errors[:3])
        return NotDefined(message + ".")

    def _raise_error(self, error: dict) -> None:
        name = error.get("function", "?")
        kind = error["kind"]
        if kind == "missing":
            raise self._missing(name)
        if kind == "not_callable":
            raise NotDefined(f"`{name}` is a {error['type']}, not a function.")
        if kind == "not_implemented":
            raise NotImplementedYet(f"`{name}` is not implemented yet (it raised NotImplementedError"
                                    f"{': ' + error['message'] if error['message'] else ''}).")
        if kind == "unsendable":
            raise Unsendable(f"`{name}` returned something that cannot be graded: {error['message']}")
        trace = error.get("traceback") or f"{error['type']}: {error['message']}"
        raise StudentException(f"`{name}` raised {error['type']}: {error['message']}\n\nYour traceback:\n{trace}")

    def call(self, name: str, *args, seed: int = 0, record_ops: bool = False, timeout: float | None = None,
             module_probe=None, **kwargs) -> Reply:
        """Call the student's ``name(*args, **kwargs)`` in the worker; return a Reply or raise StudentFailure.

        ``module_probe``: when the function returns an nn.Module, the worker answers with its parameters
        and its output on this input instead (modules never cross the boundary).
        """
        self.ensure_started()
        if name not in self.defined:
            raise self._missing(name)
        timeout = self.limits.call_timeout_s if timeout is None else timeout
        reply = self._exchange({"op": "call", "name": name, "args": list(args), "kwargs": kwargs, "seed": seed,
                                "record_ops": record_ops, "module_probe": module_probe}, timeout,
                               f"running `{name}`")
        if not reply["ok"]:
            self._raise_error(reply["error"])
        return Reply(value=_decode(reply["value"]), args_after=_decode(reply["args_after"]),
                     models=reply.get("models", []), ops=reply.get("ops", []), output=reply.get("output", ""))

    def __call__(self, name: str, *args, **kwargs) -> Any:
        """Shortcut: the decoded return value of ``name(*args, **kwargs)``."""
        return self.call(name, *args, **kwargs).value

    def get(self, name: str) -> Any:
        """The value of a top-level name (e.g. SOBEL_X) in the student's code."""
        self.ensure_started()
        reply = self._exchange({"op": "get", "name": name}, self.limits.call_timeout_s, f"reading `{name}`")
        if not reply["ok"]:
            self._raise_error(reply["error"])
        return _decode(reply["value"])

    def drain_output(self) -> str:
        text, self.output = "".join(self.output), []
        return text
