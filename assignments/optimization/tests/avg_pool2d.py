"""Public check: avg_pool2d with the stride left out (it defaults to the kernel size), against torch's F.avg_pool2d."""
import torch
import torch.nn.functional as F
from otter.test_files import test_case

OK_FORMAT = False
name = "avg_pool2d"
points = 1


@test_case(points=1)
def test_the_stride_defaults_to_the_kernel_size(avg_pool2d):
    assert callable(avg_pool2d), "run the cell that defines avg_pool2d first"
    x = torch.randn((2, 3, 9, 10), generator=torch.Generator().manual_seed(200), dtype=torch.float64)
    for kernel_size in (2, 3):
        expected = F.avg_pool2d(x, kernel_size)
        got = torch.as_tensor(avg_pool2d(x, kernel_size))
        assert got.shape == expected.shape, (f"kernel_size={kernel_size}, stride left out: got shape "
                                             f"{tuple(got.shape)}, expected {tuple(expected.shape)}")
        torch.testing.assert_close(got.to(torch.float64), expected, rtol=1e-7, atol=1e-9,
                                   msg=lambda m, k=kernel_size: f"avg_pool2d(x, {k}): {m}")
