"""Public check: evaluate averages loss and accuracy per sample, in eval mode, on batches of 4, 4 and 2."""
import torch
from torch import nn
from otter.test_files import test_case

OK_FORMAT = False
name = "evaluate"
points = 1


class MustBeEvaluating(nn.Module):
    """Passes its input through, but refuses to run in training mode or while recording gradients."""

    def forward(self, x):
        assert not self.training, "the model ran in training mode: call model.eval() first"
        assert not torch.is_grad_enabled(), "gradients were recorded: evaluate under torch.no_grad()"
        return x


@test_case(points=1)
def test_loss_and_accuracy_per_sample(evaluate):
    assert callable(evaluate), "run the cell that defines evaluate first"
    generator = torch.Generator().manual_seed(600)
    model = nn.Sequential(nn.Linear(5, 3), MustBeEvaluating()).double()
    inputs = torch.randn((10, 5), generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 3, (10,), generator=generator)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs, labels), batch_size=4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()  # evaluate must switch it to eval mode itself
    result = evaluate(model, loader, loss_fn, "cpu")
    assert isinstance(result, (tuple, list)) and len(result) == 2, "expected a tuple (loss, accuracy)"
    loss, accuracy = result
    with torch.no_grad():  # the whole set at once: the mean over all 10 samples
        logits = model[0](inputs)
        expected_loss, expected_accuracy = loss_fn(logits, labels).item(), (logits.argmax(1) == labels).double().mean().item()
    assert abs(float(loss) - expected_loss) < 1e-6, (
        f"loss {float(loss):.6f}, expected {expected_loss:.6f}: the mean per sample over all 10, so the last batch "
        "of 2 weighs half as much as a batch of 4 (the mean of the batch means would weigh it as much)")
    assert abs(float(accuracy) - expected_accuracy) < 1e-9, (
        f"accuracy {float(accuracy)}, expected {expected_accuracy} (a fraction of the 10 samples, in [0, 1])")
