"""Run a reference function on the grader's side exactly as the worker runs the student's.

Both sides build their arguments with ``zoo.materialize`` from the same recipe and
seed torch's global RNG with the same seed just before the call, so a correct
student's training loop and the reference draw the same dropout masks.
"""

from __future__ import annotations

import random

import torch

from autograder.worker import zoo


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
    return value, [zoo.describe_model(model) for model in context["models"]]


def model_recipe(name: str, state_dict: dict | None = None, *, train: bool, device: str = "cpu",
                 seed: int = 0, no_grad_guard: bool = False) -> dict:
    """A model the worker builds (zoo.materialize); ``no_grad_guard``: forward passes fail while gradients are
    recorded (zoo.CourseModel)."""
    return {"__model__": name, "state_dict": state_dict or zoo.build(name, seed).state_dict(),
            "train": train, "device": device, "no_grad_guard": no_grad_guard}


def loader_recipe(images, labels, batch_size: int, shuffle: bool = False, seed: int = 0,
                  must_move: bool = False) -> dict:
    """A DataLoader the worker builds; ``must_move``: its batches are wrong until ``.to(device)`` (zoo.NotYetMoved)."""
    return {"__loader__": {"images": images, "labels": labels, "batch_size": batch_size, "shuffle": shuffle,
                           "seed": seed, "must_move": must_move}}


def never_moved(arguments: list) -> list:
    """The same recipes as a loop that never calls ``.to(device)`` sees them: the grader's mistake variant."""
    return [dict(item, __loader__=dict(item["__loader__"], must_move="never"))
            if isinstance(item, dict) and item.get("__loader__", {}).get("must_move") else item for item in arguments]


def never_switched(arguments: list) -> list:
    """The same recipes as a function that never switches its model's mode sees them (eval() and train() do
    nothing): the grader's mistake variant for a missing eval()."""
    return [dict(item, frozen_mode=True) if isinstance(item, dict) and "__model__" in item else item
            for item in arguments]


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


# What torch says when a model built with no_grad_guard runs while gradients are recorded (zoo.CourseModel).
GRADIENTS_RECORDED_ERROR = "a leaf Variable that requires grad is being used in an in-place operation"


def charged_elsewhere(answer, plain, *, same, values_check) -> bool:
    """Whether a check of one habit (eval(), no_grad, .to(device), no library convolution) failed only because of
    a mistake in the values that another test charges already, so that it is not charged twice.

    ``answer`` failed this check; ``plain()`` gives the student's own answer where the habit cannot matter (a model
    already in eval mode, batches that need no move, nothing blocked), or raises. The habit is right when the two
    answers agree (``same(answer, plain)`` raises GradingFailure otherwise) and the plain answer is a mistake the
    values test recognises (``values_check(plain)`` raises a GradingFailure naming a known mistake). An answer
    that is wrong in an unknown way, or a function that raises, keeps the failure: no points for doing nothing."""
    from autograder.grading.checks import KNOWN_MISTAKE
    from autograder.sandbox.failures import GradingFailure
    from autograder.sandbox.failures import StudentFailure

    if values_check is None:
        return False
    try:
        plain_answer = plain()
        same(answer, plain_answer)
    except (GradingFailure, StudentFailure):
        return False
    try:
        values_check(plain_answer)
    except GradingFailure as values:
        return KNOWN_MISTAKE in str(values)
    return False


def expect_inference(student, name: str, arguments: list, reference, compare, *, seed: int = 0,
                     keywords: dict | None = None, plain: list | None = None, values_check=None):
    """Evaluation code judged by its values alone, never by what the worker says happened. ``arguments`` may hand
    over a model in training mode, one built with ``no_grad_guard`` (a forward pass that records gradients fails),
    and loaders built with ``must_move`` (batches wrong until ``.to(device)``): the answer must still be the
    reference's, which calls eval(), runs under no_grad and moves its batches. ``compare(got, expected, variants)``
    raises GradingFailure; ``variants`` maps the known mistakes (a missing eval(), batches never moved) to a function
    giving the answer each would give. ``plain`` (the same call where none of that matters) and ``values_check``
    (the values test's check of an answer to ``plain``) keep a mistake in the values from costing here too (see
    charged_elsewhere). Returns the student's Reply."""
    from autograder.grading import mistakes
    from autograder.grading.checks import KNOWN_MISTAKE
    from autograder.sandbox.failures import GradingFailure
    from autograder.sandbox.failures import StudentException

    expected, _ = run_locally(reference, *arguments, seed=seed, keywords=keywords)
    variants = {mistakes.MISSING_EVAL: lambda: run_locally(reference, *never_switched(arguments), seed=seed,
                                                           keywords=keywords)[0],
                mistakes.NOT_MOVED: lambda: run_locally(reference, *never_moved(arguments), seed=seed,
                                                        keywords=keywords)[0]}
    try:
        reply = student.call(name, *arguments, seed=seed, keywords=keywords)
    except StudentException as failure:
        if GRADIENTS_RECORDED_ERROR in str(failure):
            raise GradingFailure(f"{name}: the model ran while gradients were recorded (this test's model refuses "
                                 f"to).\n{KNOWN_MISTAKE}{mistakes.GRADIENTS_RECORDED}") from None
        raise
    try:
        compare(reply.value, expected, variants)
    except GradingFailure:
        if plain is None or not charged_elsewhere(
                reply.value, lambda: student(name, *plain, seed=seed, keywords=keywords),
                same=lambda got, mine: compare(got, mine, {}), values_check=values_check):
            raise
    return reply
