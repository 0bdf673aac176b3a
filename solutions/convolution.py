"""Convolution, written out by hand, and the Sobel edge detector.

Convention (the same as ``torch.nn.functional.conv2d``): "convolution" here is
cross-correlation, indices are 0-based and anchored at the top-left corner of
the window, and only the "valid" positions are computed::

    y[i, j] = sum_k sum_l img[i + k, j + l] * kernel[k, l]
    img: (H, W), kernel: (h, w)  ->  y: (H - h + 1, W - w + 1)
"""

import torch
from torch import Tensor

# Gx responds to changes from left to right (vertical edges), Gy from top to bottom.
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0],
                        [-2.0, 0.0, 2.0],
                        [-1.0, 0.0, 1.0]])
SOBEL_Y = SOBEL_X.T.contiguous()


def compute_convolution_at_position(i: int, j: int, img: Tensor, kernel: Tensor) -> Tensor:
    """Return y[i, j] = sum_k sum_l img[i + k, j + l] * kernel[k, l] as a 0-d tensor.

    (i, j) is the top-left corner of the window, not its centre, so any kernel
    shape (h, w) works. The result has the dtype of ``img * kernel``.
    """
    num_rows_kernel, num_cols_kernel = kernel.shape
    total = torch.zeros((), dtype=torch.result_type(img, kernel), device=img.device)
    for k in range(num_rows_kernel):
        for l in range(num_cols_kernel):
            total = total + img[i + k, j + l] * kernel[k, l]
    return total


def apply_convolution(img: Tensor, kernel: Tensor) -> Tensor:
    """Return the valid cross-correlation of img (H, W) with kernel (h, w): shape (H-h+1, W-w+1)."""
    height, width = img.shape
    num_rows_kernel, num_cols_kernel = kernel.shape
    out_rows, out_cols = height - num_rows_kernel + 1, width - num_cols_kernel + 1
    if out_rows < 1 or out_cols < 1:
        raise ValueError(f"kernel {tuple(kernel.shape)} is larger than image {tuple(img.shape)}")
    out = torch.zeros(out_rows, out_cols, dtype=torch.result_type(img, kernel), device=img.device)
    # Loop over the kernel, not the output: each step adds one shifted, scaled copy
    # of the image. Same sum as the definition, h*w tensor ops instead of H*W*h*w.
    for k in range(num_rows_kernel):
        for l in range(num_cols_kernel):
            out += img[k:k + out_rows, l:l + out_cols] * kernel[k, l]
    return out


def sobel_magnitude(img: Tensor) -> Tensor:
    """Return E = sqrt((Gx * I)^2 + (Gy * I)^2) / max(E), shape (H-2, W-2).

    A constant image has no edges: the result is all zeros, not 0/0 = NaN. Its convolutions are
    rounding noise rather than exact zeros when its value is not a binary fraction (0.7, say), so a
    maximum no larger than 128 * eps * max|I| (eps of the image's dtype) counts as no edge.
    """
    sobel_x = SOBEL_X.to(dtype=img.dtype, device=img.device)
    sobel_y = SOBEL_Y.to(dtype=img.dtype, device=img.device)
    magnitude = torch.sqrt(apply_convolution(img, sobel_x) ** 2 + apply_convolution(img, sobel_y) ** 2)
    peak = magnitude.max()
    rounding_noise = 128 * torch.finfo(magnitude.dtype).eps * img.abs().max()
    if peak <= rounding_noise:
        return torch.zeros_like(magnitude)
    return magnitude / peak
