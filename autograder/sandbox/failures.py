"""What goes wrong on the student's side of the boundary, as types: each costs the test it happens in, never
the grader's run.

``GradingFailure`` is a failed check whose message is written for the student (the suites raise it, and so does
everything here). The worker names what went wrong with a kind string on the wire
(``autograder.worker.protocol.ErrorKind``); ``failure_for`` turns it into one of these types in this one place.
``WorkerStartError`` is ours: the worker failed before any student code ran.
"""

from __future__ import annotations


class GradingFailure(AssertionError):
    """A failed check whose message is written for the student."""


class StudentFailure(GradingFailure):
    """Base class of failures caused by the student's code rather than a wrong value."""


class NotDefined(StudentFailure):
    pass


class NotImplementedYet(StudentFailure):
    pass


class StudentException(StudentFailure):
    """The student's code raised. ``types``: the exception's class and its bases, by name (its class cannot cross);
    ``errno``: an OSError's number; ``blocked``: (call, block kind) when a block stopped a call on the way."""

    def __init__(self, message: str, *, types: tuple[str, ...] = (), errno: int | None = None,
                 blocked: tuple[str, str] | None = None):
        super().__init__(message)
        self.types, self.errno, self.blocked = types, errno, blocked

    def raised(self, type_name: str) -> bool:
        """Whether the student's exception is a ``type_name`` (or a subclass of one)."""
        return type_name in self.types


class StudentTimeout(StudentFailure):
    pass


class WorkerCrashed(StudentFailure):
    pass


class Unsendable(StudentFailure):
    pass


class WorkerStartError(RuntimeError):
    """The sandboxed worker failed before running any student code: an internal grading error."""


class MalformedReply(StudentFailure):
    """The worker sent something that is not an answer of the protocol: the student's code wrote to or rewrote
    the channel. It costs the test, never the grader."""
