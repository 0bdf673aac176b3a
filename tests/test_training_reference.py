"""The reference CNN, training loop, evaluation and shifts behave as the course states."""

import warnings

import pytest
import torch
from torch import nn

from autograder.course.data import OfflineFallbackWarning, load_digits, make_loader
from solutions.shifted_mnist import RandomCanvasPlacement, evaluate_shifted, random_shift, shift_images
from solutions.training import build_cnn, build_mlp, evaluate, train_epoch


@pytest.fixture(scope="module")
def digits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OfflineFallbackWarning)
        return load_digits(root="/nonexistent-course-data")


def test_does_the_cnn_have_93322_parameters_and_map_to_ten_logits():
    model = build_cnn()
    assert sum(p.numel() for p in model.parameters()) == 93_322
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


def test_does_the_mlp_map_images_to_ten_logits():
    assert build_mlp(hidden=32)(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_do_two_epochs_lower_the_loss_on_the_embedded_digits(digits):
    torch.manual_seed(0)
    model = build_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    test_loader = make_loader(digits.test_images, digits.test_labels, batch_size=500)
    loss_before, _ = evaluate(model, test_loader, loss_fn, "cpu")
    first = train_epoch(model, make_loader(digits.train_images, digits.train_labels, 64, True, seed=0),
                        optimizer, loss_fn, "cpu")
    second = train_epoch(model, make_loader(digits.train_images, digits.train_labels, 64, True, seed=1),
                         optimizer, loss_fn, "cpu")
    loss_after, accuracy = evaluate(model, test_loader, loss_fn, "cpu")
    assert second < first < loss_before
    assert loss_after < loss_before and accuracy > 0.8


def test_is_evaluate_weighted_per_sample_when_the_last_batch_is_smaller():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 10))
    images, labels = torch.randn(10, 1, 4, 4), torch.randint(0, 10, (10,))
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    one_batch = evaluate(model, make_loader(images, labels, batch_size=10), loss_fn, "cpu")
    uneven = evaluate(model, make_loader(images, labels, batch_size=4), loss_fn, "cpu")  # 4 + 4 + 2
    assert one_batch == pytest.approx(uneven)
    assert not model.training
    with torch.no_grad():
        model.eval()
        expected_loss = loss_fn(model(images), labels).item()
    assert uneven[0] == pytest.approx(expected_loss)


def test_is_a_shift_zero_filled_rather_than_wrapped_around():
    image = torch.arange(1.0, 13.0).view(1, 3, 4)
    shifted = shift_images(image, dx=1, dy=0)
    assert torch.equal(shifted[0, :, 0], torch.zeros(3))
    assert not torch.equal(shifted, torch.roll(image, 1, dims=-1))
    assert torch.equal(shifted[0, :, 1:], image[0, :, :3])


def test_do_negative_and_oversized_shifts_behave():
    image = torch.arange(1.0, 13.0, dtype=torch.float64).view(1, 1, 3, 4)
    up_left = shift_images(image, dx=-1, dy=-2)
    assert torch.equal(up_left[0, 0, 0, :3], image[0, 0, 2, 1:]) and up_left[0, 0, 1:].abs().sum() == 0
    for dx, dy in [(4, 0), (0, 3), (-4, 0), (0, -7), (10, 10)]:
        assert torch.equal(shift_images(image, dx, dy), torch.zeros_like(image))
    assert shift_images(image, 1, 1).dtype == torch.float64 and shift_images(image, 1, 1).shape == image.shape
    assert torch.equal(image, torch.arange(1.0, 13.0, dtype=torch.float64).view(1, 1, 3, 4))


def test_does_evaluate_shifted_report_each_shift():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))
    images, labels = torch.rand(7, 1, 4, 4), torch.randint(0, 10, (7,))
    result = evaluate_shifted(model, images, labels, [(0, 0), (1, -1), (9, 0)], "cpu", batch_size=3)
    assert set(result) == {(0, 0), (1, -1), (9, 0)}
    with torch.no_grad():
        expected = (model(shift_images(images, 1, -1)).argmax(1) == labels).float().mean().item()
    assert result[(1, -1)] == pytest.approx(expected)


def test_do_random_placements_keep_the_digit_intact():
    digit = torch.rand(1, 28, 28) + 0.1
    place = RandomCanvasPlacement((56, 56), generator=torch.Generator().manual_seed(0))
    canvases = [place(digit) for _ in range(20)]
    assert all(c.shape == (1, 56, 56) and c.sum().item() == pytest.approx(digit.sum().item()) for c in canvases)
    assert len({tuple(torch.nonzero(c[0])[0].tolist()) for c in canvases}) > 1  # not always the same spot
    shifted = random_shift(torch.rand(6, 1, 28, 28), max_shift=3, generator=torch.Generator().manual_seed(0))
    assert shifted.shape == (6, 1, 28, 28)
