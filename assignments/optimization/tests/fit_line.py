"""Public check: fit_line against the lecture's loop, written out here, on the graded public test's points."""
import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "fit_line"
points = 2


def line_data(seed, n=24):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, generator=generator)
    return x, 2 * x - 0.5 + 0.1 * torch.randn(n, generator=generator)


@test_case(points=2)
def test_the_losses_and_parameters_match_the_lectures_loop(fit_line):
    assert callable(fit_line), "run the cell that defines fit_line first"
    x, y = line_data(600)
    theirs, expected = torch.tensor([1.0, 0.0], requires_grad=True), []
    for _ in range(120):
        loss = ((theirs[0] * x + theirs[1] - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            theirs -= 0.05 * theirs.grad
        theirs.grad.zero_()
        expected.append(loss.item())
    result = fit_line(x, y, torch.tensor([1.0, 0.0], requires_grad=True), 0.05, 120)
    assert isinstance(result, (tuple, list)) and len(result) == 2, "expected a tuple (params, losses)"
    params, losses = result
    assert len(losses) == 120, f"n_epochs=120: got {len(losses)} losses, expected one per epoch"
    torch.testing.assert_close(torch.tensor([float(v) for v in losses]), torch.tensor(expected), rtol=1e-5,
                               atol=1e-7, msg=lambda m: f"the loss of each epoch: {m}")
    torch.testing.assert_close(torch.as_tensor(params).detach().float(), theirs.detach(), rtol=1e-5, atol=1e-7,
                               msg=lambda m: f"the returned [w, b]: {m}")
