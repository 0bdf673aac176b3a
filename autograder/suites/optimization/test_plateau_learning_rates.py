"""Question: plateau_learning_rates(losses, lr, *, mode, factor, patience, threshold, threshold_mode, cooldown,
min_lr) -> the rate after each step of torch's ReduceLROnPlateau."""

import itertools

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.checks import as_numbers, expect_tensor
from autograder.sandbox.failures import GradingFailure
from autograder.suites.optimization._cases import plateau_losses, plateau_variant, torch_plateau

NAME = "plateau_learning_rates"


def check(student, losses, lr, **options):
    """The student's rates against torch's scheduler, relative tolerance: lr * factor^k and repeated products
    differ in the last place."""
    what = f"{NAME}({len(losses)} losses of size ~{abs(losses[0]):.3g}, lr={lr:g}" + "".join(
        f", {k}={v!r}" for k, v in options.items()) + ")"
    got = student(NAME, losses, lr, **options)
    if not isinstance(got, (list, tuple)):
        raise GradingFailure(f"{what}: got a {type(got).__name__}, expected a list of {len(losses)} rates.")
    got = as_numbers(got, what=f"{what}: the rates")
    threshold_swapped = (mistakes.THRESHOLD_ABSOLUTE if options.get("threshold_mode", "rel") == "rel"
                         else mistakes.THRESHOLD_RELATIVE)
    expected = torch.tensor(torch_plateau(losses, lr, **options), dtype=torch.float64)
    table = {explanation: variant for explanation, mistake in ((mistakes.PATIENCE_OFF_BY_ONE, "patience"),
                                          (mistakes.THRESHOLD_IGNORED, "threshold_ignored"),
                                          (threshold_swapped, "threshold_swapped"),
                                          (mistakes.COOLDOWN_IGNORED, "cooldown"),
                                          (mistakes.MIN_LR_IGNORED, "min_lr"))
             # a mistake that changes nothing on these losses names nothing
             if not torch.equal(variant := torch.tensor(plateau_variant(losses, lr, **options, mistake=mistake),
                                                        dtype=torch.float64), expected)}
    expect_tensor(got, expected,
                  what=f"{what}: the rate after each step", rtol=1e-9, atol=1e-15, mistakes=table)


@pytest.mark.points(2)
@pytest.mark.public
def test_does_it_follow_torch_with_the_defaults_and_a_short_patience(student):
    """On 90 losses that fall and then stall: the defaults, and patience 3 with factor 0.5?"""
    losses = plateau_losses(90, seed=500)
    check(student, losses, 0.1)
    check(student, losses, 0.1, factor=0.5, patience=3)


@pytest.mark.points(1)
def test_do_relative_and_absolute_thresholds_part_far_from_one(student):
    """Losses near 1000 and near 0.001, threshold 1e-3 relative and absolute, in modes min and max?"""
    for scale, threshold_mode, mode in itertools.product((1000.0, 1e-3), ("rel", "abs"), ("min", "max")):
        losses = [loss if mode == "min" else -loss for loss in plateau_losses(70, seed=510, scale=scale)]
        check(student, losses, 0.1, mode=mode, factor=0.5, patience=2, threshold=1e-3,
              threshold_mode=threshold_mode)


@pytest.mark.points(1)
def test_does_every_combination_of_cooldown_patience_and_min_lr_follow_torch(student):
    """Every combination of mode, threshold mode, cooldown 0 or 4, patience 0 or 3 and min_lr 0 or 0.003, and a
    reduction smaller than torch's eps (1e-8), which is skipped?"""
    losses = plateau_losses(80, seed=520)
    for mode, threshold_mode, cooldown, patience, min_lr in itertools.product(
            ("min", "max"), ("rel", "abs"), (0, 4), (0, 3), (0.0, 0.003)):
        signed = losses if mode == "min" else [-loss for loss in losses]
        check(student, signed, 0.1, mode=mode, factor=0.5, patience=patience, threshold=1e-3,
              threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr)
    check(student, losses, 1.5e-8, factor=0.5, patience=1)
