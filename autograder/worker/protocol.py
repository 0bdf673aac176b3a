"""Messages between the grader and the worker that runs student code.

A frame is an 8-byte big-endian length followed by a ``torch.save`` payload.
Frames are always decoded with ``torch.load(weights_only=True)``: it rebuilds
tensors, numbers, strings and plain containers, and refuses any other class, so
bytes from the (untrusted) worker can never run code in the grader. Raw pickle
would run whatever ``__reduce__`` the student wrote.
"""

from __future__ import annotations

import io
import os
import select
import struct
import time
from typing import Any

import torch

HEADER = struct.Struct(">Q")
# The largest frame either side accepts. The suites' answers are small (a few images, a small model's weights);
# a bigger frame is refused before its payload is read, so a worker cannot make the grader hold much memory.
MAX_FRAME_BYTES = 64 * 2**20
UNSUPPORTED_KEY = "__unsupported__"
NUMPY_KEY = "__numpy_array__"  # a numpy array crosses as a tensor, marked so the student is told what they returned


class ErrorKind:
    """What an error reply says went wrong (its ``kind``). Plain strings on the wire, since frames carry only plain
    values; the grader turns each into a failure type in one place (sandbox.failures.failure_for)."""

    MISSING = "missing"                  # no such name in the student's code
    NOT_CALLABLE = "not_callable"        # the name is not a function
    NOT_IMPLEMENTED = "not_implemented"  # the function's own stub raised NotImplementedError
    UNSENDABLE = "unsendable"            # the answer cannot be encoded
    EXCEPTION = "exception"              # the student's code raised


class ProtocolError(RuntimeError):
    """The other side sent something that is not a valid frame."""


class ReceiveTimeout(TimeoutError):
    """No complete message arrived before the deadline."""


class SendTimeout(TimeoutError):
    """The other side did not take a whole message before the deadline (it stopped reading)."""


def _write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    """Write every byte. With a deadline the fd must be non-blocking: a pipe whose reader stopped reading
    then raises SendTimeout instead of blocking this process forever."""
    view = memoryview(data)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise SendTimeout()
        try:
            written = os.write(fd, view)
        except BlockingIOError:  # select said writable, but less room than asked for: wait again
            continue
        view = view[written:]


def _read_exact(fd: int, size: int, deadline: float | None = None) -> bytes:
    chunks, remaining = [], size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ReceiveTimeout()
        try:
            chunk = os.read(fd, min(remaining, 1 << 20))
        except BlockingIOError:  # a non-blocking fd read without a deadline: wait for data
            select.select([fd], [], [])
            continue
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def encode(message: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(message, buffer)
    payload = buffer.getvalue()
    return HEADER.pack(len(payload)) + payload


def send(fd: int, message: Any, timeout: float | None = None) -> None:
    """Write one frame; with ``timeout`` (non-blocking fd), raise SendTimeout when it cannot all be written."""
    _write_all(fd, encode(message), None if timeout is None else time.monotonic() + timeout)


def receive(fd: int, max_bytes: int = MAX_FRAME_BYTES, timeout: float | None = None) -> Any:
    """Read one frame; raise ReceiveTimeout after ``timeout`` seconds, EOFError if the pipe closed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    (size,) = HEADER.unpack(_read_exact(fd, HEADER.size, deadline))
    if size > max_bytes:
        raise ProtocolError(f"a message of {size} bytes exceeds the limit of {max_bytes} bytes")
    payload = _read_exact(fd, size, deadline)
    try:
        return torch.load(io.BytesIO(payload), weights_only=True, map_location=None)
    except EOFError:
        raise
    except Exception as error:  # weights_only refuses unknown classes with UnpicklingError and others
        raise ProtocolError(f"could not decode a message safely: {type(error).__name__}: {error}") from None


def to_wire(value: Any, depth: int = 0) -> Any:
    """Turn a student's return value into something ``weights_only`` can decode.

    Exact tensors, numbers, strings, None and containers of them pass (numpy
    arrays become tensors). Anything else, tensor subclasses included, is
    replaced by a marker naming its type, so the grader can say "got X".
    """
    if depth > 20:
        return {UNSUPPORTED_KEY: "deeply nested container"}
    if type(value) in (torch.Tensor, torch.nn.Parameter):
        return value.detach()
    if isinstance(value, torch.Tensor) and any(kind.__name__ == "NotYetMoved" and kind.__module__ == "autograder.worker.zoo"
                                               for kind in type(value).__mro__):  # the grader's own batches
        return value.as_subclass(torch.Tensor).detach()
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) in (list, tuple):
        return type(value)(to_wire(item, depth + 1) for item in value)
    if type(value) is dict:
        return {key if type(key) in (str, int, float, bool, tuple) else repr(key): to_wire(item, depth + 1)
                for key, item in value.items()}
    numpy = _numpy()
    if numpy is not None and type(value) is numpy.ndarray and value.dtype != object:
        return {NUMPY_KEY: torch.from_numpy(value.copy())}
    if numpy is not None and isinstance(value, numpy.generic) and type(value).__module__ == "numpy":
        return value.item()
    kind = type(value)
    return {UNSUPPORTED_KEY: f"{kind.__module__}.{kind.__qualname__}"}


def _numpy():
    try:
        import numpy
        return numpy
    except ImportError:  # pragma: no cover - numpy ships with torch's usual installs
        return None
