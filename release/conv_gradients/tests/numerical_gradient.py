"""Public check: centred differences against torch.autograd, relative error below 1e-7 (the graded public test)."""
import torch
import torch.nn.functional as F
from otter.test_files import test_case

OK_FORMAT = False
name = "numerical_gradient"
points = 2


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@test_case(points=2)
def test_within_1e_7_of_autograd(numerical_gradient):
    assert callable(numerical_gradient), "run the cell that defines numerical_gradient first"
    kernel, weights = randn((2, 3), 300), randn((4, 3), 302)
    cases = [("f(x) = sum(conv(x, K)^2), K 2x3",
              lambda x: (F.conv2d(x[None, None], kernel[None, None]) ** 2).sum(), randn((5, 6), 301)),
             ("f(x) = sum(w * x^3)", lambda x: (weights * x ** 3).sum(), randn((4, 3), 303))]
    for label, f, x in cases:
        probe = x.clone().requires_grad_()
        f(probe).backward()
        got = torch.as_tensor(numerical_gradient(f, x.clone())).detach().to(torch.float64)
        assert got.shape == x.shape, f"{label}: got shape {tuple(got.shape)}, expected {tuple(x.shape)}"
        error = (got - probe.grad).abs() / torch.clamp(torch.maximum(got.abs(), probe.grad.abs()), min=1e-8)
        assert error.max() < 1e-7, (f"{label}: largest relative error {error.max().item():.1e}, expected below "
                                    "1e-7 (use float64 and a centred difference)")
    # With eps=1e-3 the centred difference of w * x^3 is exactly w * (3 x^2 + eps^2): eps must be used.
    f, x = cases[1][1], cases[1][2]
    got = torch.as_tensor(numerical_gradient(f, x.clone(), 1e-3)).detach().to(torch.float64)
    torch.testing.assert_close(got, weights * (3 * x ** 2 + 1e-6), rtol=1e-7, atol=1e-9,
                               msg=lambda m: f"numerical_gradient(f, x, eps=1e-3): use the eps argument. {m}")
