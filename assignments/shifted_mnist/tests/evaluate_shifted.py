"""Public check: evaluate_shifted counts correct samples per shift, in eval mode, with a smaller last batch.

The model below predicts the column of the brightest pixel, so you can work the answers out by hand.
"""
import torch
from torch import nn
from otter.test_files import test_case

OK_FORMAT = False
name = "evaluate_shifted"
points = 1


class BrightestColumn(nn.Module):
    """Logits = column sums of a (N, 1, 10, 10) batch: the predicted class is the brightest column."""

    def forward(self, images):
        assert not self.training, "the model ran in training mode: call model.eval() first"
        return images.sum(dim=(1, 2))


def digits():
    """Ten 10x10 images, one bright pixel each, in column c = 0..9; labels say c for the first six only."""
    images = torch.zeros(10, 1, 10, 10)
    for c in range(10):
        images[c, 0, 4, c] = 1.0
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 0, 0, 0, 0])
    return images, labels


def expected_accuracies(shift_images, shifts):
    """Accuracy per shift, counted over all 10 images, with your own shift_images: a mistake there is
    the shift_images check's business, not this one's. With a correct shift_images the answers are
    (0, 0): images 0-5 are right -> 0.6. (0, 3): a vertical move keeps the column -> 0.6.
    (2, 0): pixel c moves to column c + 2, or off the image (all-zero logits, argmax 0): only images
    8 and 9 (now empty, predicted 0, label 0) are right -> 0.2."""
    images, labels = digits()
    model = BrightestColumn().eval()
    with torch.no_grad():
        return {(dx, dy): (model(torch.as_tensor(shift_images(images.clone(), dx, dy)).float()).argmax(1) == labels)
                .double().mean().item() for dx, dy in shifts}


@test_case(points=1)
def test_accuracy_per_shift(evaluate_shifted, shift_images):
    assert callable(evaluate_shifted), "run the cell that defines evaluate_shifted first"
    images, labels = digits()
    model = BrightestColumn().train()  # evaluate_shifted must switch it to eval mode itself
    expected = expected_accuracies(shift_images, [(0, 0), (0, 3), (2, 0)])
    got = evaluate_shifted(model, images, labels, list(expected), "cpu", 4)
    assert isinstance(got, dict), f"got {type(got).__name__}, expected a dict {{(dx, dy): accuracy}}"
    assert set(got) == set(expected), f"got keys {sorted(got)}, expected the shifts {sorted(expected)}"
    for shift, accuracy in expected.items():
        assert abs(float(got[shift]) - accuracy) < 1e-9, (
            f"shift {shift}: got accuracy {float(got[shift])}, expected {accuracy} (correct samples / 10; "
            "batches of 4, 4 and 2, so averaging the batch accuracies gives a different number)")
