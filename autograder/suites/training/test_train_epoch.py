"""Question: train_epoch(model, loader, optimizer, loss_fn, device) -> mean loss per sample.

The student's loop and the reference run side by side from the same seed, on a
small CNN with dropout, 10 samples in batches of 4 (the last batch has 2).
The model arrives in eval mode, so a loop that forgets model.train() differs. Every
check is decided by the values that come back (the weights after each epoch, the
loss), never by what the worker reports about the loop.
"""

import pytest
import torch

from autograder.grading import mistakes
from autograder.worker import zoo
from autograder.grading.cases import digit_batch
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import expect_close, expect_tensor
from autograder.grading.harness import (charged_elsewhere, loader_recipe, model_recipe, never_moved, run_locally,
                                train_epoch_variant)
from solutions.training import train_epoch as reference

NAME = "train_epoch"
ARCHITECTURE = "tiny_cnn"
OPTIMIZER = {"__optimizer__": {"name": "sgd", "lr": 0.5}}  # plain SGD: stateless, so epochs can be split
LOSS = {"__loss__": "cross_entropy"}


def epoch_arguments(state_dict, epoch: int, device: str = "cpu", must_move: bool = False):
    images, labels = digit_batch(10, seed=500, size=zoo.IMAGE_SIZE)
    return [model_recipe(ARCHITECTURE, state_dict, train=False, device=device),
            loader_recipe(images, labels, batch_size=4, shuffle=True, seed=510 + epoch, must_move=must_move),
            OPTIMIZER, LOSS, {"__device__": device}]


def compare_parameters(got: dict, expected: dict, epoch: int, variants: dict):
    for key, value in expected.items():
        what = f"{NAME}: parameter {key} after epoch {epoch + 1}"
        if key not in got:
            raise GradingFailure(f"{what}: the model no longer has it (its parameters are {sorted(got)}). Train the "
                                 "model you are given; do not replace its layers.")
        expect_tensor(got[key], value, what=what, rtol=1e-4, atol=1e-5,
                      mistakes={name: (lambda name=name: variants[name][key]) for name in variants})


def run_epochs(student, epochs: int = 2):
    """Yield (epoch, student reply, reference value, reference model report, arguments) per epoch."""
    state = zoo.build(ARCHITECTURE, seed=0).state_dict()
    for epoch in range(epochs):
        arguments = epoch_arguments(state, epoch)
        reply = student.call(NAME, *arguments, seed=520 + epoch)
        value, models = run_locally(reference, *arguments, seed=520 + epoch)
        yield epoch, reply, value, models[0], arguments
        state = models[0]["state_dict"]  # both continue from the reference, so one slip is not compounded


def check_parameters(got: dict, expected: dict, arguments: list, epoch: int) -> None:
    """The parameters after one epoch against the reference's, a known mistake named."""
    variants = {}
    for explanation, options in ((mistakes.MISSING_ZERO_GRAD, {"zero_grad": False}),
                                 (mistakes.MISSING_TRAIN, {"set_train": False})):
        _, models = run_locally(lambda *a: train_epoch_variant(*a, **options), *arguments, seed=520 + epoch)
        variants[explanation] = models[0]["state_dict"]
    compare_parameters(got, expected, epoch, variants)


@pytest.mark.points(2)
@pytest.mark.public
def test_do_the_parameters_match_the_reference_after_each_epoch(student):
    """After each of two epochs, are the parameters those of the reference loop (zero_grad, train(), step)?"""
    for epoch, reply, _, expected, arguments in run_epochs(student):
        check_parameters(reply.models[0]["state_dict"], expected["state_dict"], arguments, epoch)


@pytest.mark.points(1)
def test_does_it_return_the_mean_loss_per_sample(student):
    """Does it return the epoch's mean loss per sample (a smaller last batch weighted by its size)?"""
    for epoch, reply, expected, _, arguments in run_epochs(student):
        variants = {}
        for explanation, reduction in ((mistakes.MEAN_OF_BATCH_MEANS, "batch_means"),
                                       (mistakes.LAST_BATCH_LOSS, "last"), (mistakes.SUM_NOT_MEAN, "sum")):
            variants[explanation], _ = run_locally(lambda *a: train_epoch_variant(*a, reduction=reduction),
                                                   *arguments, seed=520 + epoch)
        expect_close(reply.value, expected, what=f"{NAME}: the returned loss for epoch {epoch + 1}",
                     rtol=1e-4, atol=1e-6, mistakes=variants)


@pytest.mark.points(1)
def test_are_the_batches_moved_to_the_device(student):
    """Handed batches that are wrong until moved, are the parameters after an epoch those of a loop that calls
    .to(device) on each batch before the forward pass?"""
    state = zoo.build(ARCHITECTURE, seed=0).state_dict()
    arguments = epoch_arguments(state, 0, must_move=True)
    reply = student.call(NAME, *arguments, seed=520)
    _, models = run_locally(reference, *arguments, seed=520)
    _, unmoved = run_locally(reference, *never_moved(arguments), seed=520)
    try:
        compare_parameters(reply.models[0]["state_dict"], models[0]["state_dict"], 0,
                           {mistakes.NOT_MOVED: unmoved[0]["state_dict"]})
    except GradingFailure:
        # The loop's own answer on batches that need no move: the same when it moves them (see charged_elsewhere).
        plain = epoch_arguments(state, 0)
        if not charged_elsewhere(
                reply.models[0]["state_dict"],
                lambda: student.call(NAME, *plain, seed=520).models[0]["state_dict"],
                same=lambda got, mine: compare_parameters(got, mine, 0, {}),
                values_check=lambda got: check_parameters(got, models[0]["state_dict"], plain, 0)):
            raise


@pytest.mark.points(0)
@pytest.mark.gpu
def test_are_batches_moved_to_the_device_on_cuda(student, cuda):
    """On CUDA, with the model on the GPU and the loader on the CPU: does an epoch run (a batch left on the CPU
    meets GPU weights and fails) and move every parameter to finite new values? (Dropout draws differ on the GPU,
    so the values cannot be the CPU reference's.)"""
    state = zoo.build(ARCHITECTURE, seed=0).state_dict()
    after = student.call(NAME, *epoch_arguments(state, 0, device=cuda), seed=520).models[0]["state_dict"]
    for key, value in state.items():
        moved = after.get(key)
        if moved is None or moved.shape != value.shape or not torch.isfinite(moved).all() or torch.equal(moved, value):
            raise GradingFailure(f"{NAME} on cuda: parameter {key} was not trained to finite new values.")
