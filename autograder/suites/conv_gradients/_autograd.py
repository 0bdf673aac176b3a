"""Expected gradients straight from torch.autograd (float64), independent of solutions/."""

import torch.nn.functional as F


def autograd_gradients(img, kernel, dloss_dy):
    """(dL/dx, dL/dK) for L = sum(conv(x, K) * dloss_dy), i.e. upstream gradient dloss_dy."""
    img, kernel = img.clone().requires_grad_(), kernel.clone().requires_grad_()
    F.conv2d(img[None, None], kernel[None, None])[0, 0].backward(dloss_dy)
    return img.grad, kernel.grad
