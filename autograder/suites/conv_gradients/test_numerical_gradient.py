"""Question: numerical_gradient(f, x, eps=1e-5) -> centred differences, without changing x."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.worker import zoo
from autograder.grading.cases import random_tensor
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import as_tensor, unchanged
from autograder.sandbox.values import describe
from solutions.conv_gradients import numerical_gradient as reference

NAME = "numerical_gradient"
GOOD, WRONG = 1e-7, 1e-4  # CS231n: relative error below 1e-7 is good, above 1e-4 is wrong


def relative_error(got, expected):
    return (got - expected).abs() / torch.clamp(torch.maximum(got.abs(), expected.abs()), min=1e-8)


def cases():
    kernel = random_tensor((2, 3), seed=300)
    yield "f(x) = sum(conv(x, K)^2), K 2x3", {"__function__": "conv_square_loss", "args": [kernel]}, \
        zoo.conv_square_loss(kernel), random_tensor((5, 6), seed=301)
    weights = random_tensor((4, 3), seed=302)
    yield "f(x) = sum(w * x^3)", {"__function__": "cubic_loss", "args": [weights]}, \
        zoo.cubic_loss(weights), random_tensor((4, 3), seed=303)


@pytest.mark.points(2)
@pytest.mark.public
def test_is_it_within_1e_7_of_autograd_in_float64(student):
    """Is the centred difference within a relative error of 1e-7 of torch.autograd, in float64, and is `eps` used?"""
    for label, recipe, f, x in cases():
        what = f"{NAME}(f, x) for {label}, x of shape {tuple(x.shape)} in float64"
        got = as_tensor(student(NAME, recipe, x.clone(), timeout=30), what=what)
        probe = x.clone().requires_grad_()
        f(probe).backward()
        expected = probe.grad
        if got.shape != expected.shape:
            raise GradingFailure(f"{what}: got shape {tuple(got.shape)}, expected {tuple(expected.shape)}.")
        got = got.detach().to(torch.float64)
        error = relative_error(got, expected)
        worst = error.max().item()
        if not worst < GOOD:
            index = tuple(int(i) for i in torch.nonzero(error == error.max())[0])
            message = (f"{what}: max relative error {worst:.2e} at index {index} (got {got[index].item():.8g}, "
                       f"expected {expected[index].item():.8g}); expected below {GOOD:g} "
                       f"(above {WRONG:g} is plainly wrong).")
            for explanation, candidate in ((mistakes.FORWARD_DIFFERENCE, lambda: mistakes.forward_difference(f, x)),
                                           (mistakes.FLOAT32_DIFFERENCE,
                                            lambda: mistakes.forward_difference(f, x.float()).double())):
                # Named only when it explains the answer far better than the right one does: within the
                # precision a difference quotient has here (1e-6), and a hundred times closer than autograd.
                distance = relative_error(got, candidate()).max().item()
                if distance < min(1e-6, worst / 100) and explanation not in message:
                    message += f"\nYour output matches a known mistake: {explanation}"
            raise GradingFailure(message)
    # eps is part of the signature: with eps=1e-3 the centred difference of a cubic differs from eps=1e-5's
    label, recipe, f, x = list(cases())[1]
    what = f"{NAME}(f, x, eps=1e-3) for {label}"
    got = as_tensor(student(NAME, recipe, x.clone(), 1e-3, timeout=30), what=what).detach().to(torch.float64)
    expected = reference(f, x, eps=1e-3)
    if got.shape != expected.shape or relative_error(got, expected).max().item() > 1e-8:
        raise GradingFailure(f"{what}: got {got.flatten()[:3].tolist()}..., expected {expected.flatten()[:3].tolist()}"
                             "... (the centred difference with that eps). Use the eps argument, not a fixed step.")


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_does_it_leave_x_unchanged(student):
    """Is x exactly the same after the call (no in-place edits left behind)?"""
    kernel = random_tensor((3, 3), seed=310)
    x = random_tensor((5, 7), seed=311)
    reply = student.call(NAME, {"__function__": "conv_square_loss", "args": [kernel]}, x.clone(), timeout=30)
    after = reply.args_after[1]
    if not unchanged(after, x):
        if not isinstance(after, torch.Tensor) or after.shape != x.shape or after.dtype != x.dtype:
            raise GradingFailure(f"{NAME} changed x: it came back as {describe(after)}, expected it as it was given.")
        changed = int((after != x).sum())
        raise GradingFailure(f"{NAME} changed x: {changed} of {x.numel()} entries differ after the call "
                             f"(largest change {(after - x).abs().max().item():.3g}). Perturb a copy of x, "
                             "or restore each entry exactly.")
