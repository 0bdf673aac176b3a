"""Question: fit_line(x, y, params, learning_rate, n_epochs) -> (params, losses), the lecture's loop by hand."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.checks import as_numbers, as_tensor, expect_tensor, unchanged
from autograder.grading.harness import run_locally
from autograder.sandbox.failures import GradingFailure
from autograder.suites.optimization._cases import fit_line_variant, line_data
from solutions.optimization import fit_line as reference

NAME = "fit_line"
EPOCHS, LEARNING_RATE = 120, 0.05


def arguments(seed):
    x, y = line_data(seed)
    return [x, y, torch.tensor([1.0, 0.0], requires_grad=True), LEARNING_RATE, EPOCHS]


def run(student, seed):
    """The student's reply, their returned (params, losses), and the reference's, from the same arguments."""
    args = arguments(seed)
    reply = student.call(NAME, *args)
    if not isinstance(reply.value, (tuple, list)) or len(reply.value) != 2:
        raise GradingFailure(f"{NAME}: got a {type(reply.value).__name__}, expected a tuple (params, losses).")
    params, losses = reply.value
    if not isinstance(losses, (list, tuple)) or len(losses) != EPOCHS:
        raise GradingFailure(f"{NAME}: the losses should be a list of {EPOCHS} numbers, one per epoch, got "
                             f"{type(losses).__name__} of length {len(losses) if hasattr(losses, '__len__') else '?'}.")
    expected, _ = run_locally(reference, *arguments(seed))
    return reply, as_tensor(params, what=f"{NAME}: the returned params"), losses, expected


@pytest.mark.points(2)
@pytest.mark.public
def test_do_the_losses_and_the_parameters_match_the_lectures_loop(student):
    """120 epochs at learning rate 0.05 from params [1, 0]: the loss of each epoch and the final [w, b]?"""
    seed = 600
    _, params, losses, (expected_params, expected_losses) = run(student, seed)
    never_zeroed = lambda: torch.tensor(fit_line_variant(*arguments(seed), mistake="never_zeroed")[1])  # noqa: E731
    expect_tensor(as_numbers(losses, what=f"{NAME}: the losses").float(), torch.tensor(expected_losses),
                  what=f"{NAME}(x, y, params, {LEARNING_RATE}, {EPOCHS}): the loss of each epoch", rtol=1e-5,
                  atol=1e-7, mistakes={mistakes.GRADIENT_NOT_ZEROED: never_zeroed})
    expect_tensor(params.detach(), expected_params.detach(), what=f"{NAME}: the returned [w, b]", rtol=1e-5,
                  atol=1e-7, check_dtype=False)


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_is_the_callers_own_tensor_updated_in_place(student):
    """After the call, does the tensor the caller passed hold the fitted [w, b] (not only the one returned)?"""
    reply, _, _, (expected_params, _) = run(student, 610)
    after = reply.args_after[2]
    start = torch.tensor([1.0, 0.0])
    what = f"{NAME}: the caller's params tensor after the call"
    if unchanged(after, start):  # still the starting values, as given
        raise GradingFailure(f"{what}: got {after.tolist()}, still the starting [1, 0], expected "
                             f"{expected_params.detach().tolist()}.\n"
                             f"Your output matches a known mistake: {mistakes.PARAMS_REBOUND}")
    expect_tensor(after, expected_params.detach(), what=what, rtol=1e-5, atol=1e-7, check_dtype=False)
