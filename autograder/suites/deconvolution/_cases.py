"""Signals and kernels for the deconvolution suite, and the course's functions that answer through the grader."""


import solutions.deconvolution as deconvolution
from autograder.grading.cases import random_tensor
from autograder.worker.zoo import conv1d_same as torch_blur  # F.conv1d's blur: independent of solutions/
from solutions.deconvolution import gaussian_kernel  # the notebook's Gaussian (a test checks the two agree)

# Blur cases: (signal length, kernel length). Asymmetric random kernels tell a mirrored kernel from the right one;
# a kernel longer than the signal and a 1-tap kernel test the padding.
BLUR_SHAPES = [(11, 3), (9, 5), (4, 7), (10, 1)]


def autograd_gradient(x, y, kernel):
    """grad of ||k * x - y||^2 / N from torch.autograd, in float64."""
    x = x.clone().requires_grad_()
    (((torch_blur(x, kernel) - y) ** 2).sum() / y.shape[0]).backward()
    return x.grad


def signal_case(size: int, kernel_size: int, seed: int, symmetric: bool = False):
    """(x, y, kernel) in float64; a symmetric case uses a Gaussian of about ``kernel_size`` taps."""
    x, y = random_tensor((size,), seed), random_tensor((size,), seed + 1)
    kernel = gaussian_kernel(kernel_size / 6) if symmetric else random_tensor((kernel_size,), seed + 2)
    return x, y, kernel


# The course's helpers, answering the student's calls to theirs (a mistake in blur is charged on blur alone).
COURSE_BLUR = {"blur": deconvolution.blur}
COURSE_HELPERS = {"blur": deconvolution.blur, "blur_distance_gradient": deconvolution.blur_distance_gradient}
