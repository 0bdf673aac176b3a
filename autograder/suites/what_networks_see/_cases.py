"""Models, loaders and the known wrong ascents for the what_networks_see suite."""

import torch
import torch.nn.functional as F

from autograder.worker import zoo
from autograder.grading.cases import digit_batch
from autograder.grading.harness import loader_recipe, model_recipe

CLASSES = 10
IMAGE_SHAPE = (1, zoo.IMAGE_SIZE, zoo.IMAGE_SIZE)


def classifier_arguments(n: int, batch_size: int, *, train: bool, seed: int, labels_below: int = CLASSES,
                         guarded: bool = False):
    """[model, loader]: the tiny CNN (it has dropout) and n random 12x12 images in batches of ``batch_size``.
    ``guarded``: the model refuses to run while gradients are recorded and the batches are wrong until moved
    (see harness.expect_inference)."""
    images, labels = digit_batch(n, seed=seed, size=zoo.IMAGE_SIZE)
    return [model_recipe("tiny_cnn", train=train, seed=seed + 1, no_grad_guard=guarded),
            loader_recipe(images, labels % labels_below, batch_size, must_move=guarded)]


def ascent_variant(model, target, *, image_shape, mode="class", steps=100, lr=0.1, start="zeros", seed=0,
                   layer=None, optimizer="adam", objective="log_probability", record="before"):
    """generate_image with one known mistake switched on, to name it in feedback.

    objective: 'log_probability' (right) or 'probability'; record: 'before' each step (right) or 'after' it.
    The noise start draws from torch's global generator seeded with ``seed`` (the same numbers as the right
    generator), so calling it with the worker's request seed reproduces a student who ignored ``seed``.
    """
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    image = (torch.zeros(1, *image_shape) if start == "zeros" else 0.1 * torch.randn(1, *image_shape))
    image = image.to(device).requires_grad_()
    step = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]([image], lr=lr)
    captured = {}
    handle = layer.register_forward_hook(lambda m, i, o: captured.update(output=o)) if layer is not None else None
    model.eval()

    def value():
        output = model(image)
        if mode == "neuron":
            return captured["output"][0][target]
        if objective == "probability":
            return F.softmax(output, dim=1)[0, target]
        return F.log_softmax(output, dim=1)[0, target]

    objectives = []
    try:
        for _ in range(steps):
            current = value()
            (gradient,) = torch.autograd.grad(current, image)
            image.grad = -gradient
            step.step()
            objectives.append((value() if record == "after" else current).item())
    finally:
        if handle is not None:
            handle.remove()
    return image.detach()[0].cpu(), objectives
