"""The worker: a separate process that runs one student's code and answers calls.

Started by ``autograder.sandbox.channel`` as ``python -m autograder.worker.serve IN_FD OUT_FD``.
It never imports the suites or the solutions. Student output goes to a capture
file (fds 1 and 2 point there), never into the protocol pipes. Everything it
sends back passes through ``protocol.to_wire``; the grader decodes it with
``weights_only=True`` either way, so a compromised worker can lie about its
answers but cannot run code in the grader. Nothing the worker says about itself
earns points: the grader decides from the values it gets back.

Started with blocks (``autograder.worker.blocks``), it installs them before anything
else and keeps them for its whole life.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import traceback

from autograder.worker.protocol import ErrorKind

OUTPUT_CAP_BYTES = 64 * 1024


class OutputCapture:
    """fds 1 and 2 write to one temporary file; each call reads back what it added (capped)."""

    def __init__(self):
        # In memory, not in /tmp: a student who fills the sandbox's /tmp must still have their output shown.
        self.file = (open(os.memfd_create("student-output"), "w+b") if hasattr(os, "memfd_create")
                     else tempfile.TemporaryFile())
        for fd in (1, 2):
            os.dup2(self.file.fileno(), fd)

    def take(self) -> str:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        size = os.lseek(self.file.fileno(), 0, os.SEEK_END)
        os.lseek(self.file.fileno(), 0, os.SEEK_SET)
        text = os.read(self.file.fileno(), OUTPUT_CAP_BYTES).decode("utf-8", "replace")
        os.ftruncate(self.file.fileno(), 0)
        os.lseek(self.file.fileno(), 0, os.SEEK_SET)
        if size > OUTPUT_CAP_BYTES:
            text += f"\n[... output truncated: {size} bytes, showing the first {OUTPUT_CAP_BYTES}]"
        return text


def student_traceback(error: BaseException) -> str:
    """The traceback restricted to frames in the student's code (their cells), plus the error line."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename.startswith("<")]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return "".join(lines).rstrip()


def error_reply(error: BaseException, name: str) -> dict:
    # Not implemented is the function's own stub; a stub it calls (a helper not written yet) is an error in that
    # helper, with the traceback that says so (a suite may then grade the function with the course's helper).
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename.startswith("<")]
    own = not frames or frames[-1].name == name
    kind = ErrorKind.NOT_IMPLEMENTED if isinstance(error, NotImplementedError) and own else ErrorKind.EXCEPTION
    return {"ok": False, "error": {"kind": kind, "type": type(error).__name__, "message": _text(error)[:2000],
                                   "traceback": _text(student_traceback, error)[:8000], "function": name,
                                   "types": [kind.__name__ for kind in type(error).__mro__][:20],
                                   "errno": error.errno if isinstance(getattr(error, "errno", None), int) else None,
                                   "blocked": _blocked_call(error)}}


def _text(make, *args) -> str:
    """``str(error)`` (or another text) that cannot fail: a student's ``__str__`` may raise or return a non-str."""
    try:
        text = make(*args) if args else str(make)
        return text if type(text) is str else repr(type(text))
    except BaseException as failure:  # noqa: B036 (whatever it raised, the grader still gets an answer)
        return f"<the error's text could not be read: {type(failure).__name__}>"


def _blocked_call(error: BaseException) -> list | None:
    """[call, kind] when a block (autograder.worker.blocks) raised anywhere in this error's chain, else None: a
    student who catches the blocked call and raises something else is still seen calling it."""
    from autograder.worker.blocks import Blocked

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, Blocked):
            return [error.call, error.kind]
        error = error.__cause__ or error.__context__
    return None


class Worker:
    def __init__(self, in_fd: int, out_fd: int):
        self.in_fd, self.out_fd = in_fd, out_fd
        self.namespace: dict = {"__name__": "submission", "__builtins__": __builtins__}
        self.capture = OutputCapture()
        # Bound before any student code runs: code that replaces them in their modules changes nothing here.
        # (What these send back is still only what the grader compares against its own expectations.)
        from autograder.worker.protocol import to_wire
        from autograder.worker.zoo import describe_model, materialize
        self.to_wire, self.describe_model, self.materialize = to_wire, describe_model, materialize

    # -- requests -------------------------------------------------------------------------
    def load(self, request: dict) -> dict:
        errors = []
        for label, code in request["chunks"]:
            try:
                exec(compile(code, f"<{label}>", "exec"), self.namespace)
            except BaseException as error:  # SystemExit and KeyboardInterrupt from student code too
                errors.append(f"{label}: {type(error).__name__}: {str(error)[:300]}")
        defined = {name: callable(value) for name, value in self.namespace.items()
                   if not name.startswith("__")}
        return {"ok": True, "defined": defined, "errors": errors}

    def call(self, request: dict) -> dict:
        import torch

        to_wire, describe_model, materialize = self.to_wire, self.describe_model, self.materialize
        name = request["name"]
        function = self.namespace.get(name)
        if function is None:
            return {"ok": False, "error": {"kind": ErrorKind.MISSING, "function": name}}
        if not callable(function):
            return {"ok": False, "error": {"kind": ErrorKind.NOT_CALLABLE, "function": name,
                                           "type": type(function).__name__}}
        context = {"models": []}
        args = materialize(list(request.get("args", [])), context)
        kwargs = materialize(dict(request.get("kwargs", {})), context)
        seed = request.get("seed", 0)
        torch.manual_seed(seed), random.seed(seed)
        try:
            import numpy
            numpy.random.seed(seed)
        except ImportError:
            pass
        # Helpers answered by the grader (the course's own, computed in the grader's process): the student's
        # function is graded on its own when their version of a helper it calls is broken.
        replaced = {helper: self.namespace.get(helper) for helper in request.get("through_grader", ())}
        for helper in replaced:
            self.namespace[helper] = self._through_grader(helper, request.get("id"))
        try:
            value = function(*args, **kwargs)
        except BaseException as error:
            return error_reply(error, name)
        finally:
            for helper, original in replaced.items():
                self.namespace[helper] = original
        if request.get("module_probe") is not None and isinstance(value, torch.nn.Module):
            value = probe_module(value, request["module_probe"])
        return {"ok": True, "value": to_wire(value),
                "args_after": [to_wire(arg) if isinstance(arg, torch.Tensor) else None for arg in args],
                "models": [describe_model(model) for model in context["models"]]}

    def _through_grader(self, helper: str, request_id):
        """A stand-in for ``helper`` that asks the grader for the answer (a frame tagged "callback")."""
        from autograder.worker import protocol
        from autograder.worker.protocol import to_wire

        def stand_in(*args, **kwargs):
            protocol.send(self.out_fd, {"callback": helper, "id": request_id, "args": [to_wire(a) for a in args],
                                        "kwargs": {key: to_wire(value) for key, value in kwargs.items()}})
            answer = protocol.receive(self.in_fd)
            if not answer.get("ok"):
                raise RuntimeError(f"{helper}: {answer.get('message', 'the grader could not answer')}")
            return answer["value"]

        stand_in.__name__ = helper
        return stand_in

    def get(self, request: dict) -> dict:
        from autograder.worker.protocol import to_wire

        if request["name"] not in self.namespace:
            return {"ok": False, "error": {"kind": ErrorKind.MISSING, "function": request["name"]}}
        return {"ok": True, "value": to_wire(self.namespace[request["name"]])}

    def serve(self) -> None:
        from autograder.worker import protocol

        handlers = {"load": self.load, "call": self.call, "get": self.get}
        pid = os.getpid()
        while True:
            try:
                request = protocol.receive(self.in_fd)
            except EOFError:
                return
            try:
                reply = handlers[request["op"]](request)
            except BaseException as error:  # the grader must always get an answer
                reply = error_reply(error, request.get("name", request["op"]))
            if os.getpid() != pid:
                os._exit(0)  # a process the student forked came back here: only the worker may answer
            reap_strays()
            reply["id"] = request.get("id")
            reply["output"] = self.capture.take()
            try:
                protocol.send(self.out_fd, reply)
            except Exception as error:  # an answer that cannot be encoded is the student's problem
                protocol.send(self.out_fd, {"ok": False, "output": "", "id": request.get("id"), "error": {
                    "kind": ErrorKind.UNSENDABLE, "function": request.get("name", ""),
                    "message": f"{type(error).__name__}: {str(error)[:300]}"}})


def probe_module(module, probe_input) -> dict:
    """What the grader needs to know about a returned nn.Module: parameters in order and one forward pass."""
    import torch

    parameters = [(name, parameter.detach().clone()) for name, parameter in module.named_parameters()]
    module.eval()
    try:
        with torch.no_grad():
            output = module(probe_input)
        forward_error = None
    except Exception as error:
        output, forward_error = None, f"{type(error).__name__}: {str(error)[:500]}"
    return {"class": type(module).__name__, "parameters": parameters, "output": output,
            "forward_error": forward_error, "repr": repr(module)[:3000]}


def reap_strays() -> None:
    """Kill processes the student's code left behind in the worker's process group (a fork bomb, say)."""
    me, group = os.getpid(), os.getpgrp()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:  # getpgid needs no read access to /proc/<pid> (closed to the worker under Landlock)
            if os.getpgid(int(entry)) == group:
                os.kill(int(entry), 9)
        except OSError:
            continue


def drop_privileges() -> None:
    """Inside the sandbox, leave root before anything else runs, so RLIMIT_NPROC applies."""
    uid = os.environ.pop("AUTOGRADER_WORKER_UID", None)
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))


def prepare() -> None:
    """What every worker does before it can serve: leave root, ignore SIGXFSZ, import torch and what the
    replies need, one thread. A template (autograder.worker.template) does it once, before it forks."""
    import signal

    drop_privileges()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE then raises OSError (EFBIG)
    import torch

    from autograder.worker import blocks, protocol, zoo  # noqa: F401 (imported before any student code)

    torch.set_num_threads(1)  # graders run many workers side by side; one thread also keeps sums repeatable


def serve_worker(in_fd: int, out_fd: int, kinds: list[str]) -> None:
    """Install the blocks, say "ready" and answer the grader until it closes the channel."""
    from autograder.worker import protocol

    if kinds:
        from autograder.worker import blocks

        blocks.install(kinds)
    worker = Worker(in_fd, out_fd)
    protocol.send(out_fd, {"ready": True, "blocks": sorted(kinds)})
    worker.serve()


def main(argv: list[str]) -> None:
    """``IN_FD OUT_FD [BLOCKS]``: BLOCKS is a comma-separated list of autograder.worker.blocks kinds."""
    prepare()
    serve_worker(int(argv[0]), int(argv[1]), [kind for kind in (argv[2] if len(argv) > 2 else "").split(",") if kind])


if __name__ == "__main__":
    main(sys.argv[1:])
