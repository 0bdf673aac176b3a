"""Public check: conv2d with stride, padding and dilation, against torch's own F.conv2d (the graded public test's
cases)."""
import torch
import torch.nn.functional as F
from otter.test_files import test_case

OK_FORMAT = False
name = "conv2d"
points = 2


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@test_case(points=2)
def test_stride_padding_and_dilation_match_conv2d(conv2d):
    assert callable(conv2d), "run the cell that defines conv2d first"
    x, weight, bias = randn((2, 3, 9, 11), 100), randn((4, 3, 3, 2), 101), randn((4,), 102)
    for options in (dict(stride=2, padding=1), dict(padding=2, dilation=2), dict(stride=2, padding=1, dilation=2)):
        expected = F.conv2d(x, weight, bias, **options)
        got = torch.as_tensor(conv2d(x, weight, bias, **options))
        assert got.shape == expected.shape, \
            f"{options}: got shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        torch.testing.assert_close(got.to(torch.float64), expected, rtol=1e-7, atol=1e-9,
                                   msg=lambda m, options=options: f"conv2d with {options}: {m}")
