"""Question: conv2d(x, weight, bias, stride, padding, dilation, groups) -> F.conv2d's answer, computed by hand."""

import pytest
import torch
import torch.nn.functional as F

from autograder.grading import mistakes
from autograder.grading.cases import random_tensor
from autograder.grading.checks import as_tensor, expect_dtype_kept, expect_no_library_convolution, expect_tensor, \
    expect_value_error
from autograder.sandbox.failures import GradingFailure
from solutions.optimization import conv_output_size

NAME = "conv2d"


def conv_inputs(channels, out_channels, groups, kernel, seed, image=(9, 11), bias=True, dtype=torch.float64):
    x = random_tensor((2, channels, *image), seed, dtype)
    weight = random_tensor((out_channels, channels // groups, *kernel), seed + 1, dtype)
    return x, weight, (random_tensor((out_channels,), seed + 2, dtype) if bias else None)


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def wrong_sizes(x, weight, stride, padding, dilation) -> dict:
    """The output shapes of the two wrong size formulas, each with the mistake it names."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    (height, width), (kh, kw) = x.shape[-2:], weight.shape[-2:]
    head = (x.shape[0], weight.shape[0])
    return {head + (conv_output_size(height, kh, sh, ph), conv_output_size(width, kw, sw, pw)):
            mistakes.OUTPUT_SIZE_NO_DILATION,
            head + (conv_output_size(height, kh, sh, 0, dh), conv_output_size(width, kw, sw, 0, dw)):
            mistakes.OUTPUT_SIZE_NO_PADDING}


def check_case(student, x, weight, bias, stride=1, padding=0, dilation=1, groups=1):
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    expected = F.conv2d(x, weight, bias, **options)
    what = (f"{NAME}(x, weight, bias) with x {tuple(x.shape)}, weight {tuple(weight.shape)}"
            f"{'' if bias is not None else ' (no bias)'}, " + ", ".join(f"{k}={v}" for k, v in options.items()))
    got = as_tensor(student(NAME, x, weight, bias, **options), what=what)
    if got.shape != expected.shape:
        named = {shape: name for shape, name in wrong_sizes(x, weight, stride, padding, dilation).items()
                 if shape != tuple(expected.shape)}
        if tuple(got.shape) in named:
            raise GradingFailure(f"{what}: got shape {tuple(got.shape)}, expected {tuple(expected.shape)}.\n"
                                 f"Your output matches a known mistake: {named[tuple(got.shape)]}")
    expect_tensor(got, expected, what=what)


@pytest.mark.points(2)
@pytest.mark.public
def test_do_stride_padding_and_dilation_match_conv2d(student):
    """With a bias: stride 2 and padding 1, dilation 2 and padding 2, and both at once, on 9x11 images?"""
    x, weight, bias = conv_inputs(3, 4, 1, (3, 2), seed=100)
    check_case(student, x, weight, bias, stride=2, padding=1)
    check_case(student, x, weight, bias, padding=2, dilation=2)
    check_case(student, x, weight, bias, stride=2, padding=1, dilation=2)


@pytest.mark.points(1)
def test_do_groups_pairs_and_no_bias_match_conv2d(student):
    """Groups 2 and 3, pairs for stride, padding and dilation, no bias, a 1x1 and a 4x3 kernel?"""
    x, weight, bias = conv_inputs(4, 6, 2, (3, 3), seed=110)
    check_case(student, x, weight, bias, stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=2)
    x, weight, _ = conv_inputs(3, 6, 3, (4, 3), seed=120, image=(10, 8), bias=False)
    check_case(student, x, weight, None, stride=(2, 3), padding=(0, 1), groups=3)
    x, weight, bias = conv_inputs(5, 2, 1, (1, 1), seed=130)
    check_case(student, x, weight, bias, stride=3)


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_are_impossible_groups_and_empty_outputs_refused_and_float32_kept(student):
    """A ValueError when C is not divisible by groups or the dilated kernel does not fit; float32 stays float32?"""
    x, weight, bias = conv_inputs(3, 4, 1, (3, 3), seed=140)
    expect_value_error(student, NAME, x, weight[:, :1], None, 1, 0, 1, 2,
                       what=f"{NAME} with 3 input channels and groups=2",
                       why="groups must divide the input channels")
    expect_value_error(student, NAME, x[..., :4, :4], weight, None, 1, 0, 2, 1,
                       what=f"{NAME} with a 4x4 input and a 3x3 kernel dilated by 2 (it spans 5x5)",
                       why="the output would be empty: floor((4 + 0 - 2 * 2 - 1) / 1) + 1 = 0")
    expect_dtype_kept(student, NAME, lambda dtype: conv_inputs(3, 4, 1, (3, 3), seed=150, dtype=dtype)[:2])


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_is_it_implemented_without_a_library_convolution(student):
    """Does it avoid conv2d, unfold and the aten ops behind them?"""
    x, weight, bias = conv_inputs(4, 2, 2, (3, 2), seed=160)
    expect_no_library_convolution(student, NAME, x, weight, bias, 2, 1, 2, 2,
                                  expected=F.conv2d(x, weight, bias, 2, 1, 2, 2),
                                  advice="Pad x with zeros and add one strided slice per kernel tap.")


@pytest.mark.points(0)
@pytest.mark.gpu
def test_does_a_cuda_input_give_a_cuda_output(student, cuda):
    """On CUDA: does the output stay on the input's device (new tensors made on x's device)?"""
    x, weight, bias = conv_inputs(4, 2, 2, (3, 2), seed=170)
    expect_tensor(student(NAME, x.to(cuda), weight.to(cuda), bias.to(cuda), 2, 1, 2, 2),
                  F.conv2d(x, weight, bias, 2, 1, 2, 2).to(cuda), what=f"{NAME} on CUDA tensors", check_dtype=False)
