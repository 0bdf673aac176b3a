"""Question: compute_convolution_at_position(i, j, img, kernel) -> y[i, j] as a 0-d tensor."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.cases import KERNEL_SHAPES, conv_case
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import as_tensor, expect_tensor
from autograder.sandbox.values import describe
from solutions.convolution import compute_convolution_at_position as reference

NAME = "compute_convolution_at_position"


def all_positions(img, kernel):
    return [(i, j) for i in range(img.shape[0] - kernel.shape[0] + 1) for j in range(img.shape[1] - kernel.shape[1] + 1)]


def as_scalar(value, what):
    value = as_tensor(value, what=what)
    if value.numel() != 1:
        raise GradingFailure(f"{what}: got shape {tuple(value.shape)}, expected a single number (a 0-d tensor).")
    return value.reshape(())


@pytest.mark.points(2)
@pytest.mark.public
def test_does_every_position_match_for_non_square_kernels(student):
    """Is y[i, j] right at every valid position, for 1x1, 3x3, 2x5 and 5x3 kernels on a 7x11 image?"""
    for seed, shape in enumerate(KERNEL_SHAPES):
        img, kernel = conv_case(shape, seed=seed)
        positions = all_positions(img, kernel)
        what = f"{NAME}(i, j, img, kernel) over every position, {shape[0]}x{shape[1]} kernel, 7x11 image"
        got = torch.stack([as_scalar(student(NAME, i, j, img, kernel), what).to(torch.float64)
                           for i, j in positions])
        expected = torch.stack([reference(i, j, img, kernel) for i, j in positions])
        expect_tensor(got, expected, what=what, check_dtype=False, mistakes={
            mistakes.FLIPPED_KERNEL: lambda: torch.stack([reference(i, j, img, kernel.flip(0, 1))
                                                          for i, j in positions]),
            mistakes.CENTRE_INDEXING: lambda: mistakes.convolution_centre_indexing(img, kernel, positions),
            mistakes.SWAPPED_INDEX: lambda: torch.stack([reference(i, j, img, kernel.T) for i, j in positions]),
        })


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_is_the_result_a_0d_tensor_with_the_inputs_dtype(student):
    """Does it return a 0-d tensor that keeps float64?"""
    img, kernel = conv_case((3, 3), seed=7)
    original = student(NAME, 2, 4, img, kernel)
    got = as_tensor(original, what=f"{NAME}(2, 4, img, kernel)")
    if not isinstance(original, torch.Tensor):
        raise GradingFailure(f"{NAME}(2, 4, img, kernel) with a (7, 11) float64 image: got {describe(original)}, "
                             "expected a 0-d torch.float64 tensor. Keep the sum a tensor (start from "
                             "torch.zeros((), dtype=img.dtype)) instead of calling float() or .item().")
    if got.dim() != 0:
        raise GradingFailure(f"{NAME}: got shape {tuple(got.shape)}, expected a 0-d tensor (shape ()).")
    if got.dtype != torch.float64:
        raise GradingFailure(f"{NAME}: got dtype {got.dtype} for float64 inputs, expected torch.float64.")
