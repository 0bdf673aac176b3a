"""Student-facing comparisons, in the order the feedback should come:
exists -> type -> shape -> dtype -> device -> values.

Every failure raises ``GradingFailure`` whose message reads "got X, expected Y"
and, when the answer matches a known mistake, names it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from autograder.sandbox.failures import GradingFailure
from autograder.sandbox.values import NumpyArray, Unsupported, UnusableTensor, describe


# Every diagnosis starts with this phrase; the class report counts the mistakes after it.
KNOWN_MISTAKE = "Your output matches a known mistake: "


# Tolerances depend on dtype: a loop and F.conv2d sum in different orders.
TOLERANCES = {
    torch.float64: dict(rtol=1e-7, atol=1e-9),
    torch.float32: dict(rtol=1e-4, atol=1e-5),
    torch.float16: dict(rtol=1e-2, atol=1e-3),
    torch.bfloat16: dict(rtol=2e-2, atol=1e-2),
}


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    return TOLERANCES.get(dtype, dict(rtol=0.0, atol=0.0))


def as_tensor(got: Any, *, what: str) -> Tensor:
    """Return ``got`` as a tensor, or fail: a tensor, or a value ``torch.as_tensor`` accepts."""
    if got is None:
        raise GradingFailure(f"{what}: got None, expected a tensor. Did the function forget to `return`?")
    if isinstance(got, Tensor):
        return got
    if isinstance(got, NumpyArray):
        return got.tensor
    if isinstance(got, float):  # a Python float is a double: compare it as one
        return torch.tensor(got, dtype=torch.float64)
    if isinstance(got, UnusableTensor):
        raise GradingFailure(f"{what}: got {describe(got)}, expected a dense real torch.Tensor. {got.hint}")
    if isinstance(got, Unsupported):
        raise GradingFailure(f"{what}: got {describe(got)}, expected a torch.Tensor "
                             "(or numbers that torch.as_tensor accepts).")
    try:  # numbers that torch accepts; anything else it refuses, in whatever way, is the student's answer
        tensor = torch.as_tensor(got)
    except Exception:
        raise GradingFailure(f"{what}: got {describe(got)}, expected a torch.Tensor.") from None
    if tensor.is_complex():
        raise GradingFailure(f"{what}: got {describe(got)} (complex numbers), expected a real torch.Tensor.")
    return tensor


def as_numbers(got: Any, *, what: str) -> Tensor:
    """A list of the student's numbers (losses, learning rates) as a float64 tensor, or fail: each must be a real
    number, or a tensor of one (an integer too large for a float, a string or a complex number is refused)."""
    if not isinstance(got, (list, tuple)):
        raise GradingFailure(f"{what}: got {describe(got)}, expected a list of numbers.")
    numbers = []
    for index, item in enumerate(got):
        if isinstance(item, Tensor) and item.numel() == 1 and not item.is_complex() and item.layout == torch.strided:
            item = item.item()
        number = _as_float(item)
        if number is None:
            raise GradingFailure(f"{what}: item {index} is {describe(item)}, expected a real number.")
        numbers.append(number)
    return torch.tensor(numbers, dtype=torch.float64)


MistakeTable = Mapping[str, Tensor | Callable[[], Tensor]]


def matching_mistakes(got: Tensor, mistakes: MistakeTable) -> list[str]:
    """Names of the known mistakes whose output equals ``got`` (same shape, values close)."""
    found = []
    for explanation, produce in mistakes.items():
        try:
            candidate = produce() if callable(produce) else produce
            candidate = torch.as_tensor(candidate)
            if candidate.shape == got.shape and torch.allclose(
                    got.detach().cpu().to(torch.float64), candidate.detach().cpu().to(torch.float64),
                    **tolerance(torch.float32)):
                found.append(explanation)
        except Exception:  # a mistake that cannot be reproduced for this input simply does not match
            continue
    return found


def _with_diagnosis(message: str, got: Tensor, mistakes: MistakeTable) -> str:
    names = matching_mistakes(got, mistakes) if mistakes else []
    if names:
        message += "\n" + KNOWN_MISTAKE + "; ".join(names)
    return message


def expect_tensor(got: Any, expected: Tensor, *, what: str, check_dtype: bool = True,
                  check_device: bool = True, rtol: float | None = None, atol: float | None = None,
                  mistakes: MistakeTable | None = None) -> Tensor:
    """Check ``got`` against ``expected`` structure-first; return it as a tensor when it passes."""
    mistakes = mistakes or {}
    if not isinstance(expected, Tensor):  # the student's own answer, to compare another with (charged_elsewhere)
        expected = as_tensor(expected, what=f"{what} (your answer to compare with)")
    original = got
    got = as_tensor(got, what=what)
    if check_dtype and not isinstance(original, Tensor):
        raise GradingFailure(f"{what}: got {describe(original)}, expected a {expected.dtype} tensor of shape "
                             f"{tuple(expected.shape)}. Return a torch tensor made with the input's dtype.")
    if got.shape != expected.shape:
        raise GradingFailure(_with_diagnosis(
            f"{what}: got shape {tuple(got.shape)}, expected {tuple(expected.shape)}.", got, mistakes))
    if check_dtype and got.dtype != expected.dtype:
        raise GradingFailure(f"{what}: got dtype {got.dtype}, expected {expected.dtype}. "
                             "Create new tensors with the input's dtype (e.g. dtype=img.dtype).")
    if check_device and got.device != expected.device:
        raise GradingFailure(f"{what}: got a tensor on {got.device}, expected {expected.device}. "
                             "Create new tensors on the input's device (e.g. device=img.device).")
    if not got.dtype.is_floating_point and expected.dtype.is_floating_point:
        got = got.to(expected.dtype)
    if rtol is None or atol is None:
        default = tolerance(expected.dtype)
        rtol, atol = default["rtol"], default["atol"]
    compared = got.detach().to(expected.device, expected.dtype)
    try:
        torch.testing.assert_close(compared, expected, rtol=rtol, atol=atol, check_dtype=False, equal_nan=False)
    except AssertionError:
        raise GradingFailure(_with_diagnosis(f"{what}: {value_mismatch(compared, expected, rtol, atol)}",
                                             got, mistakes)) from None
    return got


def value_mismatch(got: Tensor, expected: Tensor, rtol: float, atol: float) -> str:
    """The course's words for torch.testing's verdict: how many entries differ, and the worst one, as
    "got X, expected Y" with how far apart they are and how far they may be."""
    got64, expected64 = got.detach().cpu().double(), expected.detach().cpu().double()
    allowed = torch.nan_to_num(atol + rtol * expected64.abs(), nan=atol)
    distance = (got64 - expected64).abs()
    distance = torch.where(torch.isnan(got64) != torch.isnan(expected64), torch.full_like(distance, float("inf")),
                           torch.nan_to_num(distance, nan=0.0))
    wrong = distance > allowed
    flat = int(torch.argmax(torch.where(wrong, distance, torch.full_like(distance, -1.0))).item()) if wrong.any() else 0
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), expected.shape)) if expected.dim() else ()
    where = f"is at index {list(index)}" if index else "is the single value"
    worst_got, worst_expected = got64.reshape(-1)[flat].item(), expected64.reshape(-1)[flat].item()
    return (f"{int(wrong.sum())} of {expected.numel()} values differ. The worst {where}: got {worst_got:.8g}, "
            f"expected {worst_expected:.8g}, {distance.reshape(-1)[flat].item():.3g} apart (allowed: "
            f"{allowed.reshape(-1)[flat].item():.3g}).")


def expect_close(got: Any, expected: float, *, what: str, rtol: float = 1e-6, atol: float = 1e-9,
                 mistakes: Mapping[str, float] | None = None) -> float:
    """Check a Python number (or a 0-d tensor) against ``expected``."""
    if isinstance(got, Tensor) and got.numel() == 1:
        got = got.item()
    number, expected_number = _as_float(got), _as_float(expected)
    if expected_number is None:  # ``expected`` is a student's own answer here (harness.charged_elsewhere)
        raise GradingFailure(f"{what}: got {describe(got)}, expected {describe(expected)}.")
    expected = expected_number
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise GradingFailure(f"{what}: got {describe(got)}, expected a number like {expected:.6g}.")
    if number is None:  # an int beyond any float (10**400): a number, but not this one
        raise GradingFailure(f"{what}: got {describe(got)}, expected {expected:.6g}.")
    if math.isnan(number) or abs(number - expected) > atol + rtol * abs(expected):
        message = f"{what}: got {number:.6g}, expected {expected:.6g}."
        names = [name for name, value in (mistakes or {}).items()
                 if isinstance(value, (int, float)) and abs(number - value) <= atol + 1e-6 * abs(value)]
        if names:
            message += "\n" + KNOWN_MISTAKE + "; ".join(names)
        raise GradingFailure(message)
    return number


def unchanged(after: Any, before: Tensor) -> bool:
    """Whether a tensor the student was handed came back as it was given (``Reply.args_after``): anything else
    that came back in its place (None, another shape or dtype, a sparse tensor) is a change."""
    return (isinstance(after, Tensor) and after.shape == before.shape and after.dtype == before.dtype
            and after.device == before.device and torch.equal(after, before))


def _as_float(value: Any) -> float | None:
    """A Python number as a float, or None for anything else (a bool, a str, an int beyond any float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def expect_dtype_kept(student, name: str, arguments_for) -> None:
    """Call ``name(*arguments_for(dtype))`` for float32 and float64: the result must keep that dtype."""
    import torch as _torch

    for dtype in (_torch.float32, _torch.float64):
        original = student(name, *arguments_for(dtype))
        got = as_tensor(original, what=f"{name} on {dtype} inputs")
        if not isinstance(original, Tensor):
            raise GradingFailure(f"{name} on {dtype} inputs: got {describe(original)}, expected a {dtype} tensor. "
                                 "Return a torch tensor made with the input's dtype (e.g. dtype=img.dtype).")
        if got.dtype != dtype:
            raise GradingFailure(f"{name} on {dtype} inputs: got dtype {got.dtype}, expected {dtype}. "
                                 "Create new tensors with the input's dtype (e.g. dtype=img.dtype).")


def expect_value_error(student, name: str, *args, what: str, why: str) -> None:
    """``name(*args)`` must raise ValueError (the notebook asks for one); ``why`` says what makes the input invalid."""
    from autograder.sandbox.failures import StudentException

    try:
        got = student(name, *args)
    except StudentException as error:
        if error.raised("ValueError"):
            return
        raise GradingFailure(f"{what}: expected a ValueError ({why}), got another error:\n{error}") from None
    raise GradingFailure(f"{what}: got {describe(got)}, expected a ValueError ({why}).")


# What an implement-it-yourself check runs under (autograder.worker.blocks): no library convolution, no autograd.
CHECK_BLOCKS = ("convolution", "autograd")
# How the feedback names what each block stops (autograder.worker.blocks.KINDS).
BLOCKED_WHAT = {"convolution": "a library convolution", "autograd": "torch.autograd", "pooling": "a library pooling",
                "optim": "torch.optim"}


def expect_no_library_convolution(student, name: str, *args, expected: Tensor, advice: str,
                                  through_grader: dict | None = None, mistakes: MistakeTable | None = None,
                                  blocks: tuple[str, ...] = CHECK_BLOCKS) -> None:
    """Run ``name(*args)`` in a worker started with library convolutions and autograd blocked (CHECK_BLOCKS), and
    compare the answer with ``expected``: the check is decided by the values that come back, never by what the
    worker says it ran. A blocked call raises in the student's code, and the feedback names what it was; code that
    hides the failure (another thread, a try/except) answers differently than it does unblocked. ``mistakes`` are
    the known wrong answers the values tests charge: an answer that is one of them, the same blocked and unblocked,
    is not charged again here. ``through_grader`` answers the student's calls to those helpers with the course's
    (see StudentCode.call)."""
    from autograder.grading.harness import charged_elsewhere
    from autograder.sandbox.failures import StudentException, StudentFailure

    forbidden = " or ".join(BLOCKED_WHAT[kind] for kind in blocks)
    what = f"{name} while {forbidden} is blocked"
    unblocked = lambda: student.call(name, *args, through_grader=through_grader).value  # noqa: E731
    try:
        got = student.call(name, *args, blocks=blocks, through_grader=through_grader).value
    except StudentException as failure:
        if failure.blocked is not None:
            call, kind = failure.blocked
            what_kind = BLOCKED_WHAT.get(kind, kind)
            raise GradingFailure(f"{name} called {what_kind} ({call}), which this check blocks. {advice}") from None
        try:
            unblocked()
        except StudentFailure:
            raise failure from None  # it fails without the block too: its own error
        raise GradingFailure(f"{name} called {forbidden}: it fails only while that is "
                             f"blocked, with {str(failure).splitlines()[0]} {advice}") from None
    try:
        expect_tensor(got, expected, what=what, check_dtype=False)
    except GradingFailure:
        if not charged_elsewhere(got, unblocked,
                                 same=lambda mine, theirs: expect_tensor(mine, as_tensor(theirs, what=name), what=what,
                                                                         check_dtype=False),
                                 values_check=lambda theirs: expect_tensor(theirs, expected, what=name,
                                                                           check_dtype=False, mistakes=mistakes)):
            raise
