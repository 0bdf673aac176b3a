"""Question: evaluate(model, loader, loss_fn, device) -> (mean loss per sample, accuracy).

The model has dropout. For the mode test it arrives in training mode, and evaluate must switch it to eval();
for the values it arrives in eval mode already, so a missing eval() is charged once, on the mode test.
10 samples in batches of 4, so the last batch holds 2.
"""

import pytest

from autograder import mistakes, zoo
from autograder.cases import digit_batch
from autograder.checks import GradingFailure, expect_close
from autograder.harness import evaluate_variant, loader_recipe, model_recipe, run_locally
from solutions.training import evaluate as reference

NAME = "evaluate"


def arguments(device: str = "cpu", train: bool = True):
    images, labels = digit_batch(10, seed=600, size=zoo.IMAGE_SIZE)
    return [model_recipe("dropout_mlp", train=train, device=device, seed=1), loader_recipe(images, labels, 4),
            {"__loss__": "cross_entropy"}, {"__device__": device}]


def call(student, train: bool = True):
    reply = student.call(NAME, *arguments(train=train), seed=610)
    if not isinstance(reply.value, (tuple, list)) or len(reply.value) != 2:
        raise GradingFailure(f"{NAME}: got {type(reply.value).__name__}, expected a tuple (loss, accuracy).")
    return reply


@pytest.mark.points(1)
@pytest.mark.public
def test_are_loss_and_accuracy_per_sample_with_a_smaller_last_batch(student):
    """Are the loss and the accuracy averaged per sample (batches of 4, 4 and 2)?"""
    reply = call(student, train=False)
    (expected_loss, expected_accuracy), _ = run_locally(reference, *arguments(train=False), seed=610)
    (batch_means, _), _ = run_locally(lambda *a: evaluate_variant(*a, reduction="batch_means"),
                                      *arguments(train=False), seed=610)
    loss, accuracy = reply.value
    expect_close(loss, expected_loss, what=f"{NAME}: the loss", rtol=1e-4, atol=1e-6,
                 mistakes={mistakes.MEAN_OF_BATCH_MEANS: batch_means})
    expect_close(accuracy, expected_accuracy, what=f"{NAME}: the accuracy (a fraction in [0, 1])", rtol=0, atol=1e-9,
                 mistakes={"the accuracy as a percentage or a count": expected_accuracy * 100})


@pytest.mark.points(1)
def test_does_it_switch_the_model_to_eval_mode(student):
    """Does every forward pass run in eval() mode (dropout off), on batches moved to `device`?"""
    observations = call(student).models[0]["observations"]
    if not observations:
        raise GradingFailure(f"{NAME}: the model was never called on a batch.")
    if any(seen["training"] for seen in observations):
        raise GradingFailure(f"{NAME}: the model ran in training mode, so dropout changed its answers. "
                             "Call model.eval() first.")
    if not all(seen["moved"] for seen in observations):
        raise GradingFailure(f"{NAME}: the model got a batch straight from the loader.\n"
                             f"Your output matches a known mistake: {mistakes.NOT_MOVED}")


@pytest.mark.points(1)
def test_does_it_run_without_recording_gradients(student):
    """Does every forward pass run under torch.no_grad() (no graph is built)?"""
    observations = call(student).models[0]["observations"]
    if not observations:
        raise GradingFailure(f"{NAME}: the model was never called on a batch.")
    if any(seen["grad_enabled"] for seen in observations):
        raise GradingFailure(f"{NAME}: the forward passes recorded gradients. Wrap the loop in "
                             "`with torch.no_grad():` to save memory and time.")
