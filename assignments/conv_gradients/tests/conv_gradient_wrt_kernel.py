"""Public check: dL/dK against torch.autograd (the same cases as the graded public test)."""
import torch
import torch.nn.functional as F
from otter.test_files import test_case

OK_FORMAT = False
name = "conv_gradient_wrt_kernel"
points = 2


def case(kernel_shape, seed):
    """(img, kernel, dloss_dy) in float64, seeded exactly as in the graded test; img is 7x11."""
    def randn(shape, s):
        return torch.randn(shape, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
    out_shape = (7 - kernel_shape[0] + 1, 11 - kernel_shape[1] + 1)
    return randn((7, 11), seed), randn(kernel_shape, seed + 1000), randn(out_shape, seed + 2000)


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
def test_matches_autograd(conv_gradient_wrt_kernel):
    assert callable(conv_gradient_wrt_kernel), "run the cell that defines conv_gradient_wrt_kernel first"
    for seed, shape in enumerate([(1, 1), (3, 3), (2, 5), (5, 3)]):
        img, kernel, dloss_dy = case(shape, 200 + seed)
        kernel.requires_grad_()
        F.conv2d(img[None, None], kernel[None, None])[0, 0].backward(dloss_dy)
        with AutogradSeen() as autograd:
            got = torch.as_tensor(conv_gradient_wrt_kernel(dloss_dy, img))
        assert not autograd.used, ("it ran torch.autograd (backward or autograd.grad): derive the gradient by hand; "
                                   "the graded tests give this question no points for autograd")
        assert got.shape == kernel.shape, (f"{shape[0]}x{shape[1]} kernel: got shape {tuple(got.shape)}, "
                                           f"expected {shape}")
        torch.testing.assert_close(got.to(torch.float64), kernel.grad, rtol=1e-7, atol=1e-9,
                                   msg=lambda m: f"{shape[0]}x{shape[1]} kernel on a 7x11 image: {m}")
