"""Question: conv_gradient_wrt_kernel(dloss_dy, img) -> dL/dK, shape (H-Hy+1, W-Wy+1)."""

import pytest
from autograder.grading import mistakes
from autograder.grading.cases import KERNEL_SHAPES, gradient_case
from autograder.grading.checks import expect_dtype_kept, expect_no_library_convolution, expect_tensor
from autograder.suites.conv_gradients._autograd import autograd_gradients

NAME = "conv_gradient_wrt_kernel"


@pytest.mark.points(2)
@pytest.mark.public
def test_does_it_match_autograd_for_several_kernel_shapes(student):
    """Does dL/dK match torch.autograd in float64 for 1x1, 3x3, 2x5 and 5x3 kernels on a 7x11 image?"""
    for seed, shape in enumerate(KERNEL_SHAPES):
        img, kernel, dloss_dy = gradient_case(shape, seed=200 + seed)
        _, expected = autograd_gradients(img, kernel, dloss_dy)
        expect_tensor(student(NAME, dloss_dy, img), expected, check_dtype=False,
                      what=f"{NAME}(dloss_dy, img) for a {shape[0]}x{shape[1]} kernel on a 7x11 image",
                      mistakes={mistakes.TRANSPOSED: lambda: expected.T})


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_does_the_gradient_keep_the_inputs_dtype(student):
    """Are float32 inputs answered in float32 and float64 inputs in float64?"""
    def arguments(dtype):
        img, _, dloss_dy = gradient_case((2, 5), seed=210, dtype=dtype)
        return dloss_dy, img

    expect_dtype_kept(student, NAME, arguments)


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_is_it_implemented_without_a_library_convolution(student):
    """Does it avoid conv2d, unfold, the aten ops behind them, and autograd?"""
    img, kernel, dloss_dy = gradient_case((5, 3), seed=220)
    expected = autograd_gradients(img, kernel, dloss_dy)[1]
    expect_no_library_convolution(student, NAME, dloss_dy, img, expected=expected,
                                  mistakes={mistakes.TRANSPOSED: lambda: expected.T},
                                  advice="Write the sum over output positions yourself.")
