"""Public check: a model that passes its 4 inputs through as logits, so each prediction and probability is known."""
import torch
from torch import nn
from otter.test_files import test_case

OK_FORMAT = False
name = "misclassified"
points = 2


class LogitsAreTheInput(nn.Module):
    def forward(self, x):
        assert not self.training, "the model ran in training mode: call model.eval() first"
        assert not torch.is_grad_enabled(), "gradients were recorded: search under torch.no_grad()"
        return x


@test_case(points=2)
def test_the_confused_samples_in_order(misclassified):
    assert callable(misclassified), "run the cell that defines misclassified first"
    logits = torch.randn((13, 4), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    labels = torch.tensor([2, 0, 2, 1, 2, 3, 2, 2, 0, 2, 1, 2, 2])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(logits, labels), batch_size=5)
    model = LogitsAreTheInput()
    model.train()
    predicted = 0  # the model answers 0 for the last two samples of class 2, both in the last batch of 3
    chosen = (labels == 2) & (logits.argmax(dim=1) == predicted)
    result = misclassified(model, loader, 2, predicted, "cpu", 16)
    assert isinstance(result, (tuple, list)) and len(result) == 2, "expected a tuple (images, probabilities)"
    images, probabilities = (torch.as_tensor(part) for part in result)
    assert images.shape == logits[chosen].shape, (
        f"true class 2 predicted as {predicted}: got images of shape {tuple(images.shape)}, expected "
        f"{tuple(logits[chosen].shape)} ({int(chosen.sum())} samples, in the loader's order)")
    torch.testing.assert_close(images.double(), logits[chosen], msg="the images of those samples, in order")
    expected = torch.softmax(logits[chosen], dim=1)
    assert probabilities.shape == expected.shape, (
        f"got probabilities of shape {tuple(probabilities.shape)}, expected {tuple(expected.shape)}: one softmax "
        "row (all 4 classes) per image")
    torch.testing.assert_close(probabilities.double(), expected, msg="each row: the softmax of the model's output")
