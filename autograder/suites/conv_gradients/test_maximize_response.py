"""Question: maximize_response(kernel, size, steps, lr) -> (image, losses) by gradient ascent."""

import pytest
import torch
import torch.nn.functional as F

from autograder.checks import GradingFailure, as_tensor, expect_tensor
from solutions.convolution import SOBEL_X
from solutions.conv_gradients import maximize_response as reference

NAME = "maximize_response"
KERNEL = SOBEL_X.double()
SIZE, STEPS, LR = (9, 10), 6, 0.01


def call(student, seed=5):
    got = student(NAME, KERNEL, SIZE, STEPS, LR, seed=seed)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise GradingFailure(f"{NAME}: got a {type(got).__name__}, expected a tuple (image, losses).")
    image, losses = got
    image = as_tensor(image, what=f"{NAME}: the image")
    if not isinstance(losses, (list, tuple)) or not all(isinstance(v, (int, float)) or
                                                         (isinstance(v, torch.Tensor) and v.numel() == 1)
                                                         for v in losses):
        raise GradingFailure(f"{NAME}: the losses should be a list of numbers, got {type(losses).__name__}.")
    return image, [float(v) for v in losses]


@pytest.mark.points(1)
@pytest.mark.public
@pytest.mark.requires_values
def test_does_it_return_an_image_of_the_requested_size_and_one_loss_per_step(student):
    """Does it return an image of shape `size` (kernel's dtype) and `steps` losses?"""
    image, losses = call(student)
    if image.shape != SIZE or image.dtype != KERNEL.dtype:
        raise GradingFailure(f"{NAME}: got an image of shape {tuple(image.shape)} and dtype {image.dtype}, "
                             f"expected shape {SIZE} and dtype {KERNEL.dtype}.")
    if len(losses) != STEPS:
        raise GradingFailure(f"{NAME}: got {len(losses)} losses for steps={STEPS}, expected {STEPS}.")


@pytest.mark.points(1)
def test_does_the_response_grow_at_every_step(student):
    """Does sum(conv(image, K)^2) increase at every step, and is the final image better still?"""
    image, losses = call(student)
    if any(later <= earlier for earlier, later in zip(losses, losses[1:])):
        raise GradingFailure(f"{NAME}: the losses should increase at every step of gradient *ascent*, got "
                             f"{[round(v, 4) for v in losses]}. Add lr * gradient (ascent), do not subtract it.")
    final = (F.conv2d(image.double()[None, None], KERNEL[None, None]) ** 2).sum().item()
    if not final > losses[-1]:
        raise GradingFailure(f"{NAME}: the returned image has response {final:.4g}, not above the last "
                             f"recorded loss {losses[-1]:.4g}: return the image after the last step.")


@pytest.mark.points(1)
def test_does_it_match_the_reference_from_the_same_seed(student):
    """From torch.rand(size) under the same seed, does it reach the same image and losses?"""
    image, losses = call(student, seed=9)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(9)
        expected_image, expected_losses = reference(KERNEL, SIZE, STEPS, LR)
    expect_tensor(torch.tensor(losses, dtype=torch.float64), torch.tensor(expected_losses, dtype=torch.float64),
                  what=f"{NAME}: the losses (start from torch.rand(size, dtype=kernel.dtype))", rtol=1e-6, atol=1e-8)
    expect_tensor(image, expected_image, what=f"{NAME}: the final image", check_dtype=False, rtol=1e-6, atol=1e-8)
