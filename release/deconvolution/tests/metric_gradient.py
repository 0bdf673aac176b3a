"""Public check: the gradient in the metric B^T B + lam I, for a Gaussian kernel.

Your blur and blur_distance_gradient are replaced by torch's during the check, as the graded tests answer them
with the course's: a mistake in either is that function's check's business.
"""
import torch
import torch.nn.functional as F
from otter.test_files import test_case

OK_FORMAT = False
name = "metric_gradient"
points = 2


def torch_blur(x, kernel):
    flat = x.reshape(-1, 1, x.shape[-1])
    return F.conv1d(flat, kernel.to(x.dtype)[None, None], padding=kernel.shape[0] // 2).reshape(x.shape)


def torch_gradient(x, y, kernel):
    leaf = x.clone().detach().requires_grad_()
    (((torch_blur(leaf, kernel) - y) ** 2).sum() / y.shape[0]).backward()
    return leaf.grad


@test_case(points=2)
def test_solves_the_metric_system(metric_gradient):
    assert callable(metric_gradient), "run the cell that defines metric_gradient first"
    generator = torch.Generator()
    x = torch.randn(20, generator=generator.manual_seed(800), dtype=torch.float64)
    y = torch.randn(20, generator=generator.manual_seed(801), dtype=torch.float64)
    offsets = torch.arange(7, dtype=torch.float64) - 3
    kernel = torch.exp(-0.5 * (offsets / (7 / 6)) ** 2)
    kernel = kernel / kernel.sum()
    columns = torch_blur(torch.eye(20, dtype=torch.float64), kernel).T  # column j: the blur of e_j
    system = columns.T @ columns + 0.01 * torch.eye(20, dtype=torch.float64)
    expected = torch.linalg.solve(system, torch_gradient(x, y, kernel))
    namespace = metric_gradient.__globals__
    own = {name: namespace.get(name) for name in ("blur", "blur_distance_gradient")}
    namespace.update(blur=torch_blur, blur_distance_gradient=torch_gradient)
    try:
        got = torch.as_tensor(metric_gradient(x, y, kernel, 0.01))
    finally:
        namespace.update(own)
    assert got.shape == (20,), f"got shape {tuple(got.shape)}, expected (20,)"
    torch.testing.assert_close(got.to(torch.float64), expected, rtol=1e-6, atol=1e-9,
                               msg=lambda m: f"Gaussian kernel of 7 taps, N = 20, lam = 0.01: {m}")
