"""solutions/optimization.py against torch itself, and the suite's cases against what they claim to exercise."""

import itertools
import random

import pytest
import torch
import torch.nn.functional as F

from autograder.grading.harness import run_locally
from autograder.suites.optimization import _cases as cases
from solutions import optimization as reference


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("channels, out_channels, groups, stride, padding, dilation, kernel", [
    (4, 6, 2, 2, 1, 2, (3, 2)), (3, 3, 3, (1, 2), (2, 0), (1, 3), (2, 3)), (2, 4, 1, 1, 0, 1, (1, 1)),
    (1, 1, 1, 3, 2, 2, (4, 5))])
def test_does_conv2d_match_torch_for_strides_paddings_dilations_and_groups(channels, out_channels, groups, stride,
                                                                           padding, dilation, kernel):
    x, weight = randn(2, channels, 9, 11, seed=1), randn(out_channels, channels // groups, *kernel, seed=2)
    bias = randn(out_channels, seed=3)
    expected = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    got = reference.conv2d(x, weight, bias, stride, padding, dilation, groups)
    assert got.shape[-2:] == (reference.conv_output_size(9, kernel[0], *[reference._pair(v)[0] for v in
                                                                         (stride, padding, dilation)]),
                              reference.conv_output_size(11, kernel[1], *[reference._pair(v)[1] for v in
                                                                          (stride, padding, dilation)]))
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0)), (3, None, 1)])
@pytest.mark.parametrize("sign", [1, -1])
def test_do_the_pools_match_torch_with_their_defaults_and_padding(kernel, stride, padding, sign):
    x = sign * randn(2, 3, 9, 10, seed=4).abs()
    torch.testing.assert_close(reference.max_pool2d(x, kernel, stride, padding), F.max_pool2d(x, kernel, stride, padding))
    torch.testing.assert_close(reference.avg_pool2d(x, kernel, stride, padding), F.avg_pool2d(x, kernel, stride, padding))


@pytest.mark.parametrize("options", [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9,
                                     dampening=0.3, weight_decay=0.1), dict(lr=0.1, momentum=0.8, weight_decay=0.05,
                                                                            nesterov=True)])
def test_does_sgd_step_follow_torch_exactly(options):
    param0, grads = randn(5, seed=5), [randn(5, seed=6 + t) for t in range(50)]
    expected = cases.torch_trajectory(torch.optim.SGD, param0, grads, **options)
    assert torch.equal(cases.trajectory(reference.sgd_step, param0, grads, **options), expected)


@pytest.mark.parametrize("scale, options", [(1.0, dict(lr=1e-2)), (1e-7, dict(lr=1e-2)),
                                            (1.0, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1))])
def test_does_adam_step_follow_torch_and_the_textbook_formula_to_rounding(scale, options):
    param0, grads = randn(5, seed=7), [scale * randn(5, seed=8 + t) for t in range(200)]
    expected = cases.torch_trajectory(torch.optim.Adam, param0, grads, **options)
    assert torch.equal(cases.trajectory(reference.adam_step, param0, grads, **options), expected)
    textbook = cases.trajectory(cases.adam_variant, param0, grads, **options)
    torch.testing.assert_close(textbook, expected, rtol=1e-12, atol=1e-15)


def test_does_plateau_learning_rates_follow_torch_on_random_settings():
    draw = random.Random(0)
    for _ in range(300):
        scale = draw.choice([1.0, 1000.0, 1e-3])
        losses = [scale * (1 + 0.3 * draw.random()) * (0.999 ** i if draw.random() < 0.5 else 1) for i in range(60)]
        options = dict(mode=draw.choice(["min", "max"]), factor=draw.choice([0.1, 0.5]),
                       patience=draw.choice([0, 2, 5]), threshold=draw.choice([1e-4, 0.1, 1.0]),
                       threshold_mode=draw.choice(["rel", "abs"]), cooldown=draw.choice([0, 3]),
                       min_lr=draw.choice([0.0, 1e-3]))
        lr = draw.choice([0.1, 1e-7])
        expected = cases.torch_plateau(losses, lr, **options)
        got = reference.plateau_learning_rates(losses, lr, **options)
        assert got == pytest.approx(expected, rel=1e-12, abs=0), options
        assert cases.plateau_variant(losses, lr, **options) == pytest.approx(expected, rel=1e-12, abs=0), options


def test_does_each_plateau_mistake_change_the_rates_somewhere_in_the_suites_cases():
    """Each variant the suite names differs from torch on at least one case the suite runs."""
    runs = [(cases.plateau_losses(90, seed=500), 0.1, dict(factor=0.5, patience=3))]
    runs += [(cases.plateau_losses(70, seed=510, scale=scale), 0.1, dict(factor=0.5, patience=2, threshold=1e-3,
                                                                          threshold_mode=mode))
             for scale, mode in itertools.product((1000.0, 1e-3), ("rel", "abs"))]
    runs += [(cases.plateau_losses(80, seed=520), 0.1, dict(factor=0.5, patience=3, threshold=1e-3, cooldown=4,
                                                            min_lr=0.003))]
    for mistake in ("patience", "threshold_ignored", "threshold_swapped", "cooldown", "min_lr"):
        assert any(cases.plateau_variant(losses, lr, **options, mistake=mistake) != cases.torch_plateau(
            losses, lr, **options) for losses, lr, options in runs), mistake


@pytest.mark.parametrize("seed", [700, 711])
def test_do_the_train_module_cases_run_long_enough_for_the_schedule_to_drop_the_rate(seed):
    """Otherwise stepping the scheduler before the optimizer would go unseen."""
    arguments = cases.mlp_arguments(seed)
    options = dict(n_epochs=150, learning_rate=0.05)
    losses, _ = run_locally(reference.train_module, *arguments, **options)
    rates = reference.plateau_learning_rates(losses, 0.05)
    assert rates[-2] < 0.05, "no drop before the last epoch"
    early, _ = run_locally(lambda *a, **k: cases.train_module_variant(*a, **k, mistake="scheduler_first"),
                           *arguments, **options)
    assert not torch.allclose(torch.tensor(early), torch.tensor(losses), rtol=1e-3)
