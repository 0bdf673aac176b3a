"""Question: metric_gradient(x, y, kernel, lam) -> the solution g of (B^T B + lam I) g = grad f(x)."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.checks import expect_tensor
from autograder.suites.deconvolution._cases import COURSE_HELPERS, signal_case, torch_blur
from solutions.deconvolution import blur_distance_gradient, metric_gradient as reference

NAME = "metric_gradient"


def check(student, x, y, kernel, lam, what):
    """The student's metric gradient, their blur and blur_distance_gradient answered by the course's."""
    expected = reference(x, y, kernel, lam)
    identity = torch.eye(len(x), dtype=x.dtype)
    matrix = torch_blur(identity, kernel).T
    metric = matrix.T @ matrix + lam * identity
    gradient = blur_distance_gradient(x, y, kernel)
    table = {mistakes.PRECONDITIONER_ON_X: lambda: blur_distance_gradient(torch.linalg.solve(metric, x), y, kernel),
             mistakes.METRIC_MULTIPLIED: lambda: metric @ gradient,
             mistakes.BLUR_MATRIX_TRANSPOSED: lambda: torch.linalg.solve(matrix @ matrix.T + lam * identity,
                                                                         gradient)}
    got = student(NAME, x, y, kernel, lam, through_grader=COURSE_HELPERS)
    expect_tensor(got, expected, what=what, rtol=1e-6, atol=1e-9, mistakes=table)


@pytest.mark.points(2)
@pytest.mark.public
def test_does_it_match_the_reference_for_a_gaussian_kernel(student):
    """For a 7-tap Gaussian, N = 20 and lam = 0.01 in float64, does it solve (B^T B + lam I) g = grad f(x)?"""
    x, y, kernel = signal_case(20, 7, seed=800, symmetric=True)
    check(student, x, y, kernel, 0.01, f"{NAME}(x, y, kernel, lam=0.01) for a Gaussian of 7 taps, N = 20")


@pytest.mark.points(1)
def test_does_it_match_the_reference_for_an_asymmetric_kernel(student):
    """For a random 5-tap kernel, N = 15 and lam = 0.1: is the matrix B (not B^T) in the metric B^T B + lam I?"""
    x, y, kernel = signal_case(15, 5, seed=810)
    check(student, x, y, kernel, 0.1, f"{NAME}(x, y, kernel, lam=0.1) for an asymmetric kernel of 5 taps, N = 15")
