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
import ctypes
import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What the worker imports from this package. Nothing else of the project is in its reach.
WORKER_MODULES = ("__init__.py", "worker.py", "protocol.py", "zoo.py", "blocks.py")
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
    package.mkdir()
    for name in WORKER_MODULES:
        shutil.copyfile(PROJECT_ROOT / "autograder" / name, package / name)
        (package / name).chmod(0o644)
    for path in (folder, package):
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


# -- Landlock --------------------------------------------------------------------------------------
# Landlock's system calls have the same numbers on every architecture (asm-generic).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_RULE_PATH_BENEATH = 1
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 14, 1 << 15
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_TCP = 1 | 2          # bind and connect (ABI 4)
_SCOPE_ALL = 1 | 2        # abstract unix sockets and signals outside the domain (ABI 6)
_PR_SET_NO_NEW_PRIVS = 38


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


@functools.cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is off or a seccomp filter refuses it."""
    if not sys.platform.startswith("linux"):
        return 0
    version = _libc().syscall(ctypes.c_long(_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_ruleset(*, read: list[Path], write: list[Path], devices: list[Path]) -> int:
    """A Landlock ruleset fd: read-only beneath ``read``, everything beneath ``write``, read-write ``devices``.

    Everything else on the file system is refused, and so are TCP (ABI 4) and signals or abstract
    sockets that leave the domain (ABI 6). The child applies it with ``landlock_restrict_self``.
    """
    abi = landlock_abi()
    fs_rights = _FS_RIGHTS_BY_ABI.get(abi, (1 << 16) - 1)
    attr = _RulesetAttr(fs_rights, _NET_TCP if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    libc = _libc()
    fd = libc.syscall(ctypes.c_long(_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    reading = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
    # /proc may be listed (the worker finds the processes its student left behind), not read.
    rules = [(Path("/proc"), _FS_READ_DIR)] + [(path, reading) for path in read] + [(path, fs_rights) for path in write]
    rules += [(path, _FS_READ_FILE | _FS_WRITE_FILE | (_FS_IOCTL_DEV if abi >= 5 else 0)) for path in devices]
    try:
        for path, rights in rules:
            _add_rule(libc, fd, path, rights, fs_rights)
    except OSError:
        os.close(fd)
        raise
    return fd


def _add_rule(libc, ruleset_fd: int, path: Path, rights: int, fs_rights: int) -> None:
    try:
        path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # absent on this machine (say, /lib32): nothing to allow
    try:
        if not stat.S_ISDIR(os.fstat(path_fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(rights & fs_rights, path_fd)
        if libc.syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_PATH_BENEATH),
                        ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
            error = ctypes.get_errno()
            raise OSError(error, f"landlock_add_rule({path}): {os.strerror(error)}")
    finally:
        os.close(path_fd)


def landlock_restrict_self(ruleset_fd: int) -> None:
    """In the child, before exec: access to its own /proc/<pid>, no new privileges, then the ruleset for this
    process and its children.

    Its own /proc/<pid> is writable too: CUDA's driver writes there as it starts (its threads' names, in
    task/<tid>/comm), and cudaGetDeviceCount() failed with error 304 without it, on an H100 under Landlock.
    Those files change only the worker itself."""
    libc = _libc()
    _add_rule(libc, ruleset_fd, Path(f"/proc/{os.getpid()}"),
              _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR | _FS_WRITE_FILE | _FS_TRUNCATE,
              _FS_RIGHTS_BY_ABI.get(landlock_abi(), (1 << 16) - 1))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) < 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")


# Not all of /proc: another process's files there (the grader's environ, its cwd) must stay out of reach.
# The worker's own /proc/<pid> is added in the child (``landlock_restrict_self``), where the pid is known.
# CUDA's driver library reads /proc/devices (the major numbers of nvidia-uvm and nvidia-caps) and
# /proc/driver/nvidia/ as it starts. Neither holds anything of the grader's.
SYSTEM_READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/sys", "/dev",
                   "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/sys", "/proc/devices", "/proc/driver")
DEVICES_WRITABLE = ("/dev/null", "/dev/zero", "/dev/full")


_PR_CAPBSET_DROP = 24


def drop_capabilities() -> None:
    """In the child, before exec: empty the capability bounding set, so that a worker left running as root
    (no sandbox uid works) execs with no capability at all (no mounts, modules, raw sockets, ...)."""
    libc = _libc()
    for capability in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() == 22:
            break  # EINVAL: past the last capability this kernel knows


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
import torch, autograder.worker
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
