"""A small CNN for 28x28 digits, one epoch of training, and evaluation.

Shapes through ``build_cnn`` for a (N, 1, 28, 28) batch::

    Conv(1->32, 3x3)   -> (N, 32, 26, 26)   28 - 3 + 1 = 26
    MaxPool(2)         -> (N, 32, 13, 13)
    Conv(32->64, 3x3)  -> (N, 64, 11, 11)
    MaxPool(2)         -> (N, 64, 5, 5)     floor(11 / 2) = 5
    Conv(64->64, 3x3)  -> (N, 64, 3, 3)
    Flatten            -> (N, 576)          64 * 3 * 3 = 576
    Linear(576->64), ReLU, Linear(64->10)

Parameters: 320 + 18,496 + 36,928 + 36,928 + 650 = 93,322.
"""

import torch
from torch import nn


def build_cnn() -> nn.Sequential:
    """Return the course CNN: (N, 1, 28, 28) -> (N, 10) logits, 93,322 parameters."""
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, kernel_size=3),
        nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def build_mlp(hidden: int = 512, image_size: tuple[int, int] = (28, 28)) -> nn.Sequential:
    """Return a one-hidden-layer perceptron: (N, 1, H, W) -> (N, 10) logits."""
    height, width = image_size
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(height * width, hidden), nn.ReLU(),
        nn.Linear(hidden, 10),
    )


def train_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn, device) -> float:
    """Run one pass over ``loader`` and return the mean loss per sample.

    ``loss_fn`` averages over its batch (the default ``reduction='mean'``), so a
    batch of n samples contributes ``loss * n``; dividing the total by the number
    of samples weights a smaller last batch correctly.
    """
    model.train()  # dropout and batch norm behave differently in training
    total_loss, total_samples = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()  # .backward() accumulates: clear last batch's gradients
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(targets)
        total_samples += len(targets)
    return total_loss / total_samples


@torch.no_grad()
def evaluate(model: nn.Module, loader, loss_fn, device) -> tuple[float, float]:
    """Return (mean loss per sample, accuracy in [0, 1]) of ``model`` over ``loader``.

    Runs in ``eval()`` mode without building a graph. Sums are weighted by
    batch size, so a smaller last batch counts for exactly its samples.
    """
    model.eval()
    total_loss, correct, total_samples = 0.0, 0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        total_loss += loss_fn(logits, targets).item() * len(targets)
        correct += (logits.argmax(dim=1) == targets).sum().item()
        total_samples += len(targets)
    return total_loss / total_samples, correct / total_samples
