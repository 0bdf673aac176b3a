"""Public check: the blur distance's gradient against torch.autograd, with a Gaussian kernel.

Your blur is replaced by F.conv1d's during the check, as the graded tests answer it with the course's: a mistake
in blur is blur's check's business.
"""
import torch
import torch.nn.functional as F
from otter.test_files import test_case

OK_FORMAT = False
name = "blur_distance_gradient"
points = 2


def torch_blur(x, kernel):
    flat = x.reshape(-1, 1, x.shape[-1])
    return F.conv1d(flat, kernel.to(x.dtype)[None, None], padding=kernel.shape[0] // 2).reshape(x.shape)


class AutogradSeen:
    """Notes whether torch.autograd ran inside the block: the gradient must be derived by hand."""

    def __enter__(self):
        from torch.autograd.variable import Variable

        outer, self.engine, self.used = self, Variable._execution_engine, False

        class Engine:
            def run_backward(self, *args, **kwargs):
                outer.used = True
                return outer.engine.run_backward(*args, **kwargs)

            def __getattr__(self, attribute):
                return getattr(outer.engine, attribute)

        Variable._execution_engine = Engine()
        return self

    def __exit__(self, *exc):
        from torch.autograd.variable import Variable

        Variable._execution_engine = self.engine


@test_case(points=2)
def test_matches_autograd(blur_distance_gradient):
    assert callable(blur_distance_gradient), "run the cell that defines blur_distance_gradient first"
    generator = torch.Generator()
    x = torch.randn(40, generator=generator.manual_seed(600), dtype=torch.float64)
    y = torch.randn(40, generator=generator.manual_seed(601), dtype=torch.float64)
    offsets = torch.arange(13, dtype=torch.float64) - 6
    kernel = torch.exp(-0.5 * (offsets / (13 / 6)) ** 2)
    kernel = kernel / kernel.sum()
    probe = x.clone().requires_grad_()
    (((torch_blur(probe, kernel) - y) ** 2).sum() / 40).backward()
    namespace = blur_distance_gradient.__globals__
    own = namespace.get("blur")
    namespace["blur"] = torch_blur
    try:
        with AutogradSeen() as autograd:
            got = torch.as_tensor(blur_distance_gradient(x, y, kernel))
    finally:
        namespace["blur"] = own
    assert not autograd.used, ("it ran torch.autograd (backward or autograd.grad): derive the gradient by hand; "
                               "the graded tests give this question no points for autograd")
    assert got.shape == (40,), f"got shape {tuple(got.shape)}, expected (40,)"
    torch.testing.assert_close(got.to(torch.float64), probe.grad, rtol=1e-7, atol=1e-10,
                               msg=lambda m: f"Gaussian kernel of 13 taps, N = 40: {m}")
