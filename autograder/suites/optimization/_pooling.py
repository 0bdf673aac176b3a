"""The checks the two pooling questions share: torch's pooling on the same cases, and the known wrong ones."""

import torch.nn.functional as F

from autograder.grading import mistakes
from autograder.grading.cases import random_tensor
from autograder.grading.checks import expect_no_library_convolution, expect_tensor

TORCH = {"max_pool2d": F.max_pool2d, "avg_pool2d": F.avg_pool2d}


def pool_input(seed: int, negative: bool = False, shape=(2, 3, 9, 10)):
    x = random_tensor(shape, seed)
    return -x.abs() - 0.1 if negative else x  # all below zero: a zero in the padding would win a max


def known_mistakes(name, x, kernel_size, stride, padding) -> dict:
    table = {}
    if stride is None:
        table[mistakes.POOL_STRIDE_ONE] = lambda: TORCH[name](x, kernel_size, 1, padding)
    if padding:
        if name == "max_pool2d":
            table[mistakes.POOL_PADDED_WITH_ZEROS] = lambda: F.max_pool2d(
                F.pad(x, (padding, padding, padding, padding)), kernel_size, stride)
        else:
            table[mistakes.AVERAGE_EXCLUDES_PADDING] = lambda: F.avg_pool2d(x, kernel_size, stride, padding,
                                                                            count_include_pad=False)
    return table


def check_case(student, name, x, kernel_size, stride=None, padding=0):
    args = (x, kernel_size) + (() if stride is None and not padding else (stride,)) + ((padding,) if padding else ())
    shown = ", ".join(f"{k}={v}" for k, v in (("stride", stride), ("padding", padding)) if v is not None and
                      (k == "stride" or v))
    what = f"{name}(x, kernel_size={kernel_size}{', ' + shown if shown else ''}) with x {tuple(x.shape)}"
    expect_tensor(student(name, *args), TORCH[name](x, kernel_size, stride, padding), what=what,
                  mistakes=known_mistakes(name, x, kernel_size, stride, padding))


def check_without_library_pooling(student, name):
    x = pool_input(290)
    expect_no_library_convolution(student, name, x, 3, 2, 1, expected=TORCH[name](x, 3, 2, 1),
                                  mistakes=known_mistakes(name, x, 3, 2, 1), blocks=("pooling",),
                                  advice="Take one strided slice of the padded input per position in the window.")


def check_on_cuda(student, name, cuda):
    x = pool_input(295)
    expect_tensor(student(name, x.to(cuda), 3, 2, 1), TORCH[name](x, 3, 2, 1).to(cuda),
                  what=f"{name} on CUDA tensors", check_dtype=False)
