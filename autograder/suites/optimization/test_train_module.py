"""Question: train_module(model, x, y, *, n_epochs, learning_rate) -> per-epoch losses: Adam and ReduceLROnPlateau.

The student's loop and the reference run from the same weights on the lecture's curve (labels that flip at
x = 0.5), long enough for the plateau schedule to drop the rate, so stepping the scheduler before the optimizer
shows in the losses that follow the drop.
"""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.checks import as_numbers, expect_tensor
from autograder.grading.harness import run_locally
from autograder.sandbox.failures import GradingFailure
from autograder.suites.optimization._cases import mlp_arguments, train_module_variant
from solutions.optimization import train_module as reference

NAME = "train_module"
OPTIONS = {"n_epochs": 150, "learning_rate": 0.05}
VARIANTS = ((mistakes.SCHEDULER_BEFORE_OPTIMIZER, "scheduler_first"), (mistakes.MISSING_ZERO_GRAD, "never_zeroed"))


def variants(arguments, pick):
    return {explanation: (lambda mistake=mistake: pick(run_locally(
        lambda *a, **k: train_module_variant(*a, **k, mistake=mistake), *arguments, **OPTIONS)))
        for explanation, mistake in VARIANTS}


def losses_of(value, what):
    if not isinstance(value, (list, tuple)) or len(value) != OPTIONS["n_epochs"]:
        raise GradingFailure(f"{what}: expected a list of {OPTIONS['n_epochs']} losses, one per epoch, got "
                             f"{type(value).__name__}.")
    return as_numbers(value, what=f"{what}: the losses")


@pytest.mark.points(2)
@pytest.mark.public
def test_do_the_losses_match_the_lectures_loop(student):
    """150 epochs at learning rate 0.05 on 32 points: the loss of each epoch, the schedule's drops included?"""
    arguments = mlp_arguments(700)
    what = f"{NAME}(mlp, x, y, n_epochs=150, learning_rate=0.05)"
    got = losses_of(student(NAME, *arguments, **OPTIONS), what)
    expected, _ = run_locally(reference, *arguments, **OPTIONS)
    expect_tensor(got, torch.tensor(expected, dtype=torch.float64), what=f"{what}: the loss of each epoch",
                  rtol=1e-4, atol=1e-6, mistakes=variants(arguments, lambda result: torch.tensor(result[0])))


@pytest.mark.points(1)
def test_are_the_trained_weights_the_reference_loops(student):
    """From other weights and points: are the model's weights after training those of the reference loop?"""
    arguments = mlp_arguments(711)
    reply = student.call(NAME, *arguments, **OPTIONS)
    _, models = run_locally(reference, *arguments, **OPTIONS)
    got, expected = reply.models[0]["state_dict"], models[0]["state_dict"]
    for key, value in expected.items():
        if key not in got:
            raise GradingFailure(f"{NAME}: the model lost its parameter {key}: train the model you are given.")
        expect_tensor(got[key], value, what=f"{NAME}: parameter {key} after training", rtol=1e-4, atol=1e-5,
                      mistakes=variants(arguments, lambda result, key=key: result[1][0]["state_dict"][key]))
