"""The warm template: one long-lived process per grader slot that forks a fresh worker for every student.

Started by ``autograder.sandbox.template`` as ``python -m autograder.worker.template CONTROL_FD`` under the slot's
isolation (bubblewrap, Landlock or the sandbox uid: the same launch, limits and seccomp filter as a spawned
worker). It imports torch and the worker's modules once, then waits on its control socket. It never loads or runs
student code and holds nothing of the grader's: no suites, solutions, references or open files but its control
socket and its log. CUDA is never initialised here (it does not survive a fork); a child initialises it itself.

Each ``fork`` request brings the two pipe ends of a new worker (SCM_RIGHTS). The child, before it reads a byte of
student code:
- starts a session of its own and dies with the template;
- gets a fresh empty home (also its TMPDIR) that no other child can see;
- enters a Landlock domain of its own (nested inside the template's, where the template has one): it may read only
  the system folders and its runtime, write only its home, make no TCP connection, and neither signal, ptrace nor
  reach an abstract Unix socket of any process outside its domain: not the template, not another child, not a
  sibling worker of the same student;
- lowers its rlimits, reseeds its random generators, installs its blocks (autograder.worker.blocks), says "ready".
The seccomp filter (keyrings, System V IPC, POSIX message queues) and the empty session keyring are the template's,
inherited: no child can use a keyring or an IPC object at all.

The template is the subreaper of its children: a student's daemon (setsid, double fork) is reparented here, and
``reset`` (the grader's "this student is done") kills and reaps every process of the slot but the template and
removes the children's homes before the next student starts. Landlock scoping is what makes this safe: no child can
signal the template, so no student can take the slot down for the next one.

Why our own fork server rather than multiprocessing's forkserver: that one forks children that unpickle and run
whatever the parent sends, runs no per-child confinement between fork and the first byte of work, and offers no
reaping of reparented daemons or CPU-time accounting of a child to the grader.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import sys
import traceback
from pathlib import Path

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
MAX_REQUEST_BYTES = 1 << 16
LIMITS = {"memory_bytes": resource.RLIMIT_DATA, "cpu_seconds": resource.RLIMIT_CPU,
          "file_bytes": resource.RLIMIT_FSIZE, "processes": resource.RLIMIT_NPROC}


def _prctl(option: int, value: int) -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def lower_limits(wanted: list[tuple[int, int]]) -> None:
    """Lower each (rlimit, value) to the value, never raise it (RLIM_INFINITY: left as it is); no core files.
    The one place rlimits are set: a spawned worker between fork and exec (sandbox.launch), a forked one here."""
    for kind, value in [*wanted, (resource.RLIMIT_CORE, 0)]:
        if value == resource.RLIM_INFINITY:
            continue
        soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def _reseed() -> None:
    """No random state of the template's (or of an earlier child's) carries over: each child draws its own."""
    import random

    import numpy
    import torch

    random.seed(os.urandom(16))
    numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
    torch.seed()


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of process ``pid`` (all its threads), from /proc; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_NOSUID, MS_NODEV, MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 1, 32, 4096, 16384, 1 << 18
PR_SET_DUMPABLE = 4
PRIVATE_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        import ctypes

        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def private_folders(sizes: dict, runtime: list[str]) -> bool:
    """Give this process empty /tmp, /var/tmp and /dev/shm of its own (tmpfs of bounded size), in a new user and
    mount namespace; what the worker runs from under /tmp (bwrap binds the runtime there) is bound back read-only.
    Then no capability is left, in any namespace. False, changing nothing, where the kernel refuses an unprivileged
    user namespace (Docker's default seccomp profile): the child then writes only in a home folder of its own."""
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    # Root (a template left as root, with its capabilities: Landlock mode with no sandbox uid) needs no user
    # namespace, and could not map uid 0 into one without CAP_SETFCAP; any other uid maps itself.
    if not (uid == 0 and libc.unshare(CLONE_NEWNS) == 0):
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # a process that changed uid cannot write its own uid_map otherwise
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
            return False
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    keep = [path for path in runtime if Path(path).is_dir() and Path("/tmp") in Path(path).parents]
    keep = [path for path in keep if not any(Path(other) in Path(path).parents for other in keep)]
    kept = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in keep}
    for folder in PRIVATE_FOLDERS:
        if not Path(folder).is_dir():
            continue
        size = sizes["shm_bytes"] if folder == "/dev/shm" else sizes["tmp_bytes"]
        _check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                          f"size={int(size)},mode=1777".encode()), f"mount tmpfs on {folder}")
    for path, fd in kept.items():
        Path(path).mkdir(parents=True, exist_ok=True)
        _check(libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None),
               f"bind {path}")
        _check(libc.mount(None, path.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None),
               f"remount {path} read-only")
        os.close(fd)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    return True


def drop_all_capabilities() -> None:
    """Empty the bounding set, then the effective, permitted and inheritable sets (capset(2))."""
    import ctypes

    from autograder.worker import landlock

    landlock.drop_capabilities()
    libc = _libc()

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    data = (ctypes.c_uint32 * 6)()
    _check(libc.capset(ctypes.byref(Header(0x20080522, 0)), data), "capset")


def _status(wait_status: int) -> int:
    return os.waitstatus_to_exitcode(wait_status)


class Template:
    def __init__(self, control: socket.socket):
        self.control = control
        self.home = Path(os.environ.get("HOME") or "/tmp")
        self.children: dict[int, dict] = {}   # pid -> {"owner": ..., "home": Path}
        self.exited: dict[int, int] = {}      # pid -> exit code (negative: signal), once reaped
        self.count = 0

    # -- the child ---------------------------------------------------------------------------------
    def _become_worker(self, request: dict, in_fd: int, out_fd: int, home: Path) -> None:
        """Runs in the forked child and never returns."""
        code = 1
        try:
            template = os.getppid()
            self.control.close()
            os.setsid()
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != template:
                os._exit(1)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            rules = request["rules"]
            if private_folders(request["sizes"], rules["read"]):
                home, writable = Path("/tmp"), [Path(folder) for folder in PRIVATE_FOLDERS if Path(folder).is_dir()]
            else:
                home.mkdir(mode=0o700)
                writable = [home]
            drop_all_capabilities()  # in every namespace, before any byte of the student's
            os.chdir(home)
            os.environ.update(HOME=str(home), TMPDIR=str(home))
            import tempfile

            tempfile.tempdir = None  # found again from TMPDIR: the child's own home
            lower_limits([(LIMITS[name], int(value)) for name, value in request.get("limits", {}).items()
                          if name in LIMITS])
            from autograder.worker import landlock

            ruleset = landlock.landlock_ruleset(
                read=[Path(path) for path in rules["read"]] + writable, write=writable,
                devices=[Path(path) for path in rules["devices"]])
            landlock.landlock_restrict_self(ruleset)
            os.close(ruleset)
            _reseed()
            from autograder.worker import serve

            serve.serve_worker(in_fd, out_fd, list(request.get("blocks", [])))
            code = 0
        except BaseException:  # noqa: B036 (whatever happened, the child must not return into the template)
            try:
                traceback.print_exc()
                sys.stderr.flush()
            except BaseException:  # noqa: B036
                pass
        finally:
            os._exit(code)

    # -- requests ----------------------------------------------------------------------------------
    def fork(self, request: dict, fds: list[int]) -> dict:
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return {"ok": False, "message": f"a fork needs two pipe ends, got {len(fds)}"}
        self.count += 1
        home = self.home / f"student-{self.count}"
        shutil.rmtree(home, ignore_errors=True)
        pid = os.fork()
        if pid == 0:
            self._become_worker(request, fds[0], fds[1], home)
        for fd in fds:
            os.close(fd)
        self.children[pid] = {"owner": request.get("owner"), "home": home}
        return {"ok": True, "pid": pid}

    def _reap(self) -> None:
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.exited[pid] = _status(wait_status)

    def poll(self, request: dict) -> dict:
        self._reap()
        return {"ok": True, "returncode": self.exited.get(request["pid"])}

    def cpu(self, request: dict) -> dict:
        return {"ok": True, "cpu": _cpu_seconds(request["pid"])}

    def kill(self, request: dict) -> dict:
        pid = request["pid"]
        if pid in self.children and pid not in self.exited:
            for target in (-pid, pid):  # its session's group, then itself
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
            try:
                _, wait_status = os.waitpid(pid, 0)
                self.exited[pid] = _status(wait_status)
            except ChildProcessError:
                pass
        self._reap()
        return {"ok": True, "returncode": self.exited.get(pid)}

    def reset(self, request: dict) -> dict:
        """Kill and reap every process of this slot but the template (the owner's workers and whatever any student
        left behind, reparented here), then remove the owner's homes. Says which pids survived (none expected)."""
        owner = request.get("owner")
        mine = {pid for pid, child in self.children.items() if child["owner"] == owner}
        others = {pid for pid, child in self.children.items() if child["owner"] != owner and pid not in self.exited}
        for _ in range(200):
            self._reap()
            strays = children() - others
            if not strays:
                break
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                    _, wait_status = os.waitpid(pid, 0)
                    self.exited[pid] = _status(wait_status)
                except (ProcessLookupError, ChildProcessError):
                    pass
        for pid in mine:
            shutil.rmtree(self.children.pop(pid)["home"], ignore_errors=True)
            self.exited.pop(pid, None)
        return {"ok": True, "left": sorted(children() - others)}

    def serve(self) -> None:
        handlers = {"fork": self.fork, "poll": self.poll, "cpu": self.cpu, "kill": self.kill, "reset": self.reset}
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.control, MAX_REQUEST_BYTES, 2)
            except OSError:
                return
            if not data:
                return  # the grader closed the socket: the slot is done
            try:
                request = json.loads(data)
                handler = handlers[request["op"]]
                reply = handler(request, fds) if handler == self.fork else handler(request)
            except Exception as error:  # the template must always answer, and never die of a request
                for fd in fds:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                reply = {"ok": False, "message": f"{type(error).__name__}: {error}"}
            self.control.sendall(json.dumps(reply).encode())


def children() -> set[int]:
    """The pids whose parent is this process (from /proc: Linux)."""
    found, me = set(), os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == me:
                found.add(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def main(argv: list[str]) -> None:
    """``CONTROL_FD``: one end of a SOCK_SEQPACKET socket pair; every request and reply is one packet of JSON."""
    control = socket.socket(fileno=int(argv[0]))
    from autograder.worker import serve

    serve.prepare()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    import torch

    control.sendall(json.dumps({"ready": True, "pid": os.getpid(), "cuda": torch.cuda.is_initialized()}).encode())
    Template(control).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
