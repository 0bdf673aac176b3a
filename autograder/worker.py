"""The worker: a separate process that runs one student's code and answers calls.

Started by ``autograder.sandbox`` as ``python -m autograder.worker IN_FD OUT_FD``.
It never imports the suites or the solutions. Student output goes to a capture
file (fds 1 and 2 point there), never into the protocol pipes. Everything it
sends back passes through ``protocol.to_wire``; the grader decodes it with
``weights_only=True`` either way, so a compromised worker can lie about its
answers but cannot run code in the grader.
"""

from __future__ import annotations

import os
import random
import re
import sys
import tempfile
import traceback

OUTPUT_CAP_BYTES = 64 * 1024
# Python-level calls worth reporting to the grader (numpy / scipy convolutions that torch dispatch cannot see).
FORBIDDEN_PYTHON_CALL = re.compile(r"(convolve|correlate)")


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
    kind = "not_implemented" if isinstance(error, NotImplementedError) else "exception"
    message = str(error)[:2000]
    return {"ok": False, "error": {"kind": kind, "type": type(error).__name__, "message": message,
                                   "traceback": student_traceback(error)[:8000], "function": name}}


class Worker:
    def __init__(self, in_fd: int, out_fd: int, warm_up=None):
        self.in_fd, self.out_fd = in_fd, out_fd
        self.warm_up = warm_up  # the thread paying torch's lazy imports; joined before the first request
        self.namespace: dict = {"__name__": "submission", "__builtins__": __builtins__}
        self.capture = OutputCapture()

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

        from autograder.protocol import to_wire

        name = request["name"]
        function = self.namespace.get(name)
        if function is None:
            return {"ok": False, "error": {"kind": "missing", "function": name}}
        if not callable(function):
            return {"ok": False, "error": {"kind": "not_callable", "function": name,
                                           "type": type(function).__name__}}
        from autograder.zoo import materialize

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
        recorder = OpRecorder() if request.get("record_ops") else None
        # Helpers answered by the grader (the course's own, computed in the grader's process): the student's
        # function is graded on its own when their version of a helper it calls is broken.
        replaced = {helper: self.namespace.get(helper) for helper in request.get("through_grader", ())}
        for helper in replaced:
            self.namespace[helper] = self._through_grader(helper, request.get("id"))
        try:
            if recorder:
                with recorder:
                    value = function(*args, **kwargs)
            else:
                value = function(*args, **kwargs)
        except BaseException as error:
            reply = error_reply(error, name)
            if recorder:  # a blocked library convolution fails the call: say what it was
                reply["ops"] = sorted(recorder.ops)
            return reply
        finally:
            for helper, original in replaced.items():
                self.namespace[helper] = original
        if request.get("module_probe") is not None and isinstance(value, torch.nn.Module):
            value = probe_module(value, request["module_probe"])
        reply = {"ok": True, "value": to_wire(value),
                 "args_after": [to_wire(arg) if isinstance(arg, torch.Tensor) else None for arg in args],
                 "models": [model.report() for model in context["models"]]}
        if recorder:
            reply["ops"] = sorted(recorder.ops)
        return reply

    def _through_grader(self, helper: str, request_id):
        """A stand-in for ``helper`` that asks the grader for the answer (a frame tagged "callback")."""
        from autograder import protocol
        from autograder.protocol import to_wire

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
        from autograder.protocol import to_wire

        if request["name"] not in self.namespace:
            return {"ok": False, "error": {"kind": "missing", "function": request["name"]}}
        return {"ok": True, "value": to_wire(self.namespace[request["name"]])}

    def serve(self) -> None:
        from autograder import protocol

        handlers = {"load": self.load, "call": self.call, "get": self.get}
        pid = os.getpid()
        while True:
            try:
                request = protocol.receive(self.in_fd)
            except EOFError:
                return
            if self.warm_up is not None:
                # Student code never runs beside the warm-up's imports: torch registers classes as its modules
                # import, and a module imported half in each thread can fail and stay broken for the whole worker.
                self.warm_up.join()
                self.warm_up = None
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
                    "kind": "unsendable", "function": request.get("name", ""),
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


# Library convolutions, blocked process-wide for the duration of a recorded call (see OpRecorder).
BLOCKED_ATEN_OPS = ("convolution", "_convolution", "convolution_overrideable", "mkldnn_convolution",
                    "_slow_conv2d_forward", "slow_conv3d_forward", "_conv_depthwise2d", "conv_tbc", "im2col",
                    "col2im", "_nnpack_spatial_convolution", "slow_conv_transpose2d", "slow_conv_dilated2d")


class OpRecorder:
    """Records the library convolutions and autograd runs of one call, at levels student code cannot switch off.

    Three layers. (1) A TorchDispatchMode sees every aten op, but it is thread-local and code can disable
    it, so it is only a first signal. (2) For the duration of the call the convolution kernels themselves are
    replaced, for every thread, through torch.library: a call records itself and fails. (3) The autograd
    engine is wrapped where torch.autograd.backward and torch.autograd.grad reach it, for every thread: a
    gradient question must be derived by hand. numpy/scipy convolve and correlate are seen by a profile
    function, in this thread and in threads started during the call.
    """

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        recorder = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                recorder.ops.add(f"aten.{func.overloadpacket.__name__}")
                return func(*args, **(kwargs or {}))

        self.ops: set[str] = set()
        self.mode = Mode()
        self.library = None
        self.engine = None

    def _profile(self, frame, event, arg):
        if event == "c_call":
            qualified = f"{getattr(arg, '__module__', None) or ''}.{getattr(arg, '__name__', '')}"
            if FORBIDDEN_PYTHON_CALL.search(qualified):
                self.ops.add(f"python.{qualified.lstrip('.')}")
        elif event == "call" and FORBIDDEN_PYTHON_CALL.search(frame.f_code.co_name):
            module = frame.f_globals.get("__name__", "")
            if module.startswith(("scipy", "numpy")):
                self.ops.add(f"python.{module}.{frame.f_code.co_name}")

    def _block_library_convolutions(self) -> None:
        import warnings

        import torch

        def blocked(name):
            def kernel(*args, **kwargs):
                self.ops.add(f"aten.{name}")
                raise RuntimeError(f"aten.{name} (a library convolution) is not allowed in this function")
            return kernel

        self.library = torch.library.Library("aten", "IMPL")
        with warnings.catch_warnings():  # "overriding a previously registered kernel": that is the point
            warnings.simplefilter("ignore")
            for name in BLOCKED_ATEN_OPS:
                for key in ("CPU", "CUDA"):
                    try:
                        self.library.impl(name, blocked(name), key)
                    except (RuntimeError, AttributeError):
                        continue  # not an operator of this torch build

    def _wrap_autograd(self) -> None:
        from torch.autograd.variable import Variable

        recorder, engine = self, Variable._execution_engine

        class RecordingEngine:
            def run_backward(self, *args, **kwargs):
                recorder.ops.add("autograd.run_backward")
                return engine.run_backward(*args, **kwargs)

            def __getattr__(self, name):
                return getattr(engine, name)

        self.engine = engine
        Variable._execution_engine = RecordingEngine()

    def __enter__(self):
        import threading

        self._block_library_convolutions()
        self._wrap_autograd()
        self.mode.__enter__()
        sys.setprofile(self._profile)
        threading.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        import threading

        from torch.autograd.variable import Variable

        sys.setprofile(None)
        threading.setprofile(None)
        Variable._execution_engine = self.engine
        self.library._destroy()
        return self.mode.__exit__(*exc)


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


def _warm_up_op_recorder() -> None:
    import torch

    with OpRecorder().mode:
        torch.zeros(1) + 1


def drop_privileges() -> None:
    """Inside the sandbox, leave root before anything else runs, so RLIMIT_NPROC applies."""
    uid = os.environ.pop("AUTOGRADER_WORKER_UID", None)
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))


def main(argv: list[str]) -> None:
    in_fd, out_fd = int(argv[0]), int(argv[1])
    import signal

    drop_privileges()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE then raises OSError (EFBIG)
    import torch

    from autograder import protocol

    torch.set_num_threads(1)  # graders run many workers side by side; one thread also keeps sums repeatable
    # The first TorchDispatchMode costs ~1 s of lazy imports (sympy and friends). Pay it in the
    # background while the worker mostly waits on the grader; the mode stack is thread-local.
    import threading
    warm_up = threading.Thread(target=_warm_up_op_recorder, daemon=True)
    warm_up.start()
    worker = Worker(in_fd, out_fd, warm_up)
    protocol.send(out_fd, {"ready": True})
    worker.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
