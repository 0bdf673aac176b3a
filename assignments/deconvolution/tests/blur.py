"""Public check: blur against F.conv1d with "same" zero padding (the same cases as the graded public test)."""
import torch
import torch.nn.functional as F
from otter.test_files import test_case

OK_FORMAT = False
name = "blur"
points = 2


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@test_case(points=2)
def test_matches_conv1d_same(blur):
    assert callable(blur), "run the cell that defines blur first"
    for seed, (size, taps) in enumerate([(11, 3), (9, 5), (4, 7), (10, 1)]):
        x, kernel = randn((size,), 500 + seed), randn((taps,), 510 + seed)
        expected = F.conv1d(x[None, None], kernel[None, None], padding=taps // 2)[0, 0]
        got = torch.as_tensor(blur(x, kernel))
        assert got.shape == expected.shape, (f"N = {size}, K = {taps}: got shape {tuple(got.shape)}, expected "
                                             f"({size},): \"same\" keeps the signal's length")
        torch.testing.assert_close(got.to(torch.float64), expected, rtol=1e-7, atol=1e-9,
                                   msg=lambda m: f"N = {size}, K = {taps}: {m}")
