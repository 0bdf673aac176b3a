"""Run a reference function on the grader's side exactly as the worker runs the student's.

Both sides build their arguments with ``zoo.materialize`` from the same recipe and
seed torch's global RNG with the same seed just before the call, so a correct
student's training loop and the reference draw the same dropout masks.
"""

from __future__ import annotations

import random

import torch

from autograder import zoo


def run_locally(function, *args, seed: int = 0, keywords: dict | None = None, **kwargs) -> tuple[object, list[dict]]:
    """Return (value, model reports) of ``function`` called on materialized arguments.

    ``keywords``: keyword arguments named like this function's own (``seed``), as in ``StudentCode.call``.
    """
    kwargs = {**kwargs, **(keywords or {})}
    context = {"models": []}
    args = zoo.materialize(list(args), context)
    kwargs = zoo.materialize(dict(kwargs), context)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed), random.seed(seed)
        value = function(*args, **kwargs)
    return value, [model.report() for model in context["models"]]


def model_recipe(name: str, state_dict: dict | None = None, *, train: bool, device: str = "cpu",
                 seed: int = 0) -> dict:
    return {"__model__": name, "state_dict": state_dict or zoo.build(name, seed).state_dict(),
            "train": train, "device": device}


def loader_recipe(images, labels, batch_size: int, shuffle: bool = False, seed: int = 0) -> dict:
    return {"__loader__": {"images": images, "labels": labels, "batch_size": batch_size, "shuffle": shuffle,
                           "seed": seed}}


def train_epoch_variant(model, loader, optimizer, loss_fn, device, *, zero_grad: bool = True,
                        set_train: bool = True, reduction: str = "per_sample") -> float:
    """A training loop with one known mistake switched on, to recognise it in a student's results.

    reduction: 'per_sample' (right), 'batch_means' (mean of batch means), 'last' (last batch), 'sum'.
    """
    if set_train:
        model.train()
    losses, sizes = [], []
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        if zero_grad:
            optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item()), sizes.append(len(targets))
    return _reduce(losses, sizes, reduction)


@torch.no_grad()
def evaluate_variant(model, loader, loss_fn, device, *, reduction: str = "per_sample") -> tuple[float, float]:
    model.eval()
    losses, sizes, correct = [], [], 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        losses.append(loss_fn(logits, targets).item()), sizes.append(len(targets))
        correct += (logits.argmax(1) == targets).sum().item()
    return _reduce(losses, sizes, reduction), correct / sum(sizes)


def _reduce(losses: list[float], sizes: list[int], reduction: str) -> float:
    if reduction == "per_sample":
        return sum(loss * size for loss, size in zip(losses, sizes)) / sum(sizes)
    if reduction == "batch_means":
        return sum(losses) / len(losses)
    if reduction == "last":
        return losses[-1]
    if reduction == "sum":
        return sum(losses)
    raise ValueError(reduction)
