"""Seeded inputs shared by the hidden suites and the project's own tests.

Images are non-square and kernels are not only 3x3, so that code which assumes
either fails. Every generator takes a seed: the same case is the same tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor

IMAGE_SHAPE = (7, 11)
KERNEL_SHAPES = [(1, 1), (3, 3), (2, 5), (5, 3)]


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_tensor(shape, seed: int, dtype: torch.dtype = torch.float64) -> Tensor:
    return torch.randn(shape, generator=generator(seed), dtype=torch.float64).to(dtype)


def conv_case(kernel_shape: tuple[int, int], seed: int = 0, image_shape: tuple[int, int] = IMAGE_SHAPE,
              dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """(img, kernel) with standard-normal entries."""
    return random_tensor(image_shape, seed, dtype), random_tensor(kernel_shape, seed + 1000, dtype)


def gradient_case(kernel_shape: tuple[int, int], seed: int = 0, image_shape: tuple[int, int] = IMAGE_SHAPE,
                  dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor, Tensor]:
    """(img, kernel, dloss_dy): dloss_dy has the output's shape (H-h+1, W-w+1)."""
    img, kernel = conv_case(kernel_shape, seed, image_shape, dtype)
    out_shape = (image_shape[0] - kernel_shape[0] + 1, image_shape[1] - kernel_shape[1] + 1)
    return img, kernel, random_tensor(out_shape, seed + 2000, dtype)


def digit_batch(n: int, seed: int, size: int = 28) -> tuple[Tensor, Tensor]:
    """Random 'images' in [0, 1) of shape (n, 1, size, size) and labels in 0..9 (float32, int64)."""
    gen = generator(seed)
    return torch.rand(n, 1, size, size, generator=gen), torch.randint(0, 10, (n,), generator=gen)
