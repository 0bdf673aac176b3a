"""Question: gradient_descent(loss_and_gradient, x0, lr, steps, momentum=0.0) -> (x, losses), heavy ball."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.worker import zoo
from autograder.grading.cases import random_tensor
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import as_tensor, expect_tensor, unchanged
from autograder.suites.deconvolution._cases import gaussian_kernel
from solutions.deconvolution import gradient_descent as reference

NAME = "gradient_descent"


def quadratic_case():
    """A 4-dimensional quadratic with eigenvalues 0.5 to 3, as a recipe the worker builds, and x0."""
    basis, _ = torch.linalg.qr(random_tensor((4, 4), 700))
    matrix = basis @ torch.diag(torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)) @ basis.T
    return {"__function__": "quadratic", "args": [matrix, random_tensor((4,), 701)]}, random_tensor((4,), 702)


def balanced_quadratic_case():
    """The quadratic of quadratic_case from an x0 whose first gradient sums to zero (x0 = t + A^-1 d, sum d = 0),
    though it is far from zero: a descent that stops on a tiny signed sum stops before its first step."""
    recipe, _ = quadratic_case()
    matrix, target = recipe["args"]
    direction = random_tensor((4,), 703)
    direction = direction - direction.mean()
    return recipe, target + torch.linalg.solve(matrix, direction)


def blur_case():
    """The blur distance to a random target of 30 samples, with a 7-tap Gaussian."""
    return {"__function__": "blur_objective", "args": [random_tensor((30,), 710), gaussian_kernel(7 / 6)]}, \
        torch.zeros(30, dtype=torch.float64)


def one_step_memory(objective, x0, lr, steps, momentum):
    """The mistake: momentum on the previous gradient (x <- x - lr (g + momentum g_prev)), not on the velocity."""
    x, previous, losses = x0.clone(), torch.zeros_like(x0), []
    for _ in range(steps):
        loss, gradient = objective(x)
        losses.append(float(loss))
        x, previous = x - lr * (gradient + momentum * previous), gradient
    return x, losses


def losses_after_each_step(objective, x0, lr, steps, momentum):
    return reference(objective, x0, lr, steps + 1, momentum)[1][1:]


def run(student, recipe, x0, *args):
    """(x, losses) from the student's descent, checked for structure."""
    got = student(NAME, recipe, x0.clone(), *args)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise GradingFailure(f"{NAME}: got a {type(got).__name__}, expected a tuple (x, losses).")
    x, losses = got
    x = as_tensor(x, what=f"{NAME}: the last iterate x")
    if not isinstance(losses, (list, tuple)) or not all(
            isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1) for v in losses):
        raise GradingFailure(f"{NAME}: the losses should be a list of numbers, got {type(losses).__name__}.")
    return x, [float(v) for v in losses]


def compare(student, recipe, x0, lr, steps, momentum, what):
    """Step by step: every loss, then the last iterate, against the reference run on the same objective."""
    objective = zoo.materialize(recipe, {"models": []})
    x, losses = run(student, recipe, x0, lr, steps, momentum)
    expected_x, expected_losses = reference(objective, x0, lr, steps, momentum)
    if len(losses) < steps:
        raise GradingFailure(f"{what}: got {len(losses)} losses for steps={steps}: it stopped early. Take exactly "
                             "`steps` steps, one loss each (a gradient whose entries sum to zero is not a zero "
                             "gradient).")
    if len(losses) != steps:
        raise GradingFailure(f"{what}: got {len(losses)} losses for steps={steps}, expected one per step.")
    table = {"the losses differ from the reference's because they were recorded after each step (f of the new "
             "iterate): record f of the iterate each step starts from, so the first loss is f(x0)":
             lambda: torch.tensor(losses_after_each_step(objective, x0, lr, steps, momentum))}
    if momentum:
        table[mistakes.MOMENTUM_ON_GRADIENTS] = lambda: torch.tensor(one_step_memory(objective, x0, lr, steps,
                                                                                     momentum)[1])
    expect_tensor(torch.tensor(losses, dtype=torch.float64), torch.tensor(expected_losses, dtype=torch.float64),
                  what=f"{what}: the loss at each step", rtol=1e-7, atol=1e-10, mistakes=table)
    expect_tensor(x, expected_x, what=f"{what}: the last iterate", check_dtype=False, rtol=1e-7, atol=1e-10)


@pytest.mark.points(2)
@pytest.mark.public
def test_does_plain_descent_match_the_reference_step_by_step(student):
    """On a 4-d quadratic with momentum 0, lr 0.3 and 6 steps: the same losses and the same last iterate?"""
    recipe, x0 = quadratic_case()
    compare(student, recipe, x0, 0.3, 6, 0.0, f"{NAME}(quadratic, x0, lr=0.3, steps=6, momentum=0.0)")


@pytest.mark.points(1)
def test_does_the_heavy_ball_match_the_reference_step_by_step(student):
    """On the blur distance with momentum 0.9, lr 10 and 12 steps, and on the quadratic from an x0 whose first
    gradient sums to zero with momentum 0.5: the same losses and last iterate, every step taken?"""
    recipe, x0 = blur_case()
    compare(student, recipe, x0, 10.0, 12, 0.9, f"{NAME}(blur distance, x0, lr=10, steps=12, momentum=0.9)")
    recipe, x0 = balanced_quadratic_case()
    compare(student, recipe, x0, 0.3, 6, 0.5, f"{NAME}(quadratic, x0 whose gradient sums to 0, lr=0.3, steps=6, "
            "momentum=0.5)")


@pytest.mark.points(1)
@pytest.mark.requires_values("test_does_plain_descent_match_the_reference_step_by_step")
def test_does_it_leave_x0_alone_and_default_to_no_momentum(student):
    """Is x0 unchanged after the call, and does leaving momentum out mean momentum 0?"""
    recipe, x0 = quadratic_case()
    reply = student.call(NAME, recipe, x0.clone(), 0.3, 4)
    after = reply.args_after[1]
    if not unchanged(after, x0):
        raise GradingFailure(f"{NAME} changed x0 in place: work on a copy (x = x0.clone()).")
    _, losses = run(student, recipe, x0, 0.3, 4)
    _, expected = reference(zoo.materialize(recipe, {"models": []}), x0, 0.3, 4)
    expect_tensor(torch.tensor(losses, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
                  what=f"{NAME}(quadratic, x0, lr=0.3, steps=4) with momentum left out (its default is 0.0)",
                  rtol=1e-7, atol=1e-10)
