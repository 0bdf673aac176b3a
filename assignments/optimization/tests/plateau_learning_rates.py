"""Public check: plateau_learning_rates against torch's ReduceLROnPlateau on losses that fall and then stall."""
import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "plateau_learning_rates"
points = 2


def plateau_losses(length, seed):
    """Falling for 12 steps, wobbling by 0.005% for 12, flat for 12, and again (the graded test's losses)."""
    noise = torch.randn((length,), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    losses, value = [], 1.0
    for step in range(length):
        phase = (step // 12) % 3
        if phase == 0:
            value *= 0.97
        elif phase == 1:
            value *= 1 - 5e-5 * float(noise[step].sign())
        losses.append(value)
    return losses


def torch_rates(losses, lr, **options):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **options)
    rates = []
    for loss in losses:
        scheduler.step(loss)
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


@test_case(points=2)
def test_the_defaults_and_a_short_patience_follow_torch(plateau_learning_rates):
    assert callable(plateau_learning_rates), "run the cell that defines plateau_learning_rates first"
    losses = plateau_losses(90, 500)
    for options in ({}, dict(factor=0.5, patience=3)):
        got = plateau_learning_rates(losses, 0.1, **options)
        assert len(got) == len(losses), f"{options}: got {len(got)} rates for {len(losses)} losses"
        torch.testing.assert_close(torch.tensor([float(r) for r in got], dtype=torch.float64),
                                   torch.tensor(torch_rates(losses, 0.1, **options), dtype=torch.float64),
                                   rtol=1e-9, atol=1e-15, msg=lambda m, options=options: f"{options}: {m}")
