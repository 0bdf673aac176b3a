"""Question: confusion_matrix(model, loader, num_classes, device) -> int (C, C), rows the true class.

For the values the model arrives in eval mode already, so a missing eval() is charged once, on the mode test.
30 samples in batches of 8, so the last batch holds 6.
"""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.checks import as_tensor, expect_tensor
from autograder.sandbox.failures import GradingFailure
from autograder.grading.harness import expect_inference, run_locally
from autograder.suites.what_networks_see._cases import CLASSES, classifier_arguments
from solutions.what_networks_see import confusion_matrix as reference

NAME = "confusion_matrix"


def arguments(train: bool = False, labels_below: int = CLASSES, guarded: bool = False):
    return classifier_arguments(30, 8, train=train, seed=900, labels_below=labels_below, guarded=guarded) + [
        CLASSES, {"__device__": "cpu"}]


def describe(labels_below: int) -> str:
    return (f"{NAME}(tiny CNN, 30 samples in batches of 8, num_classes={CLASSES}, 'cpu')"
            + (f" with true labels below {labels_below} only" if labels_below < CLASSES else ""))


@pytest.mark.points(2)
@pytest.mark.public
def test_does_each_row_count_the_predictions_for_one_true_class(student):
    """Entry [t, p] counts the samples of class t predicted as p, over every batch (the last one smaller)?"""
    check_values(student(NAME, *arguments()))


def check_values(got) -> None:
    """The values test's check of an answer to the plain arguments (also used by the mode test)."""
    expected, _ = run_locally(reference, *arguments())
    expect_tensor(got, expected, what=describe(CLASSES), check_dtype=False, rtol=0, atol=0,
                  mistakes={mistakes.CONFUSION_TRANSPOSED: expected.T})


@pytest.mark.points(1)
@pytest.mark.requires_values("test_does_each_row_count_the_predictions_for_one_true_class")
def test_is_it_an_integer_num_classes_square_even_for_classes_never_seen(student):
    """With true labels 0..5 only, is it still an integer (10, 10) matrix, the rows of 6..9 all zero?"""
    expected, _ = run_locally(reference, *arguments(labels_below=6))
    got = as_tensor(student(NAME, *arguments(labels_below=6)), what=describe(6))
    if got.dtype.is_floating_point or got.dtype.is_complex or got.dtype == torch.bool:
        raise GradingFailure(f"{describe(6)}: got dtype {got.dtype}, expected an integer tensor of counts "
                             "(torch.int64).")
    expect_tensor(got, expected, what=describe(6), check_dtype=False, rtol=0, atol=0)


@pytest.mark.points(1)
def test_does_it_run_in_eval_mode_without_gradients(student):
    """Handed a model in training mode that refuses to run while gradients are recorded, and batches that are wrong
    until moved: is the matrix the one of the model in eval() mode, under no_grad, on batches moved to `device`?"""
    def compare(got, expected, variants):
        expect_tensor(got, expected, what=describe(CLASSES), check_dtype=False, rtol=0, atol=0,
                      mistakes={name: produce for name, produce in variants.items()})

    expect_inference(student, NAME, arguments(train=True, guarded=True), reference, compare, plain=arguments(),
                     values_check=check_values)


@pytest.mark.points(0)
@pytest.mark.gpu
def test_does_it_count_on_cuda_and_return_the_matrix_on_the_cpu(student, cuda):
    """On CUDA: with the model on the GPU and the loader on the CPU (a batch left there fails), is the matrix the
    CPU one, on the CPU?"""
    model, loader = classifier_arguments(30, 8, train=False, seed=900)
    reply = student.call(NAME, dict(model, device=cuda), loader, CLASSES, {"__device__": cuda})
    expected, _ = run_locally(reference, *arguments())
    expect_tensor(reply.value, expected, what=f"{describe(CLASSES)} on cuda", check_dtype=False, rtol=0, atol=0)
