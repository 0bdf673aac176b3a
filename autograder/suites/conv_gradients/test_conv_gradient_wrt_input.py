"""Question: conv_gradient_wrt_input(dloss_dy, kernel) -> dL/dx, shape (Hy+h-1, Wy+w-1)."""

import pytest
import torch

from autograder import mistakes
from autograder.cases import KERNEL_SHAPES, gradient_case
from autograder.checks import GradingFailure, as_tensor, expect_tensor, forbidden_ops
from autograder.suites.conv_gradients._autograd import autograd_gradients

NAME = "conv_gradient_wrt_input"


@pytest.mark.points(2)
@pytest.mark.public
def test_does_it_match_autograd_for_several_kernel_shapes(student):
    """Does dL/dx match torch.autograd in float64 for 1x1, 3x3, 2x5 and 5x3 kernels on a 7x11 image?"""
    for seed, shape in enumerate(KERNEL_SHAPES):
        img, kernel, dloss_dy = gradient_case(shape, seed=100 + seed)
        expected, _ = autograd_gradients(img, kernel, dloss_dy)
        expect_tensor(student(NAME, dloss_dy, kernel), expected, check_dtype=False,
                      what=f"{NAME}(dloss_dy, kernel) for a {shape[0]}x{shape[1]} kernel on a 7x11 image",
                      mistakes={mistakes.INDEX_SLIP: lambda: mistakes.input_gradient_with_index_slip(dloss_dy, kernel),
                                mistakes.FLIPPED_GRADIENT: lambda: mistakes.input_gradient_flipped(dloss_dy, kernel)})


@pytest.mark.points(1)
def test_does_the_gradient_keep_the_inputs_dtype(student):
    """Are float32 inputs answered in float32 and float64 inputs in float64?"""
    for dtype in (torch.float32, torch.float64):
        _, kernel, dloss_dy = gradient_case((2, 5), seed=110, dtype=dtype)
        got = as_tensor(student(NAME, dloss_dy, kernel), what=f"{NAME} on {dtype} inputs")
        if got.dtype != dtype:
            raise GradingFailure(f"{NAME} on {dtype} inputs: got dtype {got.dtype}, expected {dtype}.")


@pytest.mark.points(1)
def test_is_it_implemented_without_a_library_convolution(student):
    """Does it avoid conv2d, conv_transpose2d, unfold and the aten ops behind them?"""
    img, kernel, dloss_dy = gradient_case((5, 3), seed=120)
    reply = student.call(NAME, dloss_dy, kernel, record_ops=True)
    as_tensor(reply.value, what=NAME)  # any tensor will do: values are graded elsewhere
    used = forbidden_ops(reply.ops)
    if used:
        raise GradingFailure(f"{NAME} called a library convolution ({', '.join(used)}). "
                             "Write the sum over kernel entries yourself.")
