"""Error carried forward: a question that calls another graded function is graded on its own.

A mistake costs points once, on its own question. When the student's ``sobel_magnitude``
calls their ``apply_convolution``, the expected answer is the *reference* ``sobel_magnitude``
run with the student's ``apply_convolution`` (called through the sandbox, never in this
process) and the student's constants in place of the reference ones. The reference code
stays in the grader's process and student code never sees it; only the helper's answers
cross back, as any answer does.
"""

from __future__ import annotations

import contextlib
import math
from types import ModuleType

import torch

from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import as_tensor, matching_mistakes


@contextlib.contextmanager
def _replaced(module: ModuleType, replacements: dict):
    saved = {name: getattr(module, name) for name in replacements}
    for name, value in replacements.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def _agree(a, b) -> bool:
    """Whether two reference answers (tensors, numbers, or tuples and lists of them) are the same."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(matching_mistakes(a, {"same": b}))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_agree(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return False


def _degenerate(value) -> bool:
    """A tensor with one value throughout (zeros, say), or a container of only such tensors: nothing to grade on."""
    if isinstance(value, torch.Tensor):
        return value.numel() > 0 and bool((value == value.reshape(-1)[0]).all())
    if isinstance(value, (tuple, list)):
        tensors = [item for item in value if isinstance(item, torch.Tensor)]
        return bool(tensors) and all(_degenerate(item) for item in tensors)
    return False


def _bounded(value, name: str) -> torch.Tensor:
    """A helper's answer the reference may compute on: a tensor of at most CALLBACK_MAX_ELEMENTS numbers, so a
    helper cannot make the grader's own computation large (the cap the channel puts on the grader's answers)."""
    from autograder.sandbox.limits import CALLBACK_MAX_ELEMENTS
    from autograder.sandbox.values import _extent

    tensor = as_tensor(value, what=name)
    if _extent(tensor) > CALLBACK_MAX_ELEMENTS:
        raise GradingFailure(f"{name} returned {tuple(tensor.shape)}: more than the {CALLBACK_MAX_ELEMENTS} numbers "
                             "the grader computes with")
    return tensor


def _run(reference, args, seed: int | None):
    """The reference, from the same random state the worker gives the student's call (``seed``)."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return reference(*args)


def carried_forward(student, module: ModuleType, function: str, *args, helpers: tuple[str, ...] = (),
                    constants: tuple[str, ...] = (), seed: int | None = None):
    """(expected, note): the reference ``module.function(*args)`` fed with the student's ``helpers`` and
    ``constants``; the note tells the student so when that differs from the plain reference.

    When a helper or constant of the student's cannot be used (it raises, is missing, returns no tensor), the
    plain reference is expected and the note names the helper, so a failing test says where to look first.
    """
    reference = getattr(module, function)
    plain = _run(reference, args, seed)
    names = ", ".join(f"`{name}`" for name in (*helpers, *constants))
    try:
        replacements = {name: as_tensor(student.get(name), what=name) for name in constants}
        for name in helpers:
            replacements[name] = (lambda helper: lambda *a, **k: _bounded(student(helper, *a, **k), helper))(name)
        with _replaced(module, replacements):
            own = _run(reference, args, seed)
    except GradingFailure as failure:
        return plain, (f"Your {names} could not be used to grade this question ({str(failure).splitlines()[0]}), "
                       "so it was graded against the course's own: fix that first.")
    except Exception:  # the reference cannot run on what the student's helper returned (wrong shape, say)
        return plain, (f"Your {names} returned something the formula cannot use here, so this question was "
                       "graded against the course's own: fix that first.")
    if _agree(own, plain):
        return plain, ""  # the student's helpers agree with the course's: nothing to say
    if _degenerate(own) and not _degenerate(plain):  # e.g. a helper that returns zeros: it would excuse anything
        return plain, (f"Your {names} give a constant answer here, so this question was graded against the "
                       "course's own: fix that first.")
    return own, (f"Graded with your own {names} (error carried forward): the expected answer is the course's "
                 f"formula applied to what your {names} return, so a mistake there is not charged twice.")
