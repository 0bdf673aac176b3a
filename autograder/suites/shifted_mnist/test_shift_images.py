"""Question: shift_images(images, dx, dy) -> images moved dx right and dy down, zero-filled."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.cases import random_tensor
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import as_tensor, expect_tensor, unchanged
from solutions.shifted_mnist import shift_images as reference

NAME = "shift_images"
IMAGES = (random_tensor((3, 1, 6, 8), seed=700, dtype=torch.float32).abs() + 0.1)  # no zeros: fill is visible


def check_shifts(student, shifts):
    for dx, dy in shifts:
        what = f"{NAME}(images of shape {tuple(IMAGES.shape)}, dx={dx}, dy={dy})"
        expect_tensor(student(NAME, IMAGES.clone(), dx, dy), reference(IMAGES, dx, dy), what=what,
                      check_dtype=False, mistakes={
                          mistakes.ROLL: lambda: mistakes.rolled(IMAGES, dx, dy),
                          mistakes.SWAPPED_DXDY: lambda: reference(IMAGES, dy, dx),
                          mistakes.SIGN_FLIPPED: lambda: reference(IMAGES, -dx, -dy)})


@pytest.mark.points(1)
@pytest.mark.public
def test_do_positive_shifts_move_right_and_down_with_zero_fill(student):
    """Do positive shifts move content right (dx) and down (dy), filling the border with zeros?"""
    check_shifts(student, [(2, 0), (0, 3), (1, 2)])


@pytest.mark.points(1)
def test_do_negative_shifts_move_left_and_up(student):
    """Do negative shifts move content left and up, with zero fill?"""
    check_shifts(student, [(-2, 0), (0, -1), (-3, -2)])


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_do_shifts_of_the_image_size_or_more_give_zeros(student):
    """Does a shift of the image size or more (either sign) give an all-zero image?"""
    check_shifts(student, [(8, 0), (0, 6), (-8, 0), (20, -20)])


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_are_shape_and_dtype_kept_and_the_input_untouched(student):
    """Are shape and dtype kept (float64, a single (H, W) image too) and the input left unchanged?"""
    for images in (IMAGES.double(), IMAGES[0, 0].double()):
        reply = student.call(NAME, images.clone(), 1, -1)
        got = as_tensor(reply.value, what=f"{NAME} on a {images.dtype} tensor of shape {tuple(images.shape)}")
        if got.shape != images.shape or got.dtype != images.dtype:
            raise GradingFailure(f"{NAME}: got shape {tuple(got.shape)} and dtype {got.dtype}, expected "
                                 f"{tuple(images.shape)} and {images.dtype}.")
        if not unchanged(reply.args_after[0], images):
            raise GradingFailure(f"{NAME} modified its input images: build a new tensor instead.")
