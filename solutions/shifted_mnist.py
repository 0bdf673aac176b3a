"""Translations of images, and accuracy as a function of the shift.

A shift by (dx, dy) moves the content dx pixels right and dy pixels down::

    out[..., r, c] = images[..., r - dy, c - dx]   where that index is inside the image
    out[..., r, c] = 0                              elsewhere

Pixels pushed off one side are lost and the vacated border is zero (black): a
digit does not reappear on the other side as it would with ``torch.roll``.
"""

import torch
from torch import Tensor


def shift_images(images: Tensor, dx: int, dy: int) -> Tensor:
    """Return ``images`` (..., H, W) translated dx pixels right and dy down, zero-filled.

    Negative values shift left / up. |dx| >= W or |dy| >= H gives all zeros.
    Shape, dtype and device are preserved; the input is not modified.
    """
    height, width = images.shape[-2:]
    out = torch.zeros_like(images)
    if abs(dx) >= width or abs(dy) >= height:
        return out
    # Source rows [src_r0, src_r1) land on destination rows [dst_r0, dst_r1); same for columns.
    src_r0, src_r1 = max(0, -dy), min(height, height - dy)
    src_c0, src_c1 = max(0, -dx), min(width, width - dx)
    out[..., src_r0 + dy:src_r1 + dy, src_c0 + dx:src_c1 + dx] = images[..., src_r0:src_r1, src_c0:src_c1]
    return out


@torch.no_grad()
def evaluate_shifted(model: torch.nn.Module, images: Tensor, labels: Tensor, shifts, device,
                     batch_size: int = 256) -> dict[tuple[int, int], float]:
    """Return {(dx, dy): accuracy of ``model`` on ``images`` shifted by (dx, dy)} for each shift.

    images: (N, 1, H, W), labels: (N,). The model runs in eval mode, in batches
    of ``batch_size``; accuracy counts correct samples over N, so a smaller last
    batch is weighted correctly.
    """
    model.eval()
    accuracies = {}
    for dx, dy in shifts:
        shifted = shift_images(images, dx, dy)
        correct = 0
        for start in range(0, len(labels), batch_size):
            batch = shifted[start:start + batch_size].to(device)
            predictions = model(batch).argmax(dim=1).cpu()
            correct += (predictions == labels[start:start + batch_size].cpu()).sum().item()
        accuracies[(int(dx), int(dy))] = correct / len(labels)
    return accuracies


class RandomCanvasPlacement:
    """Transform: paste a (..., h, w) image at a uniformly random spot of a larger zero canvas.

    This is the "shifted MNIST" of the original workshop (28x28 digits on a 56x56
    canvas). Pass a ``torch.Generator`` for repeatable placements.
    """

    def __init__(self, canvas_size: tuple[int, int] = (56, 56), generator: torch.Generator | None = None):
        self.canvas_size = canvas_size
        self.generator = generator

    def __call__(self, image: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        canvas_h, canvas_w = self.canvas_size
        if height > canvas_h or width > canvas_w:
            raise ValueError(f"image {height}x{width} does not fit on a {canvas_h}x{canvas_w} canvas")
        top = int(torch.randint(0, canvas_h - height + 1, (1,), generator=self.generator))
        left = int(torch.randint(0, canvas_w - width + 1, (1,), generator=self.generator))
        canvas = image.new_zeros(*image.shape[:-2], canvas_h, canvas_w)
        canvas[..., top:top + height, left:left + width] = image
        return canvas

    def __repr__(self) -> str:
        return f"{type(self).__name__}(canvas_size={self.canvas_size})"


def random_shift(images: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Shift each image of a batch (N, ..., H, W) by its own random (dx, dy) in [-max_shift, max_shift].

    Training-time augmentation that keeps the image size, so the same models can
    be compared at test time with ``shift_images``.
    """
    offsets = torch.randint(-max_shift, max_shift + 1, (len(images), 2), generator=generator)
    return torch.stack([shift_images(image, int(dx), int(dy)) for image, (dx, dy) in zip(images, offsets)])
