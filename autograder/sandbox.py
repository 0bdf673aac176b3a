"""Run student code in a separate, sandboxed worker process and call it from the grader.

``launch_worker`` is the one place that starts a worker, under the strongest isolation that
works here (``autograder.isolation``: bubblewrap, else Landlock, else a sandbox uid, else a
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

import functools
import math
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

import torch

from autograder import isolation, protocol
from autograder.checks import GradingFailure, NumpyArray, Unsupported, describe
from autograder.isolation import IsolationUnavailable  # noqa: F401 (re-exported)
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


PROJECT_ROOT = isolation.PROJECT_ROOT
# Folders of this project that student code must not read: answers, hidden tests, sources, history.
HIDDEN_PROJECT_PATHS = ("solutions", "autograder/suites", "assignments", "tests", "benchmarks", "examples", ".git")
SANDBOX_UID_BASE = 61000  # one uid per parallel slot, so RLIMIT_NPROC is counted per student
# A helper answered by the grader (StudentCode.call's through_grader) takes and gives at most this many numbers:
# the grader's own memory and time are not the student's to spend (the suites' inputs are a few hundred numbers).
CALLBACK_MAX_ELEMENTS = 100_000


class WeakIsolationWarning(UserWarning):
    """bubblewrap cannot start here: the worker runs under a weaker isolation (said once, with the reason)."""


@dataclass
class Limits:
    call_timeout_s: float = 10.0          # one call into the student's code
    load_timeout_s: float = 60.0          # loading the submission (imports and definitions)
    submission_timeout_s: float = 300.0   # all calls of one submission together
    memory_bytes: int = 4 * 2**30         # RLIMIT_DATA: heap and anonymous mappings
    cpu_seconds: int = 600                # RLIMIT_CPU of one worker process
    processes: int = 64                   # RLIMIT_NPROC (threads count too); only when a uid is set
    file_bytes: int = 64 * 2**20          # RLIMIT_FSIZE: largest file the worker may write
    # RAM-backed folders count against no rlimit, so each has a size of its own (bwrap's --size).
    tmp_bytes: int = 256 * 2**20          # the private /tmp, which is also HOME
    shm_bytes: int = 64 * 2**20           # /dev/shm
    threads: int = 1


@dataclass
class Isolation:
    """Where the sandbox hides things, which uid it runs as (None: the grader's own), which modes it may use."""

    extra_hidden: tuple[Path, ...] = ()
    uid: int | None = None
    modes: tuple[str, ...] = isolation.MODES  # strongest first; tests narrow it to try a fallback
    plan: isolation.Plan | None = None        # decided once by the parent of a pool; None: decide here

    def hidden(self) -> list[Path]:
        return [PROJECT_ROOT / path for path in HIDDEN_PROJECT_PATHS] + [Path(p).resolve() for p in self.extra_hidden]

    def resolve(self) -> isolation.Plan:
        """The isolation in force (probed once per process); raises IsolationUnavailable when none works."""
        if self.plan is None:
            self.plan = _resolve(self.modes, self.uid, tuple(self.hidden()))
        return self.plan


@functools.cache
def _resolve(modes: tuple[str, ...], uid: int | None, hidden: tuple[Path, ...]) -> isolation.Plan:
    plan = isolation.choose(modes=modes, uid=uid, hidden=list(hidden), runtime=runtime_paths())
    if plan.mode != "bwrap":
        warnings.warn(WeakIsolationWarning(f"isolation: {plan.describe()}"), stacklevel=3)
    return plan


def default_isolation() -> Isolation:
    """As root, the worker drops to a sandbox uid (so RLIMIT_NPROC binds); otherwise it keeps its own.

    ``AUTOGRADER_SANDBOX_MODES`` (say, ``landlock,uid``) narrows the modes tried, to imitate a machine
    where bubblewrap or Landlock is missing; it can never allow grading without isolation.

    RLIMIT_NPROC counts every process of a uid, so two graders running side by side must not share one:
    a grader of its own takes a uid from its pid (62000-65999); the batch pool's slots use 61001-61999.
    """
    modes = tuple(mode for mode in os.environ.get("AUTOGRADER_SANDBOX_MODES", "").split(",") if mode in isolation.MODES)
    return Isolation(uid=SANDBOX_UID_BASE + 1000 + os.getpid() % 4000 if os.geteuid() == 0 else None,
                     modes=modes or isolation.MODES)


def runtime_paths() -> list[Path]:
    """What the worker reads: its interpreter and packages, and the private copy of its own modules."""
    return sorted({*isolation.interpreter_paths(), isolation.runtime_copy()})


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
    """After an empty tmpfs is mounted on each cover, bind back, read-only, exactly what ``paths`` need beneath it.

    The folders on the way are made first with mode 0755 (bwrap would make them 0700, closed to the sandbox
    uid), so a project that holds the venv stays hidden but for the venv itself.
    """
    arguments, made = [], set()
    wanted = [path for path in paths if not any(other in path.parents for other in paths)]
    for path in wanted:
        cover = next((cover for cover in covers if cover in path.parents), None)
        if cover is None:
            continue
        for folder in reversed(path.parents):
            if cover in folder.parents and folder not in made:
                made.add(folder)
                arguments += ["--perms", "0755", "--dir", str(folder)]
        arguments += ["--ro-bind", str(path), str(path)]
    return arguments


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


COVER_BYTES = 2**20  # an empty tmpfs that hides a folder: room for the mount points bwrap makes in it


def bwrap_arguments(bwrap: str, hidden: list[Path], drop_to_uid: bool, limits: Limits | None = None) -> list[str]:
    """bubblewrap: no network, the system folders read-only, a private /tmp (also HOME) and /dev/shm of
    bounded size, hidden paths, own PID namespace.

    Every writable tmpfs has a --size (RAM-backed folders count against no rlimit); the covers over
    hidden and private folders are tiny and remounted read-only, and so is /dev.
    No user namespace: when the grader is root the worker drops to a plain uid itself, which
    keeps RLIMIT_NPROC meaningful (the kernel never applies it to uid 0).
    """
    limits = limits or Limits()
    arguments = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--die-with-parent", "--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                 "--perms", "1777", "--size", str(limits.shm_bytes), "--tmpfs", "/dev/shm",
                 "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    if os.geteuid() != 0:
        arguments.insert(1, "--unshare-user")  # an unprivileged bwrap needs a user namespace for its mounts
    # --dev gives a minimal /dev: bring the NVIDIA device nodes in, or CUDA tests cannot run in the sandbox.
    for device in sorted(Path("/dev").glob("nvidia*")):
        arguments += ["--dev-bind", str(device), str(device)]
    runtime = runtime_paths()
    # Private folders are covered, then what the worker runs from is bound back beneath them: a checkout
    # or a venv under /tmp comes back through the private /tmp, the same for the other covers.
    private = _private_top_folders()
    if drop_to_uid:  # a Python under /root/... or /home/ta (mode 700) must stay reachable for another uid
        private += [path for path in _closed_ancestors(runtime) if path not in private]
    arguments += _rebinds(runtime, [Path("/tmp")])
    for cover in private:
        arguments += ["--size", str(COVER_BYTES), "--tmpfs", str(cover), *_rebinds(runtime, [cover])]
    # Hidden folders last, over the binds: only those still in sight, never one that holds what the worker
    # runs on (say, submissions kept in the project's root).
    def within(path: Path, folders: list[Path]) -> bool:
        return any(path == folder or folder in path.parents for folder in folders)

    hidden = [path for path in (path.resolve() for path in hidden)
              if path.is_dir() and (within(path, runtime) or not within(path, [Path("/tmp"), *private]))
              and not any(path == needed or path in needed.parents for needed in runtime)]
    arguments += [argument for path in hidden for argument in ("--size", str(COVER_BYTES), "--tmpfs", str(path))]
    covers = private + hidden
    arguments += [argument for cover in covers for argument in ("--remount-ro", str(cover))]
    arguments += ["--remount-ro", "/dev"]
    return arguments + ["--chdir", "/tmp", "--"]


POOL_TAG = "AUTOGRADER_POOL_RUN"


def kill_tagged(tag: str, rounds: int = 5) -> None:
    """SIGKILL every process started with ``POOL_TAG=tag`` in its environment.

    Why not rely on PR_SET_PDEATHSIG alone: a launcher killed half way leaves processes that no death signal
    reaches (bwrap's sandbox child waits forever for a parent killed while it set the sandbox up), and
    concurrent.futures can only kill the pool processes themselves. Reading environments needs the same uid or
    root, as the grader is whenever workers run under another uid."""
    if not os.path.isdir("/proc"):
        return
    needle = f"{POOL_TAG}={tag}".encode()
    for _ in range(rounds):
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if needle in environ.read().split(b"\0"):
                        pids.append(int(entry))
            except OSError:
                continue
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)  # a launcher being killed may still have had a child on the way


def die_with_parent(parent: int) -> None:
    """This process gets SIGKILL when its parent dies, however the parent died (Linux; elsewhere a no-op).

    ``parent``: the pid that started this process. A parent killed between the fork and this call (a pool
    process stopped while it starts a worker) would never send the signal: the orphan exits here instead of
    living on (as a bwrap with its worker) after the grader has gone.
    """
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _apply_limits(limits: Limits, limit_processes: bool, parent: int) -> None:
    """Runs in the child between fork and exec: lower the limits, never raise them; die with the grader."""
    die_with_parent(parent)  # bwrap's --die-with-parent comes too late for a parent killed before its exec
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
    """A successful call: the decoded value, tensors passed in as they were afterwards, and what the worker
    read of each model after the call (``zoo.describe_model``: state_dict, hooks, probe)."""

    value: Any
    args_after: list
    models: list[dict] = field(default_factory=list)


def _decode(value: Any, depth: int = 0) -> Any:
    """Markers back into what they stand for. The worker's own encoder nests at most 20 deep (to_wire)."""
    if depth > 32:
        raise RecursionError("nested too deeply")
    if isinstance(value, dict):
        if set(value) == {protocol.UNSUPPORTED_KEY}:
            return Unsupported(str(value[protocol.UNSUPPORTED_KEY]))
        if set(value) == {protocol.NUMPY_KEY} and isinstance(value[protocol.NUMPY_KEY], torch.Tensor):
            return NumpyArray(value[protocol.NUMPY_KEY])
        return {key: _decode(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_decode(item, depth + 1) for item in value)
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


def launch_worker(limits: Limits, confinement: Isolation, blocks: frozenset[str] = frozenset()
                  ) -> tuple[subprocess.Popen, int, int, str]:
    """Start ``python -m autograder.worker`` with a pipe each way. Returns (process, send_fd, receive_fd, tmpdir).

    ``blocks``: what the worker switches off before it loads student code (autograder.blocks). The grader's ends
    of the pipes are non-blocking: every write and read has a deadline, so a worker that stops reading or
    writing never holds the grader.
    Raises IsolationUnavailable (before starting anything) when no isolation works on this machine.
    """
    plan = confinement.resolve()
    to_worker_read, to_worker_write = os.pipe()
    from_worker_read, from_worker_write = os.pipe()
    workdir = tempfile.mkdtemp(prefix="autograder-worker-")  # the grader's; the worker writes only in home/
    home = Path(workdir, "home")
    home.mkdir()
    command = [sys.executable, "-m", "autograder.worker", str(to_worker_read), str(from_worker_write),
               ",".join(sorted(blocks))]
    ruleset = None
    if plan.mode == "bwrap":
        env = isolation.worker_environment(home="/tmp", python_path=str(isolation.runtime_copy()),
                                           threads=limits.threads)
        command = bwrap_arguments(shutil.which("bwrap"), confinement.hidden(), plan.uid is not None, limits) + command
    else:
        env = isolation.worker_environment(home=str(home), python_path=str(isolation.runtime_copy()),
                                           threads=limits.threads)
        if plan.uid is not None:  # the worker drops to it; it must be able to reach and write its home
            os.chmod(workdir, 0o711)
            os.chown(home, plan.uid, plan.uid)
        if plan.mode == "landlock":
            devices = [Path(p) for p in isolation.DEVICES_WRITABLE] + sorted(Path("/dev").glob("nvidia*"))
            ruleset = isolation.landlock_ruleset(
                read=[Path(p) for p in isolation.SYSTEM_READABLE] + runtime_paths(), write=[home], devices=devices)
    if plan.uid is not None:
        env["AUTOGRADER_WORKER_UID"] = str(plan.uid)
    if POOL_TAG in os.environ:  # the class run's mark (autograder.batch): what a stopped run kills when it ends
        env[POOL_TAG] = os.environ[POOL_TAG]

    parent = os.getpid()

    def confine_child() -> None:  # between fork and exec
        _apply_limits(limits, limit_processes=plan.uid is not None, parent=parent)
        if ruleset is not None:
            if plan.uid is None and os.geteuid() == 0:
                isolation.drop_capabilities()
            isolation.landlock_restrict_self(ruleset)

    # The launcher's own stderr (bwrap errors, a worker that cannot start) goes to a log for the staff.
    try:
        with open(os.path.join(workdir, "launcher.log"), "wb") as log:
            process = subprocess.Popen(
                command, pass_fds=(to_worker_read, from_worker_write), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=log, cwd=home, env=env, start_new_session=True,
                preexec_fn=confine_child)
    finally:
        os.close(to_worker_read), os.close(from_worker_write)
        if ruleset is not None:
            os.close(ruleset)
    os.set_blocking(to_worker_write, False)
    os.set_blocking(from_worker_read, False)
    return process, to_worker_write, from_worker_read, workdir


def describe_arguments(args: tuple, kwargs: dict) -> str:
    """The test's inputs, for a message: "a torch.float64 tensor of shape (6, 8), 0.5" (a model or loader by kind)."""
    recipes = {"__model__": "model", "__loader__": "DataLoader", "__optimizer__": "optimizer", "__loss__": "loss",
               "__function__": "function", "__device__": "device", "__layer__": "layer of the model",
               "__generator__": "torch.Generator"}

    def one(value) -> str:
        if isinstance(value, dict) and set(value) & set(recipes):  # a recipe the worker turns into an object
            return "a " + recipes[next(key for key in value if key in recipes)]
        return describe(value)

    parts = [one(value) for value in args] + [f"{key}={one(value)}" for key, value in kwargs.items()]
    return ", ".join(parts)


class MalformedReply(StudentFailure):
    """The worker sent something that is not an answer of the protocol: the student's code wrote to or rewrote
    the channel. It costs the test, never the grader."""


def _extent(value: Any, depth: int = 0) -> int:
    """How many numbers ``value`` stands for, counting every axis of a tensor at least once: a (0, 2**26) tensor
    weighs 2**26, since an answer computed from it can reach that size."""
    if depth > 32:
        raise RecursionError("nested too deeply")
    if isinstance(value, torch.Tensor):
        return math.prod(max(1, size) for size in value.shape)
    if isinstance(value, NumpyArray):
        return _extent(value.tensor, depth + 1)
    if isinstance(value, (list, tuple)):
        return len(value) + sum(_extent(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return len(value) + sum(_extent(item, depth + 1) for item in value.values())
    if isinstance(value, str):
        return len(value)
    return 1


def _on_meta(value: Any) -> Any:
    """The same arguments with every tensor on torch's meta device: shapes and dtypes, no memory."""
    if isinstance(value, NumpyArray):
        value = value.tensor
    if isinstance(value, torch.Tensor):
        return torch.empty(value.shape, dtype=value.dtype, device="meta")
    if isinstance(value, (list, tuple)):
        return type(value)(_on_meta(item) for item in value)
    if isinstance(value, dict):
        return {key: _on_meta(item) for key, item in value.items()}
    return value


def _is_tensor_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _check_reply(reply: dict, op: str) -> None:
    """Raise MalformedReply unless ``reply`` has the shape the worker's own code gives an ``op`` reply."""
    def bad(what: str):
        raise MalformedReply(f"the process running your code sent the grader a malformed answer ({what}). Code "
                             "that writes to the grader's pipes or rewrites the worker costs the tests it reaches.")

    if not isinstance(reply.get("output", ""), str):
        bad("its output is not text")
    if op == "load":
        if not isinstance(reply.get("defined"), dict) or not all(
                isinstance(k, str) and type(v) is bool for k, v in reply["defined"].items()):
            bad("the names defined")
        if not isinstance(reply.get("errors"), list) or not all(isinstance(e, str) for e in reply["errors"]):
            bad("the loading errors")
        return
    if type(reply.get("ok")) is not bool:
        bad("no ok flag")
    if not reply["ok"]:
        error = reply.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("kind"), str) or not all(
                isinstance(error.get(key, ""), str) for key in ("function", "type", "message", "traceback")):
            bad("an error without its kind, type and message")
        return
    if "value" not in reply:
        bad("no value")
    if op == "call":
        if not isinstance(reply.get("args_after"), list) or not isinstance(reply.get("models", []), list):
            bad("the arguments after the call")
        for model in reply.get("models", []):
            if not (isinstance(model, dict) and _is_tensor_dict(model.get("state_dict")) and type(model.get("hooks"))
                    is int and isinstance(model.get("probe"), (torch.Tensor, str))):
                bad("a model's report")


@dataclass
class _Worker:
    """One worker process: its pipes, its folder, the blocks it runs under and what its load reported."""

    process: subprocess.Popen
    send_fd: int
    receive_fd: int
    workdir: str
    blocks: frozenset
    defined: dict = field(default_factory=dict)
    load_errors: list = field(default_factory=list)
    loaded: bool = False


class StudentCode:
    """A proxy to one submission's code, running in worker processes that are restarted after a crash.

    ``blocks`` (autograder.blocks kinds) hold for every worker of this submission; a call may ask for more
    (``call(..., blocks=...)``), and is then run in a worker of its own that was started with them, before
    the student's code was loaded into it."""

    def __init__(self, submission: LoadedSubmission, limits: Limits | None = None,
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
        self.load_failure: str | None = None    # set when loading itself timed out or crashed
        self.events: list[str] = []             # "timeout" / "crashed", for the submission's status
        self.output: list[str] = []             # student output since the last drain
        self.notes: list[str] = []              # what a test wants the student told, pass or fail
        self.answered: set[str] = set()         # helpers the grader answered (through_grader) for this submission
        self._request_id = 0

    # -- process management -----------------------------------------------------------------
    def prelaunch(self) -> None:
        """Start the worker now, so its `import torch` overlaps with the grader's own start-up work."""
        if self.blocks not in self._workers and not self.load_failure:
            self._workers[self.blocks] = _Worker(*launch_worker(self.limits, self.isolation, self.blocks),
                                                 blocks=self.blocks)

    def _start(self, blocks: frozenset) -> _Worker:
        if blocks not in self._workers:
            self._workers[blocks] = _Worker(*launch_worker(self.limits, self.isolation, blocks), blocks=blocks)
        worker = self._workers[blocks]
        try:  # the worker says "ready" before it sees any student code: failing before that is our fault
            ready = protocol.receive(worker.receive_fd, timeout=self.limits.load_timeout_s)
            if not (isinstance(ready, dict) and ready.get("ready") and ready.get("blocks") == sorted(blocks)):
                raise protocol.ProtocolError(f"unexpected first message {ready!r:.200}")
        except (EOFError, protocol.ReceiveTimeout, protocol.ProtocolError) as error:
            log = Path(worker.workdir, "launcher.log").read_text(errors="replace")[-2000:]
            self._kill(worker)
            raise WorkerStartError(f"the worker process could not start ({type(error).__name__}: {error}): "
                                   f"{log}") from None
        chunks = [(chunk.label, chunk.code) for chunk in self.submission.chunks]
        try:
            reply = self._exchange(worker, {"op": "load", "chunks": chunks}, self.limits.load_timeout_s,
                                   "loading your code")
        except StudentFailure as failure:
            self._failed[blocks] = str(failure)
            if blocks == self.blocks:
                self.load_failure = str(failure)
            raise
        worker.defined, worker.load_errors, worker.loaded = reply["defined"], reply["errors"], True
        if blocks == self.blocks:
            self.defined, self.load_errors = worker.defined, worker.load_errors
        return worker

    def _kill(self, worker: _Worker) -> None:
        try:
            os.killpg(worker.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        worker.process.wait()
        for fd in (worker.send_fd, worker.receive_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(worker.workdir, ignore_errors=True)
        if self._workers.get(worker.blocks) is worker:
            del self._workers[worker.blocks]

    def close(self) -> None:
        for worker in list(self._workers.values()):
            self._kill(worker)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _worker(self, extra=()) -> _Worker:
        """The loaded worker for these blocks (the submission's own, plus ``extra``), started if need be."""
        blocks = self.blocks | frozenset(extra)
        if self.load_failure:
            raise WorkerCrashed(self.load_failure)
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

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        try:
            # Every write and read is bounded by the call's deadline: a worker that stops reading (or asks for
            # a large answer and never takes it) costs this call a timeout, never the grader its run.
            protocol.send(worker.send_fd, request, timeout=left())
            while True:
                reply = protocol.receive(worker.receive_fd, timeout=left())
                if not isinstance(reply, dict):
                    raise MalformedReply(f"the process running your code sent the grader a "
                                         f"{type(reply).__name__} instead of an answer.")
                if type(reply.get("id")) is not int or reply["id"] != self._request_id:
                    continue  # stale (say, from a process the student forked): not an answer to this request
                if "callback" in reply:
                    protocol.send(worker.send_fd, self._answer_callback(reply, callbacks or {}), timeout=left())
                    continue
                _check_reply(reply, request["op"])
                break
        except (protocol.ReceiveTimeout, protocol.SendTimeout):
            self._kill(worker)
            self.events.append("timeout")
            raise StudentTimeout(f"timed out after {round(timeout, 1):g} s while {activity}") from None
        except (EOFError, BrokenPipeError):
            returncode = worker.process.poll()
            if returncode is None:
                try:
                    returncode = worker.process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    returncode = None
            self._kill(worker)
            self.events.append("crashed")
            raise WorkerCrashed(f"the process running your code ended while {activity} "
                                f"({_describe_exit(returncode, self.limits)}). Code that calls exit(), os._exit() or "
                                "crashes the interpreter costs the tests that reach it.") from None
        except protocol.ProtocolError:
            self._kill(worker)
            raise Unsendable(f"your code sent back something the grader will not decode while {activity}: only "
                             "tensors, numbers, strings and lists, tuples or dicts of them are accepted "
                             "(other objects could run code when unpickled).") from None
        except (MalformedReply, RecursionError) as error:
            self._kill(worker)
            if isinstance(error, MalformedReply):
                raise
            raise MalformedReply("the process running your code sent the grader values nested too deeply.") \
                from None
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

    def _raise_error(self, error: dict, called_with: str = "") -> None:
        name = error.get("function") or "?"
        kind, kind_of_error, message = error["kind"], error.get("type", ""), error.get("message", "")
        if kind == "missing":
            raise self._missing(name)
        if kind == "not_callable":
            raise NotDefined(f"`{name}` is a {kind_of_error}, not a function.")
        if kind == "not_implemented":
            raise NotImplementedYet(f"`{name}` is not implemented yet (it raised NotImplementedError"
                                    f"{': ' + message if message else ''}).")
        if kind == "unsendable":
            raise Unsendable(f"`{name}` returned something that cannot be graded: {message}")
        trace = error.get("traceback") or f"{kind_of_error}: {message}"
        if kind_of_error == "OSError" and "No space left on device" in message:
            raise StudentException(f"`{name}` ran out of file space: no space left (the sandbox allows "
                                   f"{self.limits.tmp_bytes // 2**20} MiB of files in /tmp and the home folder, and "
                                   f"{self.limits.shm_bytes // 2**20} MiB in /dev/shm).\n\nYour traceback:\n{trace}")
        if kind_of_error == "OSError" and "File too large" in message:
            raise StudentException(f"`{name}` wrote more than the {self.limits.file_bytes // 2**20} MiB allowed for "
                                   "output and files.")
        if kind_of_error == "MemoryError" or "DefaultCPUAllocator: can't allocate memory" in message:
            raise StudentException(f"`{name}` exceeded the {self.limits.memory_bytes / 2**30:g} GiB memory limit "
                                   f"({kind_of_error}: {message[:200]}).")
        raise StudentException(f"`{name}` raised {kind_of_error}: {message}"
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
        ``blocks``: run the call in a worker started with these blocks too (autograder.blocks).
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
        from autograder.worker import OUTPUT_CAP_BYTES

        text, self.output = "".join(self.output), []
        if len(text) > OUTPUT_CAP_BYTES:
            text = text[:OUTPUT_CAP_BYTES] + f"\n[... output truncated: {len(text)} characters in this test]"
        return text
