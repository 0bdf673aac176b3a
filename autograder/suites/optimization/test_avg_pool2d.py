"""Question: avg_pool2d(x, kernel_size, stride=None, padding=0) -> F.avg_pool2d's answer, without library pooling."""

import pytest

from autograder.suites.optimization._pooling import check_case, check_on_cuda, check_without_library_pooling, pool_input

NAME = "avg_pool2d"


@pytest.mark.points(1)
@pytest.mark.public
def test_does_the_stride_default_to_the_kernel_size(student):
    """With stride left out: 2x2 and 3x3 windows side by side on a (2, 3, 9, 10) input, the last rows dropped?"""
    x = pool_input(200)
    check_case(student, NAME, x, 2)
    check_case(student, NAME, x, 3)


@pytest.mark.points(1)
def test_does_the_padding_count_in_the_average(student):
    """With padding 1, are the padded zeros counted (every window divided by h * w, as torch by default)?"""
    x = pool_input(210, negative=False)
    check_case(student, NAME, x, 3, 2, 1)
    check_case(student, NAME, x, (2, 3), (1, 2), 1)
    check_case(student, NAME, pool_input(220, negative=False, shape=(4, 7, 8)), 3, None, 1)


@pytest.mark.points(1)
@pytest.mark.requires_values
def test_is_it_implemented_without_a_library_pooling(student):
    """Does it avoid max_pool2d, avg_pool2d, the adaptive pools and the aten ops behind them?"""
    check_without_library_pooling(student, NAME)


@pytest.mark.points(0)
@pytest.mark.gpu
def test_does_a_cuda_input_give_a_cuda_output(student, cuda):
    """On CUDA: does the output stay on the input's device (the padding made on x's device)?"""
    check_on_cuda(student, NAME, cuda)
