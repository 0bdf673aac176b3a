"""Public check: 200 steps of adam_step against torch.optim.Adam fed the same gradients (bias correction
included)."""
import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "adam_step"
points = 2


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@test_case(points=2)
def test_adam_follows_torch_for_200_steps(adam_step):
    assert callable(adam_step), "run the cell that defines adam_step first"
    param0 = randn((6,), 400)
    theirs = param0.clone().requires_grad_()
    optimizer = torch.optim.Adam([theirs], lr=0.01)
    param, state = param0.clone(), None
    for step in range(1, 201):
        grad = randn((6,), 400 + step)
        theirs.grad = grad.clone()
        optimizer.step()
        result = adam_step(param, grad, state, lr=0.01)
        assert isinstance(result, (tuple, list)) and len(result) == 2, "expected a tuple (new_param, new_state)"
        param, state = result
        # torch's order of operations and the textbook formula differ in the last places: a tolerance allows it
        torch.testing.assert_close(torch.as_tensor(param).to(torch.float64), theirs.detach(), rtol=1e-6,
                                   atol=1e-9, msg=lambda m, step=step: f"lr=0.01, step {step}: {m}")
