"""Run student code in a separate, sandboxed worker process and call it from the grader.

``launch_worker`` is the one place that starts a worker. With ``bwrap``
(bubblewrap) on the PATH the worker gets no network, a read-only root, a private
/tmp, tmpfs over everything that could reveal answers (solutions/, the hidden
suites, the notebooks' sources, .git, the output folder, other submissions) and
its own PID namespace that dies with the grader. Resource limits (memory,
CPU time, processes, file size) apply with or without bwrap. ``StudentCode`` is the proxy the hidden
suites use: ``student.call("apply_convolution", img, kernel)``. Every problem
on the student's side (missing function, exception, timeout, crash, a value
that cannot cross the boundary) becomes a ``GradingFailure`` subclass with a
message written for the student, so it costs that test and nothing else.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
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


class WorkerStartError(RuntimeError):
    """The sandboxed worker failed before running any student code: an internal grading error."""


PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Folders of this project that student code must not read: answers, hidden tests, sources, history.
HIDDEN_PROJECT_PATHS = ("solutions", "autograder/suites", "assignments", "tests", "benchmarks", "examples", ".git")
SANDBOX_UID_BASE = 61000  # one uid per parallel slot, so RLIMIT_NPROC is counted per student


class WeakIsolationWarning(UserWarning):
    """bubblewrap is missing: student code runs in a plain subprocess (limits still apply)."""


@dataclass
class Limits:
    call_timeout_s: float = 10.0          # one call into the student's code
    load_timeout_s: float = 60.0          # loading the submission (imports and definitions)
    submission_timeout_s: float = 300.0   # all calls of one submission together
    memory_bytes: int = 4 * 2**30         # RLIMIT_DATA: heap and anonymous mappings
    cpu_seconds: int = 600                # RLIMIT_CPU of one worker process
    processes: int = 64                   # RLIMIT_NPROC (threads count too); only when a uid is set
    file_bytes: int = 64 * 2**20          # RLIMIT_FSIZE: largest file the worker may write
    threads: int = 1


@dataclass
class Isolation:
    """Where the sandbox hides things and which uid it runs as (None: the grader's own)."""

    extra_hidden: tuple[Path, ...] = ()
    uid: int | None = None
    use_bwrap: bool | None = None  # None: use bwrap when it is on the PATH

    def bwrap(self) -> str | None:
        if self.use_bwrap is False:
            return None
        found = shutil.which("bwrap")
        if found is None and self.use_bwrap:
            raise RuntimeError("bubblewrap (bwrap) was requested but is not installed")
        return found


def default_isolation() -> Isolation:
    """As root with bwrap, the worker drops to a sandbox uid (so RLIMIT_NPROC binds); otherwise it keeps its own.

    RLIMIT_NPROC counts every process of a uid, so two graders running side by side must not share one:
    a grader of its own takes a uid from its pid (62000-65999); the batch pool's slots use 61001-61999.
    """
    dropping = os.geteuid() == 0 and shutil.which("bwrap") is not None
    return Isolation(uid=SANDBOX_UID_BASE + 1000 + os.getpid() % 4000 if dropping else None)


def _runtime_paths() -> list[Path]:
    """What the worker's Python needs to read: the interpreter, the venv, site-packages, this project.

    Not every sys.path entry: under pytest that holds tests/, which must stay hidden.
    """
    import site

    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), PROJECT_ROOT}
    paths |= {Path(entry).resolve() for entry in site.getsitepackages() if Path(entry).is_dir()}
    return sorted(paths)


def _closed_ancestors(paths: list[Path]) -> list[Path]:
    """The highest ancestor of each path that only its owner may traverse (e.g. /root, mode 700)."""
    closed = []
    for path in paths:
        for ancestor in reversed(path.parents[:-1]):  # from the top, "/" excluded
            if not ancestor.stat().st_mode & stat.S_IXOTH:
                if ancestor not in closed:
                    closed.append(ancestor)
                break
    return closed


def _rebinds(paths: list[Path], covers: list[Path]) -> list[str]:
    """After an empty tmpfs is mounted on each cover, bind back, read-only, what ``paths`` need beneath it.

    The folder bound back is the cover's child that leads to the path (binding the deep path itself
    would leave the directories bwrap creates on the way with mode 0700, closed to the sandbox uid).
    """
    rebound = []
    for path in paths:
        for cover in covers:
            if cover in path.parents:
                child = cover / path.relative_to(cover).parts[0]
                if child not in rebound:
                    rebound.append(child)
                break
    return [argument for child in rebound for argument in ("--ro-bind", str(child), str(child))]


# Top-level folders the worker sees, read-only: the operating system. Every other top-level folder
# (/home, /root, /work, /srv, /opt, /mnt, ...) is an empty tmpfs in the sandbox, except the paths the
# worker runs from, bound back: another checkout of this course elsewhere on the machine stays unseen.
SYSTEM_FOLDERS = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "var", "run", "dev", "proc",
                  "sys", "tmp"}


def _private_top_folders() -> list[Path]:
    tops = []
    for entry in sorted(Path("/").iterdir()):
        try:
            if entry.name not in SYSTEM_FOLDERS and entry.is_dir() and not entry.is_symlink():
                tops.append(entry)
        except OSError:
            continue
    return tops


def bwrap_arguments(bwrap: str, hidden: list[Path], drop_to_uid: bool) -> list[str]:
    """bubblewrap: no network, the system folders read-only, private /tmp and home folders, hidden paths,
    own PID namespace.

    No user namespace: when the grader is root the worker drops to a plain uid itself, which
    keeps RLIMIT_NPROC meaningful (the kernel never applies it to uid 0).
    """
    arguments = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--die-with-parent", "--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                 "--perms", "1777", "--tmpfs", "/tmp"]
    if os.geteuid() != 0:
        arguments.insert(1, "--unshare-user")  # an unprivileged bwrap needs a user namespace for its mounts
    # --dev gives a minimal /dev: bring the NVIDIA device nodes in, or CUDA tests cannot run in the sandbox.
    for device in sorted(Path("/dev").glob("nvidia*")):
        arguments += ["--dev-bind", str(device), str(device)]
    runtime = _runtime_paths()
    # A checkout or a venv under /tmp comes back through the private /tmp; the same for the other covers.
    tops = _private_top_folders()
    arguments += [argument for top in tops for argument in ("--tmpfs", str(top))]
    arguments += _rebinds(runtime, [Path("/tmp"), *tops])
    if drop_to_uid:  # a Python under /root/... or /home/ta (mode 700) must stay reachable for another uid
        closed = [path for path in _closed_ancestors(runtime) if path not in tops]
        arguments += [argument for path in closed for argument in ("--tmpfs", str(path))]
        arguments += _rebinds(runtime, closed)
    for path in hidden:
        path = path.resolve()
        # Never hide a folder that holds what the worker runs on (say, submissions kept in the repo's root).
        if path.is_dir() and not any(path == needed or path in needed.parents for needed in runtime):
            arguments += ["--tmpfs", str(path)]
    return arguments + ["--chdir", "/tmp", "--setenv", "HOME", "/tmp", "--"]


def _apply_limits(limits: Limits, limit_processes: bool) -> None:
    """Runs in the child between fork and exec: lower the limits, never raise them; die with the grader."""
    try:  # bwrap has --die-with-parent; this covers the plain-subprocess fallback on Linux
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    wanted = [(resource.RLIMIT_DATA, limits.memory_bytes), (resource.RLIMIT_CPU, limits.cpu_seconds),
              (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_CORE, 0)]
    if limit_processes:
        wanted.append((resource.RLIMIT_NPROC, limits.processes))
    for kind, value in wanted:
        soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


@dataclass
class Reply:
    """A successful call: the decoded value, tensors passed in as they were afterwards, model reports, ops."""

    value: Any
    args_after: list
    models: list[dict] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {protocol.UNSUPPORTED_KEY}:
            return Unsupported(str(value[protocol.UNSUPPORTED_KEY]))
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_decode(item) for item in value)
    return value


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


_warned_weak_isolation = False


def launch_worker(limits: Limits, isolation: Isolation) -> tuple[subprocess.Popen, int, int, str]:
    """Start ``python -m autograder.worker`` with a pipe each way. Returns (process, send_fd, receive_fd, tmpdir)."""
    global _warned_weak_isolation
    to_worker_read, to_worker_write = os.pipe()
    from_worker_read, from_worker_write = os.pipe()
    workdir = tempfile.mkdtemp(prefix="autograder-worker-")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(OMP_NUM_THREADS=str(limits.threads), MKL_NUM_THREADS=str(limits.threads), PYTHONHASHSEED="0",
               PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", PYTHONPATH=str(PROJECT_ROOT))
    command = [sys.executable, "-m", "autograder.worker", str(to_worker_read), str(from_worker_write)]
    bwrap = isolation.bwrap()
    drop_to_uid = bool(bwrap) and isolation.uid is not None
    if bwrap:
        hidden = [PROJECT_ROOT / path for path in HIDDEN_PROJECT_PATHS] + [Path(p) for p in isolation.extra_hidden]
        command = bwrap_arguments(bwrap, hidden, drop_to_uid) + command
        if drop_to_uid:
            env["AUTOGRADER_WORKER_UID"] = str(isolation.uid)
    elif not _warned_weak_isolation:
        _warned_weak_isolation = True
        warnings.warn(WeakIsolationWarning(
            "bwrap (bubblewrap) not found: student code runs in a plain subprocess with resource limits, but "
            "it can read files and use the network. Install it: sudo apt-get install bubblewrap"), stacklevel=2)
    # The launcher's own stderr (bwrap errors, a worker that cannot start) goes to a log for the staff.
    with open(os.path.join(workdir, "launcher.log"), "wb") as log:
        process = subprocess.Popen(
            command, pass_fds=(to_worker_read, from_worker_write), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=log, cwd=workdir, env=env, start_new_session=True,
            preexec_fn=lambda: _apply_limits(limits, limit_processes=drop_to_uid))
    os.close(to_worker_read), os.close(from_worker_write)
    return process, to_worker_write, from_worker_read, workdir


class StudentCode:
    """A proxy to one submission's code, running in a worker process that is restarted after a crash."""

    def __init__(self, submission: LoadedSubmission, limits: Limits | None = None,
                 isolation: Isolation | None = None):
        self.submission = submission
        self.limits = limits or Limits()
        self.isolation = isolation or default_isolation()
        self.deadline = time.monotonic() + self.limits.submission_timeout_s
        self.process: subprocess.Popen | None = None
        self.defined: dict[str, bool] = {}
        self.load_errors: list[str] = []
        self.load_failure: str | None = None   # set when loading itself timed out or crashed
        self.events: list[str] = []            # "timeout" / "crashed", for the submission's status
        self.output: list[str] = []            # student output since the last drain
        self._request_id = 0
        self._loaded = False

    # -- process management -----------------------------------------------------------------
    def prelaunch(self) -> None:
        """Start the worker now, so its `import torch` overlaps with the grader's own start-up work."""
        if self.process is None and not self.load_failure:
            self.process, self._send_fd, self._receive_fd, self._workdir = launch_worker(self.limits, self.isolation)

    def _start(self) -> None:
        self.prelaunch()
        try:  # the worker says "ready" before it sees any student code: failing before that is our fault
            protocol.receive(self._receive_fd, timeout=self.limits.load_timeout_s)
        except (EOFError, protocol.ReceiveTimeout, protocol.ProtocolError) as error:
            log = Path(self._workdir, "launcher.log").read_text(errors="replace")[-2000:]
            self._kill()
            raise WorkerStartError(f"the worker process could not start ({type(error).__name__}): {log}") from None
        chunks = [(chunk.label, chunk.code) for chunk in self.submission.chunks]
        try:
            reply = self._exchange({"op": "load", "chunks": chunks}, self.limits.load_timeout_s, "loading your code")
        except StudentFailure as failure:
            self.load_failure = str(failure)
            raise
        self.defined, self.load_errors = reply["defined"], reply["errors"]
        self._loaded = True

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
        shutil.rmtree(self._workdir, ignore_errors=True)
        self.process, self._loaded = None, False

    def close(self) -> None:
        self._kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def ensure_started(self) -> None:
        if self.load_failure:
            raise WorkerCrashed(self.load_failure)
        if self.process is None or not self._loaded:
            self._start()

    def _exchange(self, request: dict, timeout: float, activity: str) -> dict:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.events.append("timeout")
            raise StudentTimeout(f"not run: your code used up the {self.limits.submission_timeout_s:g} s "
                                 "allowed for the whole submission")
        if remaining < timeout:
            timeout, activity = remaining, f"{activity} (the submission's time budget ran out)"
        self._request_id += 1
        request = request | {"id": self._request_id}
        deadline = time.monotonic() + timeout
        try:
            protocol.send(self._send_fd, request)
            while True:  # frames with an older id are stale (e.g. from a process the student forked)
                reply = protocol.receive(self._receive_fd, timeout=max(0.0, deadline - time.monotonic()))
                if reply.get("id") == self._request_id:
                    break
        except protocol.ReceiveTimeout:
            self._kill()
            self.events.append("timeout")
            raise StudentTimeout(f"timed out after {round(timeout, 1):g} s while {activity}") from None
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
                                f"({_describe_exit(returncode, self.limits)}). Code that calls exit(), os._exit() or "
                                "crashes the interpreter costs the tests that reach it.") from None
        except protocol.ProtocolError:
            self._kill()
            raise Unsendable(f"your code sent back something the grader will not decode while {activity}: only "
                             "tensors, numbers, strings and lists, tuples or dicts of them are accepted "
                             "(other objects could run code when unpickled).") from None
        if reply.get("output"):
            self.output.append(reply["output"])
        return reply

    # -- the API the suites use -------------------------------------------------------------------
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
        if error["type"] == "OSError" and "File too large" in error["message"]:
            raise StudentException(f"`{name}` wrote more than the {self.limits.file_bytes // 2**20} MiB allowed for "
                                   "output and files.")
        if error["type"] == "MemoryError" or "DefaultCPUAllocator: can't allocate memory" in error["message"]:
            raise StudentException(f"`{name}` exceeded the {self.limits.memory_bytes / 2**30:g} GiB memory limit "
                                   f"({error['type']}: {error['message'][:200]}).")
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
                     models=reply.get("models", []), ops=reply.get("ops", []))

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
        """What the student's code printed since the last drain, capped at OUTPUT_CAP_BYTES per test."""
        from autograder.worker import OUTPUT_CAP_BYTES

        text, self.output = "".join(self.output), []
        if len(text) > OUTPUT_CAP_BYTES:
            text = text[:OUTPUT_CAP_BYTES] + f"\n[... output truncated: {len(text)} characters in this test]"
        return text
