"""Question: sobel_magnitude(img) -> sqrt((Gx * I)^2 + (Gy * I)^2) / max, and the constants SOBEL_X, SOBEL_Y."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.cases import random_tensor
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import as_tensor, expect_tensor
import solutions.convolution as convolution
from autograder.grading.carried import carried_forward
from solutions.convolution import SOBEL_X, SOBEL_Y

NAME = "sobel_magnitude"


def synthetic_photo() -> torch.Tensor:
    """A 20x24 'photo': a smooth vertical ramp with a bright square and a dark disc, as float32."""
    rows, cols = torch.meshgrid(torch.arange(20.0), torch.arange(24.0), indexing="ij")
    image = rows / 40
    image[4:11, 3:10] += 0.5
    image[((rows - 12) ** 2 + (cols - 16) ** 2) < 16] -= 0.3
    return image


@pytest.mark.points(1)
@pytest.mark.public
def test_does_the_edge_magnitude_match(student):
    """Does the normalised edge magnitude match on a random image and a synthetic photo?"""
    for label, img in (("a random 9x13 image", random_tensor((9, 13), seed=60, dtype=torch.float32)),
                       ("a 20x24 synthetic photo", synthetic_photo())):
        # sobel_magnitude calls apply_convolution and the filters: a mistake there is charged on them, not here
        expected, note = carried_forward(student, convolution, NAME, img, helpers=("apply_convolution",),
                                         constants=("SOBEL_X", "SOBEL_Y"))
        student.note(note)
        expect_tensor(student(NAME, img), expected, what=f"{NAME} on {label}", check_dtype=False,
                      mistakes={mistakes.SOBEL_NOT_NORMALISED: lambda: mistakes.sobel_unnormalised(img, SOBEL_X),
                                mistakes.SOBEL_SQUARED: lambda: mistakes.sobel_squared(img, SOBEL_X)})


@pytest.mark.points(1)
@pytest.mark.requires_values("test_does_the_edge_magnitude_match")
def test_is_a_constant_image_all_zeros_rather_than_nan(student):
    """Does an image with no edges give zeros, not 0 / 0 = NaN?"""
    img = torch.full((6, 9), 0.25)
    expected, note = carried_forward(student, convolution, NAME, img, helpers=("apply_convolution",),
                                     constants=("SOBEL_X", "SOBEL_Y"))
    student.note(note)
    got = as_tensor(student(NAME, img), what=f"{NAME} on a constant image")
    if got.is_floating_point() and torch.isnan(got).any():
        raise GradingFailure(f"{NAME} on a constant image: got NaN, expected all zeros. The maximum is 0 there: "
                             "return the zero magnitude instead of dividing by it.")
    expect_tensor(got, expected, what=f"{NAME} on a constant image", check_dtype=False)


@pytest.mark.points(1)
def test_are_sobel_x_and_sobel_y_the_course_filters(student):
    """Are SOBEL_X (left-to-right changes) and SOBEL_Y (top-to-bottom) defined as in the course?"""
    sobel_x, sobel_y = student.get("SOBEL_X"), student.get("SOBEL_Y")
    for name, got, expected in (("SOBEL_X", sobel_x, SOBEL_X), ("SOBEL_Y", sobel_y, SOBEL_Y)):
        if got is None:
            raise GradingFailure(f"{name} is not set yet (it is None): define it as the 3x3 Sobel filter.")
        got = as_tensor(got, what=name)
        if got.shape == (3, 3) and torch.allclose(got.double(), (SOBEL_Y if name == "SOBEL_X" else SOBEL_X).double()):
            raise GradingFailure(f"{name}: got {got.tolist()}, expected {expected.tolist()}.\n"
                                 f"Your output matches a known mistake: {mistakes.SOBEL_SWAPPED}")
        expect_tensor(got.double(), expected.double(), what=name, check_dtype=False)
