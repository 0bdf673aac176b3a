"""Question: train_epoch(model, loader, optimizer, loss_fn, device) -> mean loss per sample.

The student's loop and the reference run side by side from the same seed, on a
small CNN with dropout, 10 samples in batches of 4 (the last batch has 2).
The model arrives in eval mode, so a loop that forgets model.train() differs.
"""

import pytest

from autograder import mistakes, zoo
from autograder.cases import digit_batch
from autograder.checks import GradingFailure, expect_close, expect_tensor
from autograder.harness import loader_recipe, model_recipe, run_locally, train_epoch_variant
from solutions.training import train_epoch as reference

NAME = "train_epoch"
ARCHITECTURE = "tiny_cnn"
OPTIMIZER = {"__optimizer__": {"name": "sgd", "lr": 0.5}}  # plain SGD: stateless, so epochs can be split
LOSS = {"__loss__": "cross_entropy"}


def epoch_arguments(state_dict, epoch: int, device: str = "cpu"):
    images, labels = digit_batch(10, seed=500, size=zoo.IMAGE_SIZE)
    return [model_recipe(ARCHITECTURE, state_dict, train=False, device=device),
            loader_recipe(images, labels, batch_size=4, shuffle=True, seed=510 + epoch), OPTIMIZER, LOSS,
            {"__device__": device}]


def compare_parameters(got: dict, expected: dict, epoch: int, variants: dict):
    for key, value in expected.items():
        what = f"{NAME}: parameter {key} after epoch {epoch + 1}"
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


@pytest.mark.points(2)
@pytest.mark.public
def test_do_the_parameters_match_the_reference_after_each_epoch(student):
    """After each of two epochs, are the parameters those of the reference loop (zero_grad, train(), step)?"""
    for epoch, reply, _, expected, arguments in run_epochs(student):
        variants = {}
        for explanation, options in ((mistakes.MISSING_ZERO_GRAD, {"zero_grad": False}),
                                     (mistakes.MISSING_TRAIN, {"set_train": False})):
            _, models = run_locally(lambda *a: train_epoch_variant(*a, **options), *arguments, seed=520 + epoch)
            variants[explanation] = models[0]["state_dict"]
        compare_parameters(reply.models[0]["state_dict"], expected["state_dict"], epoch, variants)


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
def test_does_every_forward_pass_run_in_training_mode(student):
    """Is the model in training mode (model.train()) for every batch, moved to `device`, with gradients recorded?"""
    _, reply, _, _, _ = next(run_epochs(student, epochs=1))
    observations = reply.models[0]["observations"]
    if not observations:
        raise GradingFailure(f"{NAME}: the model was never called on a batch.")
    if not all(seen["training"] for seen in observations):
        raise GradingFailure(f"{NAME}: the model ran in evaluation mode during training.\n"
                             f"Your output matches a known mistake: {mistakes.MISSING_TRAIN}")
    if not all(seen["grad_enabled"] for seen in observations):
        raise GradingFailure(f"{NAME}: a forward pass ran with gradients disabled (torch.no_grad) during training.")
    if not all(seen["moved"] for seen in observations):
        raise GradingFailure(f"{NAME}: the model got a batch straight from the loader.\n"
                             f"Your output matches a known mistake: {mistakes.NOT_MOVED}")
    sizes = [seen["batch_size"] for seen in observations]
    if sorted(sizes) != [2, 4, 4]:
        raise GradingFailure(f"{NAME}: got forward passes on batches of sizes {sizes}, expected one pass per "
                             "batch of the loader: [4, 4, 2].")


@pytest.mark.points(0)
@pytest.mark.gpu
def test_are_batches_moved_to_the_device(student, cuda):
    """On CUDA: are the batches moved to `device` before the forward pass?"""
    state = zoo.build(ARCHITECTURE, seed=0).state_dict()
    reply = student.call(NAME, *epoch_arguments(state, 0, device=cuda), seed=520)
    devices = {seen["device"] for seen in reply.models[0]["observations"]}
    if not devices or not all(device.startswith("cuda") for device in devices):
        raise GradingFailure(f"{NAME}: batches reached the model on {sorted(devices)}, expected cuda. "
                             "Move inputs and targets with .to(device).")
