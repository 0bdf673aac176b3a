"""What a trained network sees: its confusions, its mistakes, the translated canvas, and the images it prefers.

The set-up is the second half of Feydy's workshop: each 28x28 item is pasted whole at a uniformly random
place on a 56x56 black canvas, so a classifier cannot rely on the item being centred.

``generate_image`` is gradient *ascent on the input*: the network's weights stay fixed and the image moves
to make one output as large as possible. In "class" mode the objective is the log-probability of a class,
``log_softmax(model(x))[0, target]``; it keeps rising as the other classes' scores fall, while the
probability itself saturates at 1 and its gradient vanishes there. In "neuron" mode the objective is one
unit of a layer's output, read by a forward hook that is removed afterwards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def place_on_canvas(images: Tensor, canvas_size: tuple[int, int] = (56, 56),
                    generator: torch.Generator | None = None) -> Tensor:
    """Paste each image of ``images`` (N, ..., h, w) whole at its own uniformly random place on a zero canvas.

    Returns (N, ..., H, W) with (H, W) = ``canvas_size``, the dtype and device of ``images``. For each image
    the top row is uniform in [0, H - h] and the left column in [0, W - w], both ends included, drawn from
    ``generator`` (the same generator state gives the same placements). Nothing is cut off and nothing wraps
    around; the input is not modified.
    """
    height, width = images.shape[-2:]
    canvas_h, canvas_w = canvas_size
    if height > canvas_h or width > canvas_w:
        raise ValueError(f"images of {height}x{width} do not fit on a {canvas_h}x{canvas_w} canvas")
    tops = torch.randint(0, canvas_h - height + 1, (len(images),), generator=generator)
    lefts = torch.randint(0, canvas_w - width + 1, (len(images),), generator=generator)
    canvas = images.new_zeros(*images.shape[:-2], canvas_h, canvas_w)
    for index, (top, left) in enumerate(zip(tops.tolist(), lefts.tolist())):
        canvas[index, ..., top:top + height, left:left + width] = images[index]
    return canvas


@torch.no_grad()
def confusion_matrix(model: nn.Module, loader, num_classes: int, device) -> Tensor:
    """Return the (num_classes, num_classes) int64 matrix whose entry [t, p] counts the samples of true class t
    that ``model`` predicts as p (rows: the truth, columns: the prediction).

    The model runs in eval mode without recording gradients; every batch counts, a smaller last one included.
    """
    model.eval()
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for images, labels in loader:
        predictions = model(images.to(device)).argmax(dim=1).cpu()
        pairs = labels.cpu() * num_classes + predictions
        matrix += torch.bincount(pairs, minlength=num_classes * num_classes).view(num_classes, num_classes)
    return matrix


@torch.no_grad()
def misclassified(model: nn.Module, loader, true_class: int, predicted_class: int, device,
                  limit: int = 16) -> tuple[Tensor, Tensor]:
    """Return (images, probabilities) for the samples of ``true_class`` that ``model`` predicts as
    ``predicted_class``: the first ``limit`` of them in the loader's order.

    images: (k, ...) as the loader gives them, on the CPU; probabilities: (k, C), each row the softmax of the
    model's output for that image. With no such sample, k = 0. Eval mode, no gradients.
    """
    model.eval()
    found_images, found_probabilities = [], []
    for images, labels in loader:
        probabilities = F.softmax(model(images.to(device)), dim=1).cpu()
        chosen = (labels.cpu() == true_class) & (probabilities.argmax(dim=1) == predicted_class)
        found_images.append(images.cpu()[chosen])
        found_probabilities.append(probabilities[chosen])
    return torch.cat(found_images)[:limit], torch.cat(found_probabilities)[:limit]


def generate_image(model: nn.Module, target, *, image_shape: tuple[int, ...], mode: str = "class",
                   steps: int = 100, lr: float = 0.1, start: str = "zeros", seed: int = 0,
                   layer: nn.Module | None = None, optimizer: str = "adam") -> tuple[Tensor, list[float]]:
    """Gradient ascent on one input image of ``image_shape`` (C, H, W); return (image on the CPU, objectives).

    mode "class": maximise log_softmax(model(x))[0, target], the log-probability of class ``target``.
    mode "neuron": maximise output[0][target] of ``layer`` (an int for a linear layer, a tuple (channel,
    row, col) for a convolution), read by a forward hook that is removed before returning.
    start "zeros" begins from a black image; "noise" from 0.1 * torch.randn(1, *image_shape) drawn from
    ``torch.Generator().manual_seed(seed)``. optimizer "adam" or "sgd" (plain), with learning rate ``lr``,
    over the image only. ``objectives[i]`` is the objective of the image step i starts from. The model runs
    in eval mode; its parameters are never changed, and its train/eval mode is restored afterwards.
    """
    if mode not in ("class", "neuron"):
        raise ValueError(f"mode must be 'class' or 'neuron', got {mode!r}")
    if mode == "neuron" and layer is None:
        raise ValueError("mode='neuron' needs the layer whose unit to maximise")
    device = next(model.parameters()).device
    if start == "zeros":
        image = torch.zeros(1, *image_shape)
    elif start == "noise":
        image = 0.1 * torch.randn(1, *image_shape, generator=torch.Generator().manual_seed(seed))
    else:
        raise ValueError(f"start must be 'zeros' or 'noise', got {start!r}")
    image = image.to(device).requires_grad_()
    optimizers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    step = optimizers[optimizer]([image], lr=lr)  # the image is the only thing this optimizer moves
    captured = {}
    handle = (layer.register_forward_hook(lambda module, inputs, output: captured.update(output=output))
              if mode == "neuron" else None)
    was_training = model.training
    model.eval()
    objectives = []
    try:
        for _ in range(steps):
            output = model(image)
            objective = (F.log_softmax(output, dim=1)[0, target] if mode == "class"
                         else captured["output"][0][target])
            objectives.append(objective.item())
            # The gradient of the objective with respect to the image alone: the weights' .grad stay untouched.
            (gradient,) = torch.autograd.grad(objective, image)
            image.grad = -gradient  # the optimizers descend; ascent is descent on -objective
            step.step()
    finally:
        if handle is not None:
            handle.remove()
        model.train(was_training)
    return image.detach()[0].cpu(), objectives


def build_canvas_cnn() -> nn.Sequential:
    """A small CNN for 56x56 canvases in the workshop's spirit: conv 5x5, pool, conv 5x5, pool, two linear layers.

    (N, 1, 56, 56) -> conv -> (N, 8, 52, 52) -> pool -> (N, 8, 26, 26) -> conv -> (N, 16, 22, 22)
    -> pool -> (N, 16, 11, 11) -> (N, 1936) -> (N, 64) -> (N, 10) logits.
    """
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 11 * 11, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def peak_frequency_share(images: Tensor, radius: int = 1) -> Tensor:
    """For each image of (N, H, W), the share of its energy (mean removed) near its strongest spatial frequency.

    "Near" is the (2 radius + 1)^2 block of Fourier coefficients around the strongest one, and the same block
    around its conjugate twin (a real image's coefficients come in pairs): 18 of the 3,136 coefficients of a
    56x56 image when radius = 1. Stripes, even a patch of stripes that fades out, keep most of their energy
    there; white noise spreads its energy over every coefficient, so its share is about 18 / 3,136.
    """
    centred = images.to(torch.float64) - images.to(torch.float64).mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(centred).abs().pow(2)
    height, width = power.shape[-2:]
    offsets = torch.arange(-radius, radius + 1)
    shares = []
    for spectrum in power:
        row, col = divmod(int(spectrum.argmax()), width)
        near = torch.zeros(height, width, dtype=torch.bool)
        for peak_row, peak_col in ((row, col), (-row % height, -col % width)):
            near[((peak_row + offsets) % height)[:, None], ((peak_col + offsets) % width)[None, :]] = True
        shares.append(spectrum[near].sum() / spectrum.sum().clamp_min(1e-300))
    return torch.stack(shares) if shares else torch.zeros(0, dtype=torch.float64)
