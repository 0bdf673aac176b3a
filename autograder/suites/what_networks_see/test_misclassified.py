"""Question: misclassified(model, loader, true_class, predicted_class, device, limit) -> (images, probabilities).

60 random images in batches of 16 (the last holds 12) through the tiny CNN; the pair (true, predicted) with
the most samples is found by the reference on the grader's side.
"""

import pytest

from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import expect_tensor
from autograder.grading.harness import expect_inference, run_locally
from autograder.suites.what_networks_see._cases import classifier_arguments
from solutions.what_networks_see import confusion_matrix, misclassified as reference

NAME = "misclassified"


def model_and_loader(train: bool = False, guarded: bool = False):
    return classifier_arguments(60, 16, train=train, seed=910, guarded=guarded)


def commonest_mistake() -> tuple[int, int, int]:
    """(true, predicted, count) of the largest off-diagonal entry of the reference confusion matrix."""
    matrix, _ = run_locally(confusion_matrix, *model_and_loader(), 10, {"__device__": "cpu"})
    matrix = matrix.clone().fill_diagonal_(-1)
    true, predicted = divmod(int(matrix.argmax()), 10)
    return true, predicted, int(matrix[true, predicted])


def describe(true: int, predicted: int, limit: int) -> str:
    return (f"{NAME}(tiny CNN, 60 samples in batches of 16, true_class={true}, predicted_class={predicted}, "
            f"'cpu', limit={limit})")


def compare(got, expected, what: str, variants: dict | None = None) -> None:
    """(images, probabilities) against the reference's; ``variants`` give the answers of known mistakes."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise GradingFailure(f"{what}: got {type(got).__name__}, expected a tuple (images, probabilities).")
    (images, probabilities), (expected_images, expected_probabilities) = got, expected
    variants = variants or {}
    expect_tensor(images, expected_images, what=f"{what}: the images", check_dtype=False,
                  mistakes={name: (lambda produce=produce: produce()[0]) for name, produce in variants.items()})
    expect_tensor(probabilities, expected_probabilities, what=f"{what}: the probabilities (one softmax row of "
                  f"10 per image)", check_dtype=False, mistakes={
                      "the probability of the predicted class only: return each image's whole softmax row":
                          lambda: expected_probabilities.max(dim=1).values,
                      **{name: (lambda produce=produce: produce()[1]) for name, produce in variants.items()}})


def check(student, true: int, predicted: int, limit: int):
    arguments = model_and_loader() + [true, predicted, {"__device__": "cpu"}, limit]
    compare(student(NAME, *arguments), run_locally(reference, *arguments)[0], describe(true, predicted, limit))


@pytest.mark.points(2)
@pytest.mark.public
def test_are_the_images_and_probabilities_those_of_the_confused_samples(student):
    """For the commonest confusion, all its images in the loader's order and their softmax rows?"""
    true, predicted, count = commonest_mistake()
    check(student, true, predicted, limit=count + 5)


@pytest.mark.points(1)
@pytest.mark.requires_values("test_are_the_images_and_probabilities_those_of_the_confused_samples")
def test_does_it_stop_at_the_limit_and_return_empty_tensors_when_nothing_matches(student):
    """With limit below the count, the first `limit` only; with a pair never seen, (0, 1, 12, 12) and (0, 10)?"""
    true, predicted, count = commonest_mistake()
    check(student, true, predicted, limit=max(1, count - 2))
    matrix, _ = run_locally(confusion_matrix, *model_and_loader(), 10, {"__device__": "cpu"})
    never = [(t, p) for t in range(10) for p in range(10) if t != p and matrix[t, p] == 0]
    if not never:
        raise RuntimeError("the test's data has no empty pair")  # a broken test case, not the student's fault
    check(student, *never[0], limit=16)


@pytest.mark.points(1)
def test_does_it_run_in_eval_mode_without_gradients(student):
    """Handed a model in training mode that refuses to run while gradients are recorded, and batches that are wrong
    until moved: are the images and probabilities those of the model in eval() mode, under no_grad, on batches
    moved to `device`?"""
    true, predicted, count = commonest_mistake()
    arguments = model_and_loader(train=True, guarded=True) + [true, predicted, {"__device__": "cpu"}, count + 5]
    plain = model_and_loader() + [true, predicted, {"__device__": "cpu"}, count + 5]
    what = describe(true, predicted, count + 5)
    expect_inference(student, NAME, arguments, reference,
                     lambda got, expected, variants: compare(got, expected, what, variants), plain=plain,
                     values_check=lambda got: compare(got, run_locally(reference, *plain)[0], what))
