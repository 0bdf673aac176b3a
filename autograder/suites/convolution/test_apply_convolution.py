"""Question: apply_convolution(img, kernel) -> the valid cross-correlation, shape (H-h+1, W-w+1)."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.cases import KERNEL_SHAPES, conv_case
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import (as_tensor, expect_dtype_kept, expect_no_library_convolution, expect_tensor, expect_value_error)
from solutions.convolution import apply_convolution as reference

NAME = "apply_convolution"


def check_case(student, shape, seed, dtype=torch.float64, check_dtype=False):
    img, kernel = conv_case(shape, seed=seed, dtype=dtype)
    what = f"{NAME}(img, kernel) with a {tuple(img.shape)} {dtype} image and a {shape[0]}x{shape[1]} kernel"
    got = as_tensor(student(NAME, img, kernel), what=what)
    if got.shape == (img.shape[0] - 2, img.shape[1] - 2) and shape != (3, 3):
        raise GradingFailure(f"{what}: got shape {tuple(got.shape)}, expected "
                             f"{tuple(reference(img, kernel).shape)}.\nYour output matches a known mistake: "
                             f"{mistakes.HARD_CODED_3X3}")
    expect_tensor(got, torch.nn.functional.conv2d(img[None, None], kernel[None, None])[0, 0], what=what,
                  check_dtype=check_dtype, mistakes=known_mistakes(img, kernel))


def known_mistakes(img, kernel) -> dict:
    return {mistakes.FLIPPED_KERNEL: lambda: reference(img, kernel.flip(0, 1)),
            mistakes.SWAPPED_INDEX: lambda: reference(img, kernel.T)}


@pytest.mark.points(1)
@pytest.mark.public
def test_does_a_3x3_kernel_match_conv2d(student):
    """Does a 3x3 kernel on a 7x11 image match F.conv2d?"""
    check_case(student, (3, 3), seed=11)


@pytest.mark.points(2)
def test_do_other_kernel_shapes_match_conv2d(student):
    """Do 1x1, 2x5 and 5x3 kernels match F.conv2d (output shape (H-h+1, W-w+1))?"""
    for seed, shape in enumerate(shape for shape in KERNEL_SHAPES if shape != (3, 3)):
        check_case(student, shape, seed=20 + seed)


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_does_the_output_keep_the_inputs_dtype(student):
    """Are float32 inputs answered in float32 and float64 in float64, and a kernel larger than the image refused?"""
    # A 3x3 kernel: the dtype is judged apart from the kernel shapes.
    expect_dtype_kept(student, NAME, lambda dtype: conv_case((3, 3), seed=30, dtype=dtype))
    img, kernel = conv_case((3, 3), seed=31)
    expect_value_error(student, NAME, img[:2, :5], kernel, what=f"{NAME} with a (2, 5) image and a 3x3 kernel",
                       why="the kernel is larger than the image, so there is no valid position")


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_is_it_implemented_without_a_library_convolution(student):
    """Does it avoid conv2d, conv_transpose2d, unfold and the aten ops behind them?"""
    img, kernel = conv_case((3, 3), seed=40)
    expect_no_library_convolution(student, NAME, img, kernel, expected=reference(img, kernel),
                                  mistakes=known_mistakes(img, kernel),
                                  advice="Implement the sum yourself with loops or slicing.")


@pytest.mark.points(0)
@pytest.mark.gpu
def test_does_a_cuda_input_give_a_cuda_output(student, cuda):
    """On CUDA: does the output stay on the input's device?"""
    img, kernel = conv_case((3, 3), seed=50)
    expect_tensor(student(NAME, img.to(cuda), kernel.to(cuda)), reference(img, kernel).to(cuda),
                  what=f"{NAME} on CUDA tensors", check_dtype=False)
