"""Public check: plain gradient descent on a quadratic, step by step.

Without momentum, descent on f(x) = (x - t)^T A (x - t) / 2 has the closed form
x_i = t + (I - lr A)^i (x0 - t), so each loss is known in advance.
"""
import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "gradient_descent"
points = 2


@test_case(points=2)
def test_plain_descent_on_a_quadratic(gradient_descent):
    assert callable(gradient_descent), "run the cell that defines gradient_descent first"
    generator = torch.Generator()
    basis, _ = torch.linalg.qr(torch.randn((4, 4), generator=generator.manual_seed(700), dtype=torch.float64))
    matrix = basis @ torch.diag(torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)) @ basis.T
    target = torch.randn(4, generator=generator.manual_seed(701), dtype=torch.float64)
    x0 = torch.randn(4, generator=generator.manual_seed(702), dtype=torch.float64)

    def loss_and_gradient(x):
        return float((x - target) @ matrix @ (x - target)) / 2, matrix @ (x - target)

    result = gradient_descent(loss_and_gradient, x0.clone(), 0.3, 6, 0.0)
    assert isinstance(result, (tuple, list)) and len(result) == 2, "expected a tuple (x, losses)"
    x, losses = result
    assert len(losses) == 6, f"steps=6: got {len(losses)} losses, expected one per step"
    step = torch.eye(4, dtype=torch.float64) - 0.3 * matrix
    iterates = [target + torch.linalg.matrix_power(step, i) @ (x0 - target) for i in range(7)]
    expected = [loss_and_gradient(iterate)[0] for iterate in iterates[:6]]
    torch.testing.assert_close(torch.tensor([float(v) for v in losses], dtype=torch.float64),
                               torch.tensor(expected, dtype=torch.float64), rtol=1e-7, atol=1e-10,
                               msg=lambda m: f"the loss at each step (the first is f(x0)): {m}")
    torch.testing.assert_close(torch.as_tensor(x).to(torch.float64), iterates[6], rtol=1e-7, atol=1e-10,
                               msg=lambda m: f"the last iterate, after 6 steps: {m}")
