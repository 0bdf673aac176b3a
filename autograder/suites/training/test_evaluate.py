"""Question: evaluate(model, loader, loss_fn, device) -> (mean loss per sample, accuracy).

The model has dropout. For the values it arrives in eval mode already and the batches need no move, so each of
the three habits (eval(), no_grad, .to(device)) is charged once, on its own test, and always by the values that
come back: in training mode dropout changes them, a guarded model refuses to run while gradients are recorded,
and a must-move loader's batches are wrong until moved (autograder.worker.zoo).
10 samples in batches of 4, so the last batch holds 2.
"""

import pytest

from autograder.grading import mistakes
from autograder.worker import zoo
from autograder.grading.cases import digit_batch
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import expect_close
from autograder.grading.harness import evaluate_variant, expect_inference, loader_recipe, model_recipe, run_locally
from solutions.training import evaluate as reference

NAME = "evaluate"


def arguments(device: str = "cpu", train: bool = False, guard: bool = False, must_move: bool = False):
    images, labels = digit_batch(10, seed=600, size=zoo.IMAGE_SIZE)
    return [model_recipe("dropout_mlp", train=train, device=device, seed=1, no_grad_guard=guard),
            loader_recipe(images, labels, 4, must_move=must_move), {"__loss__": "cross_entropy"},
            {"__device__": device}]


def compare(got, expected, variants: dict) -> None:
    """(loss, accuracy) against the reference's; a mismatch is diagnosed by the variants' answers."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise GradingFailure(f"{NAME}: got {type(got).__name__}, expected a tuple (loss, accuracy).")
    (loss, accuracy), (expected_loss, expected_accuracy) = got, expected
    try:
        expect_close(loss, expected_loss, what=f"{NAME}: the loss", rtol=1e-4, atol=1e-6)
        expect_close(accuracy, expected_accuracy, what=f"{NAME}: the accuracy (a fraction in [0, 1])", rtol=0,
                     atol=1e-9, mistakes={"the accuracy as a percentage or a count": expected_accuracy * 100})
    except GradingFailure:
        answers = {name: produce() for name, produce in variants.items()}
        expect_close(loss, expected_loss, what=f"{NAME}: the loss", rtol=1e-4, atol=1e-6,
                     mistakes={name: answer[0] for name, answer in answers.items()})
        raise


@pytest.mark.points(1)
@pytest.mark.public
def test_are_loss_and_accuracy_per_sample_with_a_smaller_last_batch(student):
    """Are the loss and the accuracy averaged per sample (batches of 4, 4 and 2)?"""
    check_values(student(NAME, *arguments(), seed=610))


def check_values(got) -> None:
    """The values test's check of an answer to the plain arguments (also used by the habit tests, see
    harness.charged_elsewhere)."""
    batch_means = lambda: run_locally(lambda *a: evaluate_variant(*a, reduction="batch_means"),  # noqa: E731
                                      *arguments(), seed=610)[0]
    expected, _ = run_locally(reference, *arguments(), seed=610)
    compare(got, expected, {mistakes.MEAN_OF_BATCH_MEANS: batch_means})


@pytest.mark.points(1)
def test_does_it_switch_the_model_to_eval_mode(student):
    """Handed a model in training mode and batches that are wrong until moved, does it answer as the model in
    eval() mode (dropout off) on batches moved to `device`?"""
    expect_inference(student, NAME, arguments(train=True, must_move=True), reference, compare, seed=610,
                     plain=arguments(), values_check=check_values)


@pytest.mark.points(1)
def test_does_it_run_without_recording_gradients(student):
    """Does every forward pass run under torch.no_grad() (this model refuses to run while gradients are recorded)?"""
    expect_inference(student, NAME, arguments(guard=True), reference, compare, seed=610, plain=arguments(),
                     values_check=check_values)
