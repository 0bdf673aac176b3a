"""Public check: train_module against the lecture's training_loop_module, written out here, from the same weights
and points as the graded public test (150 epochs: long enough for the plateau schedule to drop the rate)."""
import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "train_module"
points = 2


def mlp(seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(1, 10), torch.nn.ReLU(), torch.nn.Linear(10, 10),
                                   torch.nn.ReLU(), torch.nn.Linear(10, 1))


def mlp_data(seed, n=32):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=generator)
    y = 2 * x - 0.5 + 0.05 * torch.randn(n, 1, generator=generator)
    y[x > 0.5] *= -2
    return x, y


@test_case(points=2)
def test_the_losses_match_the_lectures_loop(train_module):
    assert callable(train_module), "run the cell that defines train_module first"
    x, y = mlp_data(700)
    model = mlp(700)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
    expected = []
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step(loss.item())
        expected.append(loss.item())
    got = train_module(mlp(700), x, y, n_epochs=150, learning_rate=0.05)
    assert len(got) == 150, f"n_epochs=150: got {len(got)} losses, expected one per epoch"
    torch.testing.assert_close(torch.tensor([float(v) for v in got], dtype=torch.float64),
                               torch.tensor(expected, dtype=torch.float64), rtol=1e-4, atol=1e-6,
                               msg=lambda m: f"the loss of each epoch: {m}")
