"""Public check: apply_convolution with a 3x3 kernel, against torch's own conv2d (the graded public test's case)."""
import torch
import torch.nn.functional as F
from otter.test_files import test_case

OK_FORMAT = False
name = "apply_convolution"
points = 1


@test_case(points=1)
def test_a_3x3_kernel_matches_conv2d(apply_convolution):
    assert callable(apply_convolution), "run the cell that defines apply_convolution first"
    img = torch.randn((7, 11), generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    kernel = torch.randn((3, 3), generator=torch.Generator().manual_seed(1011), dtype=torch.float64)
    got = torch.as_tensor(apply_convolution(img, kernel))
    expected = F.conv2d(img[None, None], kernel[None, None])[0, 0]
    assert got.shape == expected.shape, f"a 7x11 image and a 3x3 kernel: got shape {tuple(got.shape)}, expected (5, 9)"
    torch.testing.assert_close(got.to(torch.float64), expected, rtol=1e-7, atol=1e-9)
