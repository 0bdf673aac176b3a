"""Start a worker process under the isolation in force, with its limits, and make sure nothing it starts
outlives the run."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.sandbox import isolation, seccomp
from autograder.worker import landlock
from autograder.worker.template import children, lower_limits
from autograder.sandbox.bwrap import bwrap_arguments
from autograder.sandbox.isolation import Isolation, runtime_paths
from autograder.sandbox.limits import Limits


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


PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> set[int]:
    """Make this process the subreaper of everything it starts, so that a student's daemon (setsid, double
    fork, exec with an empty environment) is reparented here, not to init, when its parents die: it can then be
    found and killed, in every isolation mode and whatever its environment says. Returns the children this
    process has now, which ``kill_orphans`` leaves alone."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)
    except (OSError, AttributeError):
        pass
    return children()


def kill_orphans(keep: set[int], rounds: int = 200) -> set[int]:
    """SIGKILL and reap every child of this process not in ``keep``, round after round, until none is left: the
    children of a killed process become this subreaper's children in turn. Returns the pids still running after
    ``rounds`` (empty unless something forks faster than it is killed, which RLIMIT_NPROC bounds)."""
    for _ in range(rounds):
        strays = children() - keep
        if not strays:
            return set()
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)  # checked gone: reaped, not only signalled
            except (ProcessLookupError, ChildProcessError, PermissionError):
                pass
    return children() - keep


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
              (resource.RLIMIT_FSIZE, limits.file_bytes)]
    if limit_processes:
        wanted.append((resource.RLIMIT_NPROC, limits.processes))
    lower_limits(wanted)


def launch_worker(limits: Limits, confinement: Isolation, blocks: frozenset[str] = frozenset()
                  ) -> tuple[subprocess.Popen, int, int, str]:
    """Start ``python -m autograder.worker.serve`` with a pipe each way. Returns (process, send_fd, receive_fd, tmpdir).

    ``blocks``: what the worker switches off before it loads student code (autograder.worker.blocks). The grader's ends
    of the pipes are non-blocking: every write and read has a deadline, so a worker that stops reading or
    writing never holds the grader.
    Raises IsolationUnavailable (before starting anything) when no isolation works on this machine.
    """
    to_worker_read, to_worker_write = os.pipe()
    from_worker_read, from_worker_write = os.pipe()
    try:
        process, workdir = launch_python(
            ["autograder.worker.serve", str(to_worker_read), str(from_worker_write), ",".join(sorted(blocks))],
            (to_worker_read, from_worker_write), limits, confinement)
    finally:
        os.close(to_worker_read), os.close(from_worker_write)
    os.set_blocking(to_worker_write, False)
    os.set_blocking(from_worker_read, False)
    return process, to_worker_write, from_worker_read, workdir


def child_rules(confinement: Isolation) -> dict[str, list[str]]:
    """What a worker may read (the system folders and its runtime) and which devices it may write, as paths."""
    devices = [*landlock.DEVICES_WRITABLE, *map(str, sorted(Path("/dev").glob("nvidia*")))]
    return {"read": [*landlock.SYSTEM_READABLE, *map(str, runtime_paths())], "devices": devices}


def launch_python(arguments: list[str], pass_fds: tuple[int, ...], limits: Limits, confinement: Isolation,
                  template: bool = False) -> tuple[subprocess.Popen, str]:
    """Start ``python -m *arguments`` under the isolation in force, with ``pass_fds`` open. Returns (process, workdir).

    ``template``: a warm template (autograder.worker.template), which lowers the per-worker rlimits in each child
    it forks rather than in itself; each child enters a Landlock domain of its own.
    """
    plan = confinement.resolve()
    workdir = tempfile.mkdtemp(prefix="autograder-worker-")  # the grader's; the worker writes only in home/
    home = Path(workdir, "home")
    home.mkdir()
    command = [sys.executable, "-m", *arguments]
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
        if plan.mode == "landlock" and not template:
            # A template is not in a Landlock domain itself: Landlock forbids mounts to a process in a domain, and
            # each child mounts its own /tmp before it enters a domain of its own (autograder.worker.template).
            rules = child_rules(confinement)
            read = [Path(p) for p in rules["read"]]
            ruleset = landlock.landlock_ruleset(read=read, write=[home], devices=[Path(p) for p in rules["devices"]])
    if plan.uid is not None:
        env["AUTOGRADER_WORKER_UID"] = str(plan.uid)
    if POOL_TAG in os.environ:  # the class run's mark (autograder.classroom.batch): what a stopped run kills when it ends
        env[POOL_TAG] = os.environ[POOL_TAG]

    parent = os.getpid()
    syscall_filter = seccomp.build_filter()
    # A template lowers the per-worker limits in each child; itself it only dies with the grader, with no core file.
    own_limits = Limits(memory_bytes=resource.RLIM_INFINITY, cpu_seconds=resource.RLIM_INFINITY,
                        file_bytes=resource.RLIM_INFINITY) if template else limits

    def confine_child() -> None:  # between fork and exec
        _apply_limits(own_limits, limit_processes=plan.uid is not None, parent=parent)
        seccomp.close_shared_channels(syscall_filter)
        if plan.uid is None and os.geteuid() == 0 and plan.mode != "bwrap" and not template:
            # root with no sandbox uid: exec with no capability at all. (A template keeps them to mount each child's
            # own /tmp; every child drops them all before any student code: autograder.worker.template.)
            landlock.drop_capabilities()
        if ruleset is not None:
            landlock.landlock_restrict_self(ruleset)

    # The launcher's own stderr (bwrap errors, a worker that cannot start) goes to a log for the staff.
    try:
        with open(os.path.join(workdir, "launcher.log"), "wb") as log:
            process = subprocess.Popen(
                command, pass_fds=pass_fds, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=log, cwd=home, env=env, start_new_session=True,
                preexec_fn=confine_child)
    finally:
        if ruleset is not None:
            os.close(ruleset)
    return process, workdir
