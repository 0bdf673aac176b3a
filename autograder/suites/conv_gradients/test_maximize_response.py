"""Question: maximize_response(kernel, size, steps, lr) -> (image, losses) by gradient ascent."""

import pytest
import torch
import torch.nn.functional as F

import solutions.conv_gradients as conv_gradients
from autograder.grading.carried import carried_forward
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import as_tensor, expect_tensor
from autograder.sandbox.failures import StudentException
from solutions.convolution import SOBEL_X

NAME = "maximize_response"
KERNEL = SOBEL_X.double()
SIZE, STEPS, LR = (9, 10), 6, 0.01


def call(student, seed=5):
    """(image, losses, own_helper): the student's ascent with their own conv_gradient_wrt_input, or, when that
    helper fails here, with the course's answering through the grader (its mistake is charged on its own
    question, not again here)."""
    own_helper = True
    try:
        got = student(NAME, KERNEL, SIZE, STEPS, LR, seed=seed)
    except StudentException as error:
        if "in conv_gradient_wrt_input" not in str(error):
            raise
        own_helper = False
        student.note("Your conv_gradient_wrt_input fails here (see its own question), so this question was graded "
                     "with the course's conv_gradient_wrt_input in place of yours.")
        got = student(NAME, KERNEL, SIZE, STEPS, LR, seed=seed,
                      through_grader={"conv_gradient_wrt_input": conv_gradients.conv_gradient_wrt_input})
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise GradingFailure(f"{NAME}: got a {type(got).__name__}, expected a tuple (image, losses).")
    image, losses = got
    image = as_tensor(image, what=f"{NAME}: the image")
    if not isinstance(losses, (list, tuple)) or not all(isinstance(v, (int, float)) or
                                                         (isinstance(v, torch.Tensor) and v.numel() == 1)
                                                         for v in losses):
        raise GradingFailure(f"{NAME}: the losses should be a list of numbers, got {type(losses).__name__}.")
    return image, [float(v) for v in losses], own_helper


def expected_run(student, seed, own_helper, lr=LR):
    """The reference ascent from the same seed, with the student's own conv_gradient_wrt_input when the student's
    run used it (error carried forward: a wrong gradient is charged on its own question, not here)."""
    (image, losses), note = carried_forward(student, conv_gradients, NAME, KERNEL, SIZE, STEPS, lr,
                                            helpers=("conv_gradient_wrt_input",) if own_helper else (), seed=seed)
    student.note(note)
    return image, losses


def same_losses(got, expected) -> bool:
    return len(got) == len(expected) and all(abs(a - b) <= 1e-8 + 1e-6 * abs(b) for a, b in zip(got, expected))


@pytest.mark.points(1)
@pytest.mark.public
@pytest.mark.requires_values("test_does_the_response_grow_at_every_step")
def test_does_it_return_an_image_of_the_requested_size_and_one_loss_per_step(student):
    """Does it return an image of shape `size` (kernel's dtype) and `steps` losses?"""
    image, losses, _ = call(student)
    if image.shape != SIZE or image.dtype != KERNEL.dtype:
        raise GradingFailure(f"{NAME}: got an image of shape {tuple(image.shape)} and dtype {image.dtype}, "
                             f"expected shape {SIZE} and dtype {KERNEL.dtype}.")
    if len(losses) != STEPS:
        raise GradingFailure(f"{NAME}: got {len(losses)} losses for steps={STEPS}, expected {STEPS}.")


@pytest.mark.points(1)
def test_does_the_response_grow_at_every_step(student):
    """Does sum(conv(image, K)^2) increase at every step, and is the final image better still?"""
    image, losses, own_helper = call(student)
    _, expected_losses = expected_run(student, seed=5, own_helper=own_helper)
    if not all(later > earlier for earlier, later in zip(expected_losses, expected_losses[1:])) and \
            same_losses(losses, expected_losses):
        return  # the student's own gradient does not ascend; their loop does what it should with it
    if any(later <= earlier for earlier, later in zip(losses, losses[1:])):
        message = (f"{NAME}: the losses should increase at every step of gradient *ascent*, got "
                   f"{[round(v, 4) for v in losses]}.")
        if same_losses(losses, expected_run(student, seed=5, own_helper=own_helper, lr=-LR)[1]):  # only when it is exactly that
            message += " They match a descent: add lr * gradient (ascent), do not subtract it."
        raise GradingFailure(message)
    final = (F.conv2d(image.double()[None, None], KERNEL[None, None]) ** 2).sum().item()
    if not final >= losses[-1] * (1 - 1e-9):  # equal: losses recorded after each step, the next test's business
        raise GradingFailure(f"{NAME}: the returned image has response {final:.4g}, below the last recorded loss "
                             f"{losses[-1]:.4g}: return the image after the last step.")


@pytest.mark.points(1)
def test_does_it_match_the_reference_from_the_same_seed(student):
    """From torch.rand(size) under the same seed, does it reach the same image and losses?"""
    image, losses, own_helper = call(student, seed=9)
    expected_image, expected_losses = expected_run(student, seed=9, own_helper=own_helper)
    expected_after = expected_losses[1:] + [(F.conv2d(expected_image.double()[None, None], KERNEL[None, None]) ** 2)
                                            .sum().item()]
    expect_tensor(torch.tensor(losses, dtype=torch.float64), torch.tensor(expected_losses, dtype=torch.float64),
                  what=f"{NAME}: the losses (start from torch.rand(size, dtype=kernel.dtype))", rtol=1e-6, atol=1e-8,
                  mistakes={"the losses were recorded after each step: record the loss of the image each step "
                            "starts from (before the update), as the docstring says":
                            torch.tensor(expected_after, dtype=torch.float64)})
    expect_tensor(image, expected_image, what=f"{NAME}: the final image", check_dtype=False, rtol=1e-6, atol=1e-8)
