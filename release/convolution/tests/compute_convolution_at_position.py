"""Public check: compute_convolution_at_position, against torch's own conv2d (the same cases as the graded public test)."""
import torch
import torch.nn.functional as F
from otter.test_files import test_case

OK_FORMAT = False
name = "compute_convolution_at_position"
points = 2


def case(kernel_shape, seed):
    """A 7x11 float64 image and a kernel, seeded exactly as in the graded test."""
    def randn(shape, s):
        return torch.randn(shape, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
    return randn((7, 11), seed), randn(kernel_shape, seed + 1000)


@test_case(points=2)
def test_every_position_for_non_square_kernels(compute_convolution_at_position):
    assert callable(compute_convolution_at_position), "run the cell that defines compute_convolution_at_position first"
    for seed, shape in enumerate([(1, 1), (3, 3), (2, 5), (5, 3)]):
        img, kernel = case(shape, seed)
        expected = F.conv2d(img[None, None], kernel[None, None])[0, 0]
        for i in range(expected.shape[0]):
            for j in range(expected.shape[1]):
                got = torch.as_tensor(compute_convolution_at_position(i, j, img, kernel)).to(torch.float64)
                torch.testing.assert_close(got.reshape(()), expected[i, j], rtol=1e-7, atol=1e-9, msg=lambda m: (
                    f"{shape[0]}x{shape[1]} kernel on a 7x11 image, position (i, j) = ({i}, {j}), the window's "
                    f"top-left corner: {m}"))
