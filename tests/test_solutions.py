"""The reference solutions agree with torch (F.conv2d, autograd), on shapes that expose 3x3-only code."""

import pytest
import torch
import torch.nn.functional as F

from autograder.grading import mistakes
from autograder.grading.cases import KERNEL_SHAPES, conv_case, gradient_case, random_tensor
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import expect_tensor
from solutions.conv_gradients import (conv_gradient_wrt_input, conv_gradient_wrt_kernel, maximize_response,
                                      numerical_gradient)
from solutions.convolution import SOBEL_X, SOBEL_Y, apply_convolution, compute_convolution_at_position, sobel_magnitude


def torch_conv(img, kernel):
    return F.conv2d(img[None, None], kernel[None, None])[0, 0]


def relative_error(a, b):
    return ((a - b).abs() / torch.clamp(torch.maximum(a.abs(), b.abs()), min=1e-8)).max().item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kernel_shape", KERNEL_SHAPES)
def test_does_apply_convolution_match_conv2d(kernel_shape, dtype):
    img, kernel = conv_case(kernel_shape, dtype=dtype)
    expect_tensor(apply_convolution(img, kernel), torch_conv(img, kernel), what="apply_convolution")


@pytest.mark.parametrize("kernel_shape", KERNEL_SHAPES)
def test_is_every_position_the_top_left_anchored_sum(kernel_shape):
    img, kernel = conv_case(kernel_shape)
    expected = torch_conv(img, kernel)
    for i in range(expected.shape[0]):
        for j in range(expected.shape[1]):
            value = compute_convolution_at_position(i, j, img, kernel)
            assert value.dim() == 0 and value.dtype == torch.float64
            torch.testing.assert_close(value, expected[i, j], rtol=1e-12, atol=1e-12)


def test_is_a_kernel_larger_than_the_image_refused_clearly():
    with pytest.raises(ValueError, match="larger than image"):
        apply_convolution(torch.zeros(2, 2), torch.zeros(3, 3))


def test_are_the_sobel_filters_transposes_of_each_other():
    assert torch.equal(SOBEL_Y, SOBEL_X.T)
    assert SOBEL_X[1, 2] == 2 and SOBEL_Y[2, 1] == 2  # x grows to the right, y grows downwards


def test_does_sobel_magnitude_match_conv2d_and_peak_at_one():
    img = random_tensor((9, 13), seed=3)
    gx, gy = torch_conv(img, SOBEL_X.double()), torch_conv(img, SOBEL_Y.double())
    expected = torch.sqrt(gx ** 2 + gy ** 2)
    result = sobel_magnitude(img)
    expect_tensor(result, expected / expected.max(), what="sobel_magnitude")
    assert result.max().item() == pytest.approx(1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("value", [0.5, 0.7, 0.1, -3.3, 1e3, 0.0])
def test_is_a_constant_image_all_zeros_not_nan_whatever_its_value(value, dtype):
    """0.7 and 0.1 are not binary fractions: their convolutions are rounding noise, which must not be
    normalised into edges. F.conv2d's noise on the same image stays under the docstring's threshold."""
    img = torch.full((6, 8), value, dtype=dtype)
    assert torch.equal(sobel_magnitude(img), torch.zeros(4, 6, dtype=dtype))
    noise = torch.sqrt(torch_conv(img, SOBEL_X.to(dtype)) ** 2 + torch_conv(img, SOBEL_Y.to(dtype)) ** 2).max()
    assert noise <= 128 * torch.finfo(dtype).eps * abs(value)


def test_is_a_faint_real_edge_still_an_edge():
    img = torch.full((6, 8), 0.7)
    img[:, 4:] += 1e-3  # far above rounding, far below the image's value
    result = sobel_magnitude(img)
    assert result.max().item() == pytest.approx(1.0) and result[:, 0].abs().max() < 1e-3


@pytest.mark.parametrize("kernel_shape", KERNEL_SHAPES)
def test_do_both_gradients_match_autograd(kernel_shape):
    img, kernel, dloss_dy = gradient_case(kernel_shape)
    img.requires_grad_(), kernel.requires_grad_()
    torch_conv(img, kernel).backward(dloss_dy)
    expect_tensor(conv_gradient_wrt_input(dloss_dy, kernel.detach()), img.grad, what="dL/dx")
    expect_tensor(conv_gradient_wrt_kernel(dloss_dy, img.detach()), kernel.grad, what="dL/dK")


def test_is_numerical_gradient_within_1e_7_of_autograd_and_leaves_x_alone():
    img, kernel = conv_case((2, 5))
    before = img.clone()

    def loss(x):
        return (torch_conv(x, kernel) ** 2).sum()

    numeric = numerical_gradient(loss, img)
    analytic = img.clone().requires_grad_()
    loss(analytic).backward()
    assert relative_error(numeric, analytic.grad) < 1e-7
    assert torch.equal(img, before)


def test_does_gradient_ascent_increase_the_response_like_autograd_would():
    torch.manual_seed(1)
    image, losses = maximize_response(SOBEL_X.double(), (9, 10), steps=5, lr=0.01)
    torch.manual_seed(1)
    expected = torch.rand(9, 10, dtype=torch.float64)
    for _ in range(5):
        expected.requires_grad_()
        (torch_conv(expected, SOBEL_X.double()) ** 2).sum().backward()
        expected = (expected + 0.01 * expected.grad).detach()
    assert len(losses) == 5 and all(b > a for a, b in zip(losses, losses[1:]))
    expect_tensor(image, expected, what="maximize_response image")


# The two mistakes of the original course material, as small wrong functions. They must be caught by the
# same checks (expect_tensor on the shared cases) that the hidden suites use. The index slip is the one the
# grader itself reproduces to name the mistake (autograder.grading.mistakes); the centred 3x3 loop is written here.

def convolution_centred_3x3(img, kernel):
    """The course's code: (i, j) is the kernel centre and the output is always (H-2, W-2)."""
    height, width = img.shape
    out = torch.zeros(height - 2, width - 2, dtype=img.dtype)
    for i in range(1, height - 1):
        for j in range(1, width - 1):
            for k in range(kernel.shape[0]):
                for l in range(kernel.shape[1]):
                    out[i - 1, j - 1] += img[i + k - 1, j + l - 1] * kernel[k, l]
    return out


def test_is_the_index_slip_in_the_input_gradient_caught():
    img, kernel, dloss_dy = gradient_case((3, 3))
    with pytest.raises(GradingFailure, match="values differ"):
        expect_tensor(mistakes.input_gradient_with_index_slip(dloss_dy, kernel), conv_gradient_wrt_input(dloss_dy, kernel),
                      what="dL/dx")


@pytest.mark.parametrize("kernel_shape", [(2, 5), (5, 3), (1, 1)])
def test_is_the_centred_3x3_convolution_caught_on_other_kernels(kernel_shape):
    img, kernel = conv_case(kernel_shape)
    with pytest.raises((GradingFailure, IndexError)):
        expect_tensor(convolution_centred_3x3(img, kernel), torch_conv(img, kernel), what="apply_convolution")


def test_does_the_centred_3x3_convolution_slip_through_on_3x3_alone():
    """Why the suites must not test 3x3 kernels only: there the course's code looks right."""
    img, kernel = conv_case((3, 3))
    expect_tensor(convolution_centred_3x3(img, kernel), torch_conv(img, kernel), what="apply_convolution")


def test_does_the_stripe_measure_tell_stripes_patches_and_noise_apart():
    """The notebook's verdict on the perceptron's units rests on peak_frequency_share: a cosine of an integer
    frequency keeps all its energy near one frequency pair, a patch of stripes that fades out keeps most of it,
    and white noise about 18 / 3,136 of it."""
    from solutions.what_networks_see import peak_frequency_share

    rows, cols = torch.meshgrid(torch.arange(56.0), torch.arange(56.0), indexing="ij")
    stripes = torch.cos(2 * torch.pi * (5 * cols + 3 * rows) / 56)
    patch = torch.cos(0.9 * cols + 0.4 * rows) * torch.exp(-((rows - 28) ** 2 + (cols - 20) ** 2) / 150)
    noise = torch.randn(20, 56, 56, generator=torch.Generator().manual_seed(0))
    shares = peak_frequency_share(torch.stack([stripes, patch]))
    assert shares[0] == pytest.approx(1.0, abs=1e-9)
    assert shares[1] > 0.5
    assert peak_frequency_share(noise).max() < 0.03
