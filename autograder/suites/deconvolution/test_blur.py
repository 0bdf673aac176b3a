"""Question: blur(x, kernel) -> k * x, the "same" cross-correlation with zero padding, over the last axis."""

import pytest
import torch
import torch.nn.functional as F

from autograder.grading import mistakes
from autograder.grading.cases import random_tensor
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import expect_no_library_convolution, expect_tensor, expect_value_error
from autograder.suites.deconvolution._cases import BLUR_SHAPES, torch_blur

NAME = "blur"


@pytest.mark.points(2)
@pytest.mark.public
def test_does_it_match_conv1d_with_same_padding(student):
    """Does it match F.conv1d(padding=K // 2) for kernels of 3, 5, 7 and 1 taps, one longer than the signal?"""
    for seed, (size, taps) in enumerate(BLUR_SHAPES):
        x, kernel = random_tensor((size,), 500 + seed), random_tensor((taps,), 510 + seed)
        expect_tensor(student(NAME, x, kernel), torch_blur(x, kernel),
                      what=f"{NAME}(x, kernel) for a signal of {size} samples and a kernel of {taps} taps",
                      mistakes=known_mistakes(x, kernel))


def known_mistakes(x, kernel) -> dict:
    taps = len(kernel)
    return {mistakes.VALID_PADDING: lambda: F.conv1d(x[None, None], kernel[None, None])[0, 0],
            mistakes.FLIPPED_KERNEL_1D: lambda: torch_blur(x, kernel.flip(0)),
            mistakes.CIRCULAR_PADDING: lambda: F.conv1d(F.pad(x[None, None], (taps // 2, taps // 2), mode="circular"),
                                                        kernel[None, None])[0, 0]}


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_does_it_blur_a_batch_along_the_last_axis_keep_float32_and_refuse_an_even_kernel(student):
    """Does a (2, 3, N) batch give (2, 3, N), each row blurred, float32 stay float32, and a kernel of even length
    (it has no centre) raise a ValueError?"""
    x, kernel = random_tensor((2, 3, 13), 520), random_tensor((5,), 521)
    expect_tensor(student(NAME, x, kernel), torch_blur(x, kernel),
                  what=f"{NAME}(x, kernel) for a batch x of shape (2, 3, 13) (blur each row along the last axis)")
    x32, kernel32 = x[0, 0].float(), kernel.float()
    got = student(NAME, x32, kernel32)
    if not isinstance(got, torch.Tensor) or got.dtype != torch.float32:
        raise GradingFailure(f"{NAME}(x, kernel) in float32: got {getattr(got, 'dtype', type(got).__name__)}, "
                             "expected float32. Create new tensors with x's dtype.")
    for taps in (4, 2):
        expect_value_error(student, NAME, x[0, 0], random_tensor((taps,), 522),
                           what=f"{NAME}(x, kernel) with a kernel of {taps} taps",
                           why="a kernel of even length has no centre tap, so there is no \"same\" blur to give; "
                               "padding it would shift the signal by half a sample")


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_is_it_implemented_without_a_library_convolution(student):
    """Does it avoid conv1d, unfold, the aten ops behind them, and numpy/scipy convolve?"""
    x, kernel = random_tensor((12,), 530), random_tensor((5,), 531)
    expect_no_library_convolution(student, NAME, x, kernel, expected=torch_blur(x, kernel),
                                  mistakes=known_mistakes(x, kernel),
                                  advice="Pad x with zeros and add up the K shifted copies, one per kernel tap.")
