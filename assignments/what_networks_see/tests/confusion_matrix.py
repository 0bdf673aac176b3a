"""Public check: a model whose every prediction is known, 11 samples in batches of 4 (the last holds 3)."""
import torch
from torch import nn
from otter.test_files import test_case

OK_FORMAT = False
name = "confusion_matrix"
points = 2

LABELS = [0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 3]
PREDICTIONS = [0, 1, 1, 1, 2, 2, 0, 3, 3, 1, 3]  # what the model below answers for each sample


class PredictsItsInput(nn.Module):
    """Answers class x[i, 0] for sample i; refuses to run in training mode or while recording gradients."""

    def forward(self, x):
        assert not self.training, "the model ran in training mode: call model.eval() first"
        assert not torch.is_grad_enabled(), "gradients were recorded: count under torch.no_grad()"
        return nn.functional.one_hot(x[:, 0].long(), 4).double()


@test_case(points=2)
def test_rows_are_the_true_classes(confusion_matrix):
    assert callable(confusion_matrix), "run the cell that defines confusion_matrix first"
    inputs = torch.tensor(PREDICTIONS, dtype=torch.float64)[:, None]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs, torch.tensor(LABELS)), batch_size=4)
    model = PredictsItsInput()
    model.train()  # confusion_matrix must switch it to eval mode itself
    got = torch.as_tensor(confusion_matrix(model, loader, 4, "cpu"))
    expected = torch.zeros(4, 4, dtype=torch.int64)
    for truth, guess in zip(LABELS, PREDICTIONS):
        expected[truth, guess] += 1
    assert got.shape == (4, 4), f"got shape {tuple(got.shape)}, expected (4, 4) for num_classes=4"
    assert torch.equal(got.to(torch.int64), expected), (
        f"got {got.tolist()}, expected {expected.tolist()}: entry [t, p] counts the samples of true class t "
        "predicted as p, over every batch" + (" (yours is the transpose)" if torch.equal(got.T.long(), expected)
                                               else ""))
