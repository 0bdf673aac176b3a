"""Question: sgd_step(param, grad, buffer, *, lr, momentum, dampening, weight_decay, nesterov) -> torch.optim.SGD."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.cases import random_tensor
from autograder.grading.checks import expect_tensor, unchanged
from autograder.sandbox.failures import GradingFailure
from autograder.suites.optimization._cases import (expect_without_torch_optim, gradients, sgd_variant,
                                                   student_trajectory, torch_trajectory, trajectory)
from solutions.optimization import sgd_step as reference

NAME = "sgd_step"
STEPS = 50


def check_run(student, seed, **options):
    """50 steps from the same start and gradients as torch.optim.SGD: the parameter after every step."""
    param0, grads = random_tensor((6,), seed), gradients(STEPS, 6, seed + 1)
    what = f"{NAME}, {STEPS} steps with " + ", ".join(f"{k}={v}" for k, v in options.items())
    got, _ = student_trajectory(student, NAME, param0, grads, what, **options)
    table = {}
    for explanation, mistake in ((mistakes.BUFFER_FROM_ZERO, "buffer_from_zero"),
                                 (mistakes.NESTEROV_AS_MOMENTUM, "nesterov_ignored"),
                                 (mistakes.WEIGHT_DECAY_AFTER_MOMENTUM, "decay_after_momentum")):
        table[explanation] = (lambda mistake=mistake: trajectory(
            lambda *a, **k: sgd_variant(*a, **k, mistake=mistake), param0, grads, **options))
    expect_tensor(got, torch_trajectory(torch.optim.SGD, param0, grads, **options),
                  what=f"{what}: the parameter after each step (row t is step t + 1)", rtol=1e-9, atol=1e-12,
                  mistakes=table)


@pytest.mark.points(2)
@pytest.mark.public
def test_do_plain_sgd_and_momentum_follow_torch_for_50_steps(student):
    """lr 0.1 without momentum, then momentum 0.9 (the first step's buffer is the gradient itself)?"""
    check_run(student, 300, lr=0.1)
    check_run(student, 310, lr=0.05, momentum=0.9)


@pytest.mark.points(1)
def test_do_dampening_nesterov_and_weight_decay_follow_torch(student):
    """Dampening 0.3 with weight decay 0.1, and Nesterov momentum 0.8 with weight decay 0.05?"""
    check_run(student, 320, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)
    check_run(student, 330, lr=0.05, momentum=0.8, weight_decay=0.05, nesterov=True)


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_is_it_written_without_torch_optim_and_are_the_inputs_left_alone(student):
    """Does a step give the same answer with torch.optim blocked, and leave param, grad and buffer unchanged?"""
    param, grad, buffer = random_tensor((6,), 340), random_tensor((6,), 341), random_tensor((6,), 342)
    options = dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    reply = student.call(NAME, param.clone(), grad.clone(), buffer.clone(), **options)
    for index, (label, original) in enumerate((("param", param), ("grad", grad), ("buffer", buffer))):
        after = reply.args_after[index]
        if not unchanged(after, original):
            raise GradingFailure(f"{NAME} changed its argument `{label}` in place: return new tensors and leave "
                                 "the inputs as they were (torch's optimizer owns its buffer; this function does "
                                 "not).")
    expected, _ = reference(param, grad, buffer, **options)
    expect_without_torch_optim(student, NAME, param, grad, buffer, expected=expected,
                               what=f"{NAME}(param, grad, buffer, lr=0.1, momentum=0.9, nesterov=True)", **options)
