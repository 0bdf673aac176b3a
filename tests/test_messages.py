"""Messages a student can act on: values in the course's words, and what was returned named as what it is."""

import pytest
import torch

from autograder.sandbox.failures import GradingFailure
from autograder.sandbox.values import NumpyArray
from autograder.grading.checks import expect_dtype_kept, expect_tensor


def failure(function, *args, **kwargs) -> str:
    with pytest.raises(GradingFailure) as caught:
        function(*args, **kwargs)
    return str(caught.value)


def test_is_a_value_mismatch_told_as_got_expected_and_how_far_apart():
    expected = torch.zeros(4, 6, dtype=torch.float64)
    got = expected.clone()
    got[2, 5] = 0.5
    message = failure(expect_tensor, got, expected, what="apply_convolution on a (6, 8) float64 image")
    assert "1 of 24 values differ" in message and "index [2, 5]: got 0.5, expected 0, 0.5 apart" in message
    assert "Tensor-likes" not in message and "Mismatched elements" not in message


def test_is_a_numpy_array_named_as_one():
    got = NumpyArray(torch.zeros(4, 6, dtype=torch.float64))
    message = failure(expect_tensor, got, torch.zeros(4, 6, dtype=torch.float32), what="apply_convolution")
    assert "a numpy float64 array of shape (4, 6)" in message and "expected a torch.float32 tensor" in message
    # graded by value where the dtype is not the question
    assert torch.equal(expect_tensor(got, torch.zeros(4, 6), what="x", check_dtype=False), got.tensor)


def test_is_a_python_float_named_as_one_not_as_a_float32_tensor():
    message = failure(expect_dtype_kept, lambda name, *args: 1.5, "apply_convolution", lambda dtype: ())
    assert "a Python float (1.5), not a tensor" in message and "torch.float32" in message
    assert "got dtype torch.float32" not in message
    # a Python float is compared as the double it is
    expect_tensor(0.1 + 0.2, torch.tensor(0.3, dtype=torch.float64), what="x", check_dtype=False)
