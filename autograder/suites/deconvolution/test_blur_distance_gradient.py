"""Question: blur_distance_gradient(x, y, kernel) -> (2 / N) k~ * (k * x - y), derived by hand."""

import pytest

from autograder.grading import mistakes
from autograder.grading.checks import expect_no_library_convolution, expect_tensor
from autograder.suites.deconvolution._cases import COURSE_BLUR, autograd_gradient, signal_case, torch_blur

NAME = "blur_distance_gradient"


def known_mistakes(x, y, kernel, symmetric=False) -> dict:
    expected = autograd_gradient(x, y, kernel)
    residual = torch_blur(x, kernel) - y
    table = {mistakes.MISSING_FACTOR_TWO: lambda: expected / 2, mistakes.MISSING_ONE_OVER_N: lambda: expected * len(y),
             mistakes.ONE_OVER_N_SQUARED: lambda: expected / len(y)}
    if not symmetric:  # for a symmetric kernel the mirrored kernel is the kernel: nothing to tell apart
        table[mistakes.ADJOINT_NOT_MIRRORED] = lambda: 2 / len(y) * torch_blur(residual, kernel)
    return table


def check(student, x, y, kernel, what, symmetric=False):
    """The student's gradient, their calls to blur answered by the course's blur, against autograd."""
    got = student(NAME, x, y, kernel, through_grader=COURSE_BLUR)
    expect_tensor(got, autograd_gradient(x, y, kernel), what=what, rtol=1e-7, atol=1e-10,
                  mistakes=known_mistakes(x, y, kernel, symmetric))


@pytest.mark.points(2)
@pytest.mark.public
def test_does_it_match_autograd_for_a_gaussian_kernel(student):
    """For a 13-tap Gaussian and N = 40 in float64, does it match torch.autograd?"""
    x, y, kernel = signal_case(40, 13, seed=600, symmetric=True)
    check(student, x, y, kernel, f"{NAME}(x, y, kernel) for a Gaussian kernel of {len(kernel)} taps, N = 40",
          symmetric=True)


@pytest.mark.points(1)
def test_does_it_match_autograd_for_an_asymmetric_kernel(student):
    """For a random (asymmetric) 5-tap kernel, does it match torch.autograd (is the adjoint's kernel mirrored)?"""
    x, y, kernel = signal_case(17, 5, seed=610)
    check(student, x, y, kernel, f"{NAME}(x, y, kernel) for an asymmetric kernel of 5 taps, N = 17")


@pytest.mark.points(1)
@pytest.mark.requires_values("test_does_it_match_autograd_for_a_gaussian_kernel")
def test_is_it_derived_by_hand(student):
    """Does it avoid torch.autograd and library convolutions (it may call your blur)?"""
    x, y, kernel = signal_case(12, 5, seed=620)
    expect_no_library_convolution(student, NAME, x, y, kernel, expected=autograd_gradient(x, y, kernel),
                                  through_grader=COURSE_BLUR, mistakes=known_mistakes(x, y, kernel),
                                  advice="Use your blur twice: once with k, once with the mirrored kernel.")
