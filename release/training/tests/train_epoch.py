"""Public check: two epochs of train_epoch on a tiny model give the parameters a correct loop gives.

The expected numbers come from the reference loop; plain SGD in float64 is deterministic.
"""
import torch
from torch import nn
from otter.test_files import test_case

OK_FORMAT = False
name = "train_epoch"
points = 2

# Parameters (weight row by row, then bias) after epoch 1 and epoch 2, and the returned mean losses.
EXPECTED_PARAMETERS = [
    [-0.084976375773, -0.044007531633, 0.371268073687, -0.015023633168, 0.444007530142, 0.128731933763, 0.003724224508, -0.003724224508],
    [-0.211237139557, 0.085156771633, 0.398438952034, 0.111237130616, 0.314843226877, 0.101561055417, 0.002887331539, -0.002887331539],
]
EXPECTED_LOSSES = [0.835382911413, 0.757029508369]


class MustBeTraining(nn.Module):
    """Passes its input through, but refuses a forward pass in eval mode (as dropout would differ)."""

    def forward(self, x):
        assert self.training, "the model ran a forward pass in eval mode: call model.train() before the loop"
        return x


def setup():
    model = nn.Sequential(nn.Linear(3, 2), MustBeTraining()).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.2, -0.1, 0.4], [-0.3, 0.5, 0.1]]))
        model[0].bias.copy_(torch.tensor([0.05, -0.05]))
    inputs = torch.randn((10, 3), generator=torch.Generator().manual_seed(500), dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1, 0])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs, labels), batch_size=4)
    return model.eval(), loader, torch.optim.SGD(model.parameters(), lr=0.5), nn.CrossEntropyLoss()


@test_case(points=2)
def test_parameters_after_two_epochs(train_epoch):
    assert callable(train_epoch), "run the cell that defines train_epoch first"
    model, loader, optimizer, loss_fn = setup()
    for epoch in range(2):
        loss = train_epoch(model, loader, optimizer, loss_fn, "cpu")
        got = torch.cat([model[0].weight.detach().flatten(), model[0].bias.detach()])
        torch.testing.assert_close(got, torch.tensor(EXPECTED_PARAMETERS[epoch], dtype=torch.float64),
                                   rtol=1e-6, atol=1e-8, msg=lambda m: (
                                       f"parameters after epoch {epoch + 1} (10 samples, batches of 4, 4 and 2; "
                                       f"each batch: zero_grad, forward, loss, backward, step): {m}"))
        assert abs(float(loss) - EXPECTED_LOSSES[epoch]) < 1e-6, (
            f"epoch {epoch + 1}: returned loss {float(loss):.6f}, expected the mean loss per sample "
            f"{EXPECTED_LOSSES[epoch]:.6f} (weight each batch's mean loss by its size)")
