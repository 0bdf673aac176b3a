"""The grader's side of the warm template (autograder.worker.template): one per slot, forked into a worker per call.

A grader process (the CLI, a pool process, nbgrader's preprocessor, a Dask worker, the Gradescope run) is one slot:
the first submission it grades starts a template under the isolation in force, and every later worker of every
later submission in that process is a child forked from it, ready in a few milliseconds instead of an interpreter
that imports torch (about a second). ``StudentCode`` ends a submission with ``reset``: every process of the slot is
killed and checked gone, and the children's homes removed, before the next student's first worker starts.

The spawn path (one fresh interpreter per worker, ``launch_worker``) stays as the fallback where a template cannot
give each child its own confinement (no fork, or a kernel whose Landlock cannot scope signals and abstract sockets:
ABI 6, Linux 6.12), and as the baseline of ``benchmarks/startup.py``. ``AUTOGRADER_WORKERS=spawn`` chooses it.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from autograder.sandbox.isolation import Isolation
from autograder.sandbox.launch import child_rules, launch_python
from autograder.sandbox.limits import Limits
from autograder.worker.landlock import landlock_abi

READY_TIMEOUT_S = 120.0   # the template imports torch once; a busy machine may take long
REPLY_TIMEOUT_S = 30.0    # any other answer of the template's (it never runs student code, so never waits long)
SCOPED_ABI = 6            # Landlock scopes signals and abstract Unix sockets from this ABI on


class TemplateLost(RuntimeError):
    """The template died or stopped answering. Never the student's fault: the submission is graded again."""


def template_problem() -> str | None:
    """None when workers can be forked from a template here; otherwise why not (the spawn path is used)."""
    if os.environ.get("AUTOGRADER_WORKERS", "template") == "spawn":
        return "AUTOGRADER_WORKERS=spawn"
    if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
        return "this platform cannot fork a worker with its pipes"
    if landlock_abi() < SCOPED_ABI:
        return (f"Landlock ABI {landlock_abi()} cannot keep two forked workers apart (signals and abstract sockets "
                f"need ABI {SCOPED_ABI}, Linux 6.12)")
    return None


class Template:
    """One running template process and its control socket."""

    def __init__(self, limits: Limits, confinement: Isolation):
        self.limits, self.confinement = limits, confinement
        self.rules = child_rules(confinement)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process, self.workdir = launch_python(["autograder.worker.template", str(theirs.fileno())],
                                                       (theirs.fileno(),), limits, confinement, template=True)
        finally:
            theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        self.users = 0  # open submissions that fork from it (StudentCode): an idle template may be stopped
        self.log = Path(self.workdir, "launcher.log")
        try:
            ready = self._receive(READY_TIMEOUT_S)
        except TemplateLost as error:
            self.close()
            raise TemplateLost(f"the worker template could not start ({error}): {self.log_tail()}") from None
        if not ready.get("ready") or ready.get("cuda"):
            self.close()
            raise TemplateLost(f"the worker template started wrongly: {ready!r:.200}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _receive(self, timeout: float) -> dict:
        self.control.settimeout(timeout)
        try:
            data = self.control.recv(1 << 16)
        except (socket.timeout, OSError) as error:
            raise TemplateLost(f"no answer: {type(error).__name__}") from None
        if not data:
            raise TemplateLost(f"it exited ({self.process.poll()})")
        return json.loads(data)

    def ask(self, request: dict, fds: tuple[int, ...] = ()) -> dict:
        with self.lock:
            try:
                socket.send_fds(self.control, [json.dumps(request).encode()], list(fds))
            except OSError as error:
                raise TemplateLost(f"it stopped listening ({error})") from None
            reply = self._receive(REPLY_TIMEOUT_S)
        if not reply.get("ok"):
            raise TemplateLost(reply.get("message", "it refused a request"))
        return reply

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, blocks: frozenset[str], limits: Limits, owner: str) -> tuple[ForkedProcess, int, int]:
        """A new worker, forked from the template. Returns (process, send_fd, receive_fd), as launch_worker does."""
        to_worker_read, to_worker_write = os.pipe()
        from_worker_read, from_worker_write = os.pipe()
        wanted = {"memory_bytes": limits.memory_bytes, "cpu_seconds": limits.cpu_seconds,
                  "file_bytes": limits.file_bytes}
        if self.confinement.resolve().uid is not None:
            wanted["processes"] = limits.processes
        try:
            reply = self.ask({"op": "fork", "blocks": sorted(blocks), "limits": wanted, "rules": self.rules,
                              "sizes": {"tmp_bytes": limits.tmp_bytes, "shm_bytes": limits.shm_bytes},
                              "owner": owner}, (to_worker_read, from_worker_write))
        except TemplateLost:
            os.close(to_worker_write), os.close(from_worker_read)
            raise
        finally:
            os.close(to_worker_read), os.close(from_worker_write)
        os.set_blocking(to_worker_write, False)
        os.set_blocking(from_worker_read, False)
        return ForkedProcess(self, reply["pid"]), to_worker_write, from_worker_read

    def reset(self, owner: str) -> list[int]:
        """Kill every process of the slot but the template and remove ``owner``'s homes; the pids left (none)."""
        return self.ask({"op": "reset", "owner": owner})["left"]

    def close(self) -> None:
        try:
            self.control.close()
        except OSError:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


class ForkedProcess:
    """A worker forked by a template, with the parts of ``subprocess.Popen`` that StudentCode uses."""

    measures_cpu = True  # its template reads its CPU time

    def __init__(self, template: Template, pid: int):
        self.template, self.pid, self.returncode = template, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.template.ask({"op": "poll", "pid": self.pid})["returncode"]
            except TemplateLost:
                self.returncode = None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = time.monotonic() + (timeout if timeout is not None else 3600)
        while self.poll() is None:
            if not self.template.alive():
                raise TemplateLost("the worker template died")
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode

    def kill(self) -> None:
        """Kill it and its process group, and reap it."""
        if self.returncode is None:
            try:
                self.returncode = self.template.ask({"op": "kill", "pid": self.pid})["returncode"]
            except TemplateLost:
                pass

    def cpu_seconds(self) -> float | None:
        """CPU time the worker has used (all its threads), as the template reads it; None when unknown."""
        try:
            return self.template.ask({"op": "cpu", "pid": self.pid})["cpu"]
        except TemplateLost:
            return None

    @property
    def lost(self) -> bool:
        return not self.template.alive()


class SpawnedProcess:
    """A worker of the spawn path (its own interpreter), with the same interface as ForkedProcess."""

    lost = False
    measures_cpu = False

    def __init__(self, process: subprocess.Popen):
        self.process, self.pid = process, process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()

    def cpu_seconds(self) -> float | None:
        return None  # the launcher (bwrap) is not the worker: the call limit stays wall-clock time here


_templates: dict[tuple, Template] = {}
_templates_lock = threading.Lock()


def _key(limits: Limits, confinement: Isolation) -> tuple:
    """What a template's launch depends on: the isolation and what bwrap's command line takes from the limits."""
    plan = confinement.resolve()
    return (plan.mode, plan.uid, tuple(confinement.hidden()), limits.tmp_bytes, limits.shm_bytes, limits.threads,
            limits.processes if plan.uid is not None else None, sys.executable)


IDLE_KEPT = 1  # templates of other isolations kept idle per process (each holds torch: some 300 MB)


def template_for(limits: Limits, confinement: Isolation) -> Template:
    """This process's running template for this isolation, started (or started again, if it died) as needed, with
    one more user (``release`` it). Idle templates of other isolations beyond ``IDLE_KEPT`` are stopped first."""
    key = _key(limits, confinement)
    with _templates_lock:
        template = _templates.get(key)
        if template is not None and not template.alive():
            template.close()
            del _templates[key]
            template = None
        if template is None:
            idle = [other for other, running in _templates.items() if running.users == 0]
            for other in idle[:max(0, len(idle) - IDLE_KEPT + 1)]:
                _templates.pop(other).close()
            template = _templates[key] = Template(limits, confinement)
        template.users += 1
        return template


def release(template: Template) -> None:
    with _templates_lock:
        template.users = max(0, template.users - 1)


def running_templates() -> set[int]:
    """The pids of this process's templates (its own children, which no submission's cleanup may kill)."""
    with _templates_lock:
        return {template.process.pid for template in _templates.values()}


def discard(template: Template) -> None:
    """Forget (and stop) a template that failed, so that the next submission starts a fresh one."""
    with _templates_lock:
        for key, running in list(_templates.items()):
            if running is template:
                del _templates[key]
    template.close()


def _forget_inherited() -> None:
    """In a process forked from a grader (a pool process): the parent's templates are the parent's to use."""
    _templates.clear()


os.register_at_fork(after_in_child=_forget_inherited)


@atexit.register
def _close_all() -> None:
    with _templates_lock:
        for template in _templates.values():
            template.close()
        _templates.clear()
