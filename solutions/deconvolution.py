"""Deconvolution by gradient descent, and why the metric of the descent matters.

Signals are 1-D tensors of length N. A kernel has odd length K = 2c + 1. The blur is the "same"
cross-correlation with zero padding, like ``F.conv1d(x[None, None], k[None, None], padding=c)``::

    (k * x)[i] = sum_{m=0}^{K-1} k[m] x[i + m - c],      x[j] = 0 outside 0 <= j < N,     shape (N,)

The blur distance to a target y is f(x) = ||k * x - y||^2 / N. Writing B for the (N, N) matrix of the
blur, f(x) = ||Bx - y||^2 / N and its L2 gradient is

    grad f(x) = (2 / N) B^T (Bx - y) = (2 / N) k~ * (k * x - y),      k~[m] = k[K - 1 - m]

because B^T, the adjoint of blurring with k, is blurring with the mirrored kernel k~. That gradient is a
*blurred* residual: the descent can hardly create the high frequencies the blur removed.

In the metric <u, v>_M = u^T M v with M = B^T B + lam I, the gradient is M^{-1} grad f(x). Descending
along it is the L2 descent on f o A^{-1} where M = A^T A (the workshop's remark, written with A^T A):
each frequency of the residual is divided by about |k^(w)|^2 + lam, so the frequencies the blur damps are
no longer left behind.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def blur(x: Tensor, kernel: Tensor) -> Tensor:
    """Return k * x along the last axis of x (..., N): the "same" cross-correlation with zero padding.

    Shape and dtype of x are kept; leading axes are a batch. The kernel must be 1-D with an odd length.
    """
    if kernel.ndim != 1 or kernel.shape[0] % 2 == 0:
        raise ValueError(f"the kernel must be 1-D with an odd length, got shape {tuple(kernel.shape)}")
    size, half = x.shape[-1], kernel.shape[0] // 2
    padded = torch.zeros(*x.shape[:-1], size + 2 * half, dtype=x.dtype, device=x.device)
    padded[..., half:half + size] = x
    out = torch.zeros_like(x)
    for m in range(kernel.shape[0]):  # tap m reads x[i + m - c], which sits at padded[i + m]
        out = out + kernel[m] * padded[..., m:m + size]
    return out


def gaussian_kernel(sigma: float) -> Tensor:
    """A Gaussian window of 2 * ((6 sigma) // 2) + 1 taps (as scipy's get_window in the workshop), summing to 1."""
    size = int(2 * ((6 * sigma) // 2) + 1)
    offsets = torch.arange(size, dtype=torch.float64) - size // 2
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def blur_distance(x: Tensor, y: Tensor, kernel: Tensor) -> Tensor:
    """Return f(x) = ||k * x - y||^2 / N as a 0-d tensor."""
    return ((blur(x, kernel) - y) ** 2).sum() / y.shape[0]


def blur_distance_gradient(x: Tensor, y: Tensor, kernel: Tensor) -> Tensor:
    """Return grad f(x) = (2 / N) k~ * (k * x - y), k~ the mirrored kernel: shape (N,), derived by hand."""
    residual = blur(x, kernel) - y
    return 2 / y.shape[0] * blur(residual, kernel.flip(0))


def gradient_descent(loss_and_gradient: Callable[[Tensor], tuple], x0: Tensor, lr: float, steps: int,
                     momentum: float = 0.0) -> tuple[Tensor, list[float]]:
    """Heavy-ball descent: v <- momentum v + g(x), x <- x - lr v, from x0 and v = 0 (torch.optim.SGD's rule).

    ``loss_and_gradient(x)`` returns (f(x), grad f(x)). Returns the last iterate and the loss of the iterate
    each step starts from (``steps`` floats, the first one f(x0)). x0 is not modified.
    """
    x, velocity, losses = x0.clone(), torch.zeros_like(x0), []
    for _ in range(steps):
        loss, gradient = loss_and_gradient(x)
        losses.append(float(loss))
        velocity = momentum * velocity + gradient
        x = x - lr * velocity
    return x, losses


def metric_gradient(x: Tensor, y: Tensor, kernel: Tensor, lam: float) -> Tensor:
    """Return the gradient of f in the metric M = B^T B + lam I: the solution g of M g = grad f(x).

    B, the (N, N) matrix of the blur, has column j = blur(e_j), e_j the j-th unit vector. Blurring the rows
    of the identity gives those columns as rows: B = blur(I)^T.
    """
    identity = torch.eye(x.shape[0], dtype=x.dtype, device=x.device)
    matrix = blur(identity, kernel).T
    metric = matrix.T @ matrix + lam * identity
    return torch.linalg.solve(metric, blur_distance_gradient(x, y, kernel))
