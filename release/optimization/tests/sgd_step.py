"""Public check: 50 steps of sgd_step against torch.optim.SGD fed the same gradients, without and with momentum."""
import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "sgd_step"
points = 2


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@test_case(points=2)
def test_plain_sgd_and_momentum_follow_torch(sgd_step):
    assert callable(sgd_step), "run the cell that defines sgd_step first"
    for seed, options in ((300, dict(lr=0.1)), (310, dict(lr=0.05, momentum=0.9))):
        param0, grads = randn((6,), seed), [randn((6,), seed + 1 + step) for step in range(50)]
        theirs = param0.clone().requires_grad_()
        optimizer = torch.optim.SGD([theirs], **options)
        param, buffer = param0.clone(), None
        for step, grad in enumerate(grads, start=1):
            theirs.grad = grad.clone()
            optimizer.step()
            result = sgd_step(param, grad, buffer, **options)
            assert isinstance(result, (tuple, list)) and len(result) == 2, "expected a tuple (new_param, new_buffer)"
            param, buffer = result
            torch.testing.assert_close(torch.as_tensor(param).to(torch.float64), theirs.detach(), rtol=1e-9,
                                       atol=1e-12, msg=lambda m, step=step: f"{options}, step {step}: {m}")
