"""Question: adam_step(param, grad, state, *, lr, betas, eps, weight_decay) -> torch.optim.Adam's step."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.cases import random_tensor
from autograder.grading.checks import KNOWN_MISTAKE, expect_tensor
from autograder.sandbox.failures import GradingFailure, StudentException
from autograder.suites.optimization._cases import (adam_variant, expect_without_torch_optim, gradients,
                                                   student_trajectory, torch_trajectory, trajectory)
from solutions.optimization import adam_step as reference

NAME = "adam_step"
STEPS = 200


def check_run(student, seed, scale=1.0, **options):
    """200 steps from the same start and gradients as torch.optim.Adam: the parameter after every step.

    torch's order of operations (lerp, addcmul, sqrt(v) / sqrt(1 - beta2^t) + eps) and the textbook formula differ
    by a few units in the last place; the tolerance allows that, and eps inside the square root at gradients of
    size 1 (it shows at small gradients)."""
    param0, grads = random_tensor((6,), seed), gradients(STEPS, 6, seed + 1, scale)
    what = f"{NAME}, {STEPS} steps of gradients of size ~{scale:g} with " + ", ".join(
        f"{k}={v}" for k, v in options.items())
    try:
        got, states = student_trajectory(student, NAME, param0, grads, what, **options)
    except StudentException as error:
        if not error.raised("ZeroDivisionError"):
            raise
        raise GradingFailure(f"{error}\n{KNOWN_MISTAKE}{mistakes.STEP_FROM_ZERO}") from None
    first_step = states[0].get("step") if isinstance(states[0], dict) else None
    if not torch.isfinite(got[0]).all() or first_step == 0:
        raise GradingFailure(f"{what}: after the first step got parameter {got[0].tolist()} and state step "
                             f"{first_step!r}, expected finite values and step 1.\n{KNOWN_MISTAKE}"
                             f"{mistakes.STEP_FROM_ZERO}")
    table = {explanation: (lambda mistake=mistake: trajectory(
        lambda *a, **k: adam_variant(*a, **k, mistake=mistake), param0, grads, **options))
        for explanation, mistake in ((mistakes.NO_BIAS_CORRECTION, "no_bias_correction"),
                                     (mistakes.EPS_INSIDE_SQRT, "eps_inside_sqrt"))}
    expect_tensor(got, torch_trajectory(torch.optim.Adam, param0, grads, **options),
                  what=f"{what}: the parameter after each step (row t is step t + 1)", rtol=1e-6, atol=1e-9,
                  mistakes=table)
    return states


@pytest.mark.points(2)
@pytest.mark.public
def test_does_adam_follow_torch_for_200_steps(student):
    """lr 0.01 with the default betas and eps: 200 steps, bias correction included?"""
    check_run(student, 400, lr=0.01)


@pytest.mark.points(1)
def test_does_it_follow_torch_for_small_gradients_and_weight_decay(student):
    """Gradients of size 1e-7, where eps matters, and weight decay 0.1 with betas (0.8, 0.99)?"""
    check_run(student, 410, scale=1e-7, lr=0.01)
    check_run(student, 420, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_is_it_written_without_torch_optim_with_the_step_counted_in_the_state(student):
    """Is state["step"] the number of steps taken, and does a step give the same answer with torch.optim blocked?"""
    param0, grads = random_tensor((6,), 430), gradients(3, 6, 431)
    _, states = student_trajectory(student, NAME, param0, grads, f"{NAME}, 3 steps", lr=0.01)
    steps = [state.get("step") if isinstance(state, dict) else state for state in states]
    if steps != [1, 2, 3]:
        raise GradingFailure(f"{NAME}: after 1, 2 and 3 steps state['step'] was {steps}, expected [1, 2, 3].")
    state = {"step": 4, "exp_avg": random_tensor((6,), 432) * 0.1, "exp_avg_sq": random_tensor((6,), 433) ** 2}
    grad = random_tensor((6,), 434)
    expected, _ = reference(param0, grad, state, lr=0.01)
    expect_without_torch_optim(student, NAME, param0, grad, state, expected=expected,
                               what=f"{NAME}(param, grad, state at step 4, lr=0.01)", lr=0.01)
