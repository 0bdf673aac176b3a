"""Which isolation a worker gets: probed once per grader process, strongest first, never none.

- ``bwrap``: bubblewrap namespaces (mounts, PID, network, IPC). Everything but the system
  folders and the worker's runtime is an empty tmpfs; the answers are not there at all.
- ``landlock``: the kernel's Landlock LSM, for where namespaces are refused (Docker's default
  seccomp profile makes bwrap fail with "Creating new namespace failed"). It needs no
  privilege: the worker may read only the system folders and its runtime, write only its
  own home folder, make no TCP connection and signal no process outside its domain.
- ``uid``: the grader is root and nothing above works: the worker runs as a sandbox uid,
  and every path it must not read is closed to other users (chmod o-rwx) and checked, as
  that uid, before any student code runs.

With none of them, grading is refused (``IsolationUnavailable``): the answers are never
readable by student code. In every mode the worker imports its few modules from a private
copy (``runtime_copy``), so it never needs to read the project itself, and it gets only
the environment variables in ``ENVIRONMENT_ALLOWED``.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from autograder.course.assignments import PROJECT_ROOT
from autograder.worker.landlock import landlock_abi

# What the worker imports of this project: the package's root and the worker subpackage, nothing else
# (an import-linter contract in make test keeps the worker from importing anything else of ours).
WORKER_PACKAGE = PROJECT_ROOT / "autograder" / "worker"
MODES = ("bwrap", "landlock", "uid")

# The worker's environment is built from nothing: these names pass through from the grader's
# (the locale, the search path, CUDA's device selection), the rest is set by the sandbox.
WORKER_USER = "student"
ENVIRONMENT_ALLOWED = ("PATH", "LANG", "LANGUAGE", "TZ", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER",
                       "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
ENVIRONMENT_ALLOWED_PREFIXES = ("LC_",)


class IsolationUnavailable(RuntimeError):
    """No isolation mechanism works here: grading would leave the answers readable, so it is refused."""


def worker_environment(*, home: str, python_path: str, threads: int) -> dict[str, str]:
    """An allow-list, never a copy of the grader's environment (which may hold tokens and keys)."""
    env = {key: value for key, value in os.environ.items()
           if key in ENVIRONMENT_ALLOWED or key.startswith(ENVIRONMENT_ALLOWED_PREFIXES)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    # A sandbox uid has no passwd entry, so getpass.getuser() needs these: torch 2.11's torch._dynamo, which every
    # torch.optim optimizer imports, calls it, and failing there left torch.optim broken for the whole worker.
    env.update(USER=WORKER_USER, LOGNAME=WORKER_USER)
    env.update(HOME=home, TMPDIR=home, PYTHONPATH=python_path, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1",
               PYTHONNOUSERSITE="1", MPLBACKEND="Agg", OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    return env


@functools.cache
def runtime_copy() -> Path:
    """A private folder with a copy of the worker's modules, readable by any uid; removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="autograder-runtime-"))
    package = folder / "autograder"
    (package / "worker").mkdir(parents=True)
    files = [(PROJECT_ROOT / "autograder" / "__init__.py", package / "__init__.py")]
    files += [(source, package / "worker" / source.name) for source in sorted(WORKER_PACKAGE.glob("*.py"))]
    for source, target in files:
        shutil.copyfile(source, target)
        target.chmod(0o644)
    for path in (folder, package, package / "worker"):
        path.chmod(0o755)
    atexit.register(shutil.rmtree, folder, True)
    return folder


def interpreter_paths() -> list[Path]:
    """What the worker's Python needs to read: the interpreter, the venv and site-packages.

    Not every sys.path entry: under pytest that holds tests/, and an editable install points at the project.
    """
    import site

    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent,
             Path(sys.prefix).absolute()}  # the worker is started by this path, which may go through a link
    paths |= {Path(entry).resolve() for entry in site.getsitepackages() if Path(entry).is_dir()}
    return sorted(paths)


def hidden_inside(paths: list[Path], hidden: list[Path]) -> list[Path]:
    """The hidden paths that one of ``paths`` contains (a runtime folder holding the answers)."""
    return [h for h in hidden if any(h == p or p in h.parents for p in paths)]


# -- bubblewrap ------------------------------------------------------------------------------------
@functools.cache
def bwrap_problem() -> str | None:
    """None when bwrap can start a sandbox here; otherwise what went wrong, in bwrap's words."""
    found = shutil.which("bwrap")
    if found is None:
        return "bwrap is not installed"
    arguments = [found, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent", "--ro-bind", "/", "/",
                 "--dev", "/dev", "--proc", "/proc", "--size", str(2**20), "--tmpfs", "/tmp", "--", "true"]
    if os.geteuid() != 0:
        arguments.insert(1, "--unshare-user")
    try:
        run = subprocess.run(arguments, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not run ({type(error).__name__}: {error})"
    if run.returncode != 0:
        return f"bwrap failed ({(run.stderr or run.stdout).strip()[:300] or f'exit {run.returncode}'})"
    return None


# -- a sandbox uid without namespaces ----------------------------------------------------------------
def close_to_others(paths: list[Path]) -> list[Path]:
    """chmod o-rwx on each existing path whose mode lets other users in; return those changed."""
    changed = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & 0o007:
            path.chmod(stat.S_IMODE(mode) & ~0o007)
            changed.append(path)
    return changed


_PROBE = """
import json, os, sys
uid = int(sys.argv[1])
os.setgroups([]); os.setgid(uid); os.setuid(uid)
readable = [p for p in json.loads(sys.argv[2]) if os.access(p, os.R_OK) or os.access(p, os.X_OK)]
import torch, autograder.worker.serve
print(json.dumps(readable))
"""


def uid_problem(uid: int, hidden: list[Path]) -> str | None:
    """None when ``uid`` can run the worker and read none of ``hidden``; otherwise why not."""
    if os.geteuid() != 0:
        return "the grader is not root, so it cannot run student code as another user"
    env = worker_environment(home="/", python_path=str(runtime_copy()), threads=1)
    try:
        run = subprocess.run([sys.executable, "-c", _PROBE, str(uid), json.dumps([str(p) for p in hidden])],
                             capture_output=True, text=True, timeout=120, env=env, cwd="/", stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the sandbox uid could not start Python ({error})"
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or [f"exit {run.returncode}"])[-1]
        return (f"the sandbox uid cannot run this Python and torch (is a folder on the way, such as /root, closed "
                f"to other users?): {last[:300]}")
    readable = json.loads(run.stdout.strip().splitlines()[-1])
    if readable:
        return f"the sandbox uid can still read {', '.join(readable)}"
    return None


@dataclass(frozen=True)
class Plan:
    """The isolation in force: a mode, whether the worker drops to a uid, and what was tried before it."""

    mode: str                 # bwrap | landlock | uid
    uid: int | None
    fallback_reason: str = ""  # why stronger modes were not used ("" for bwrap)

    def describe(self) -> str:
        words = {"bwrap": "bubblewrap namespaces", "landlock": "Landlock file-system and TCP rules",
                 "uid": "a sandbox uid with the answers closed to other users"}[self.mode]
        if self.uid is not None and self.mode != "uid":
            words += f", sandbox uid {self.uid}"
        elif self.uid is None and self.mode == "landlock" and os.geteuid() == 0:
            words += ", root without capabilities"
        return f"{self.mode} ({words})" + (f"; {self.fallback_reason}" if self.fallback_reason else "")


def choose(*, modes: tuple[str, ...], uid: int | None, hidden: list[Path], runtime: list[Path]) -> Plan:
    """The strongest mode of ``modes`` that works here; raises IsolationUnavailable when none does.

    ``uid`` is the sandbox uid to drop to (None when the grader is not root), ``hidden`` what student code must
    not read, ``runtime`` the folders the worker reads (they must not contain anything hidden).
    """
    reasons = []
    if "bwrap" in modes:
        problem = bwrap_problem()
        if problem is None:
            return Plan("bwrap", uid)
        reasons.append(problem)
    leaking = hidden_inside(runtime, hidden)
    if leaking:
        reasons.append(f"the worker's runtime folders contain {', '.join(map(str, leaking))}")
    elif "landlock" in modes and landlock_abi():
        # Landlock hides everything not allowed; a uid on top keeps RLIMIT_NPROC meaningful for root.
        problem = _uid_problem(()) if uid is not None else None
        note = "; ".join(reasons + ([f"no sandbox uid: {problem}"] if problem else []))
        return Plan("landlock", uid if problem is None else None, note)
    elif "landlock" in modes:
        reasons.append("Landlock is not available (kernel older than 5.13, or a seccomp filter refuses it)")
    if "uid" in modes and not leaking:
        if uid is None:
            reasons.append("the grader is not root, so it cannot drop student code to a sandbox uid")
        else:
            problem = _uid_problem(())
            if problem is None:  # close the hidden paths only for a uid that can run the worker at all
                close_to_others([path for path in hidden if path.exists()])
                problem = _uid_problem(tuple(hidden))
            if problem is None:
                return Plan("uid", uid, "; ".join(reasons))
            reasons.append(problem)
    raise IsolationUnavailable(
        "refusing to grade: student code could read the answers here, because no isolation works ("
        + "; ".join(reasons) + "). Install bubblewrap (apt-get install bubblewrap) where it can create namespaces, "
        "use a Linux kernel with Landlock (5.13 or later), or run the grader as root so it can drop student code "
        "to a sandbox uid.")


@functools.cache
def _uid_problem(hidden: tuple[Path, ...]) -> str | None:
    """uid_problem for any sandbox uid: access for "others" is the same for every uid that owns nothing."""
    return uid_problem(SANDBOX_PROBE_UID, list(hidden))


SANDBOX_PROBE_UID = 60999


# Folders of this project that student code must not read: answers, hidden tests, sources, history.
HIDDEN_PROJECT_PATHS = ("solutions", "autograder/suites", "assignments", "tests", "benchmarks", "examples", ".git")
SANDBOX_UID_BASE = 61000  # one uid per parallel slot, so RLIMIT_NPROC is counted per student


class WeakIsolationWarning(UserWarning):
    """bubblewrap cannot start here: the worker runs under a weaker isolation (said once, with the reason)."""


@dataclass
class Isolation:
    """Where the sandbox hides things, which uid it runs as (None: the grader's own), which modes it may use."""

    extra_hidden: tuple[Path, ...] = ()
    uid: int | None = None
    modes: tuple[str, ...] = MODES  # strongest first; tests narrow it to try a fallback
    plan: Plan | None = None        # decided once by the parent of a pool; None: decide here

    def hidden(self) -> list[Path]:
        return [PROJECT_ROOT / path for path in HIDDEN_PROJECT_PATHS] + [Path(p).resolve() for p in self.extra_hidden]

    def resolve(self) -> Plan:
        """The isolation in force (probed once per process); raises IsolationUnavailable when none works."""
        if self.plan is None:
            self.plan = _resolve(self.modes, self.uid, tuple(self.hidden()))
        return self.plan


@functools.cache
def _resolve(modes: tuple[str, ...], uid: int | None, hidden: tuple[Path, ...]) -> Plan:
    plan = choose(modes=modes, uid=uid, hidden=list(hidden), runtime=runtime_paths())
    if plan.mode != "bwrap":
        warnings.warn(WeakIsolationWarning(f"isolation: {plan.describe()}"), stacklevel=3)
    return plan


def default_isolation(extra_hidden=()) -> Isolation:
    """As root, the worker drops to a sandbox uid (so RLIMIT_NPROC binds); otherwise it keeps its own.
    ``extra_hidden``: more folders student code must not see (the output folder, the submissions).

    ``AUTOGRADER_SANDBOX_MODES`` (say, ``landlock,uid``) narrows the modes tried, to imitate a machine
    where bubblewrap or Landlock is missing; it can never allow grading without isolation.

    RLIMIT_NPROC counts every process of a uid, so two graders running side by side must not share one:
    a grader of its own takes a uid from its pid (62000-65999); the batch pool's slots use 61001-61999.
    """
    modes = tuple(mode for mode in os.environ.get("AUTOGRADER_SANDBOX_MODES", "").split(",") if mode in MODES)
    return Isolation(extra_hidden=tuple(Path(path) for path in extra_hidden),
                     uid=SANDBOX_UID_BASE + 1000 + os.getpid() % 4000 if os.geteuid() == 0 else None,
                     modes=modes or MODES)


def runtime_paths() -> list[Path]:
    """What the worker reads: its interpreter and packages, and the private copy of its own modules."""
    return sorted({*interpreter_paths(), runtime_copy()})
