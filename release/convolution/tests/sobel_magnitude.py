"""Public check: sobel_magnitude on three small images whose edges you can work out by hand."""
import math

import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "sobel_magnitude"
points = 1


def steps():
    """5x8: columns 0-2 are 0, 3-5 are 1, 6-7 are 3. A step of 1, then a step of 2 (twice as strong)."""
    img = torch.zeros(5, 8)
    img[:, 3:6], img[:, 6:] = 1.0, 3.0
    return img, torch.tensor([[0.0, 0.5, 0.5, 0.0, 1.0, 1.0]] * 3)


@test_case(points=1)
def test_edges_of_known_images(sobel_magnitude):
    assert callable(sobel_magnitude), "run the cell that defines sobel_magnitude first"
    img, expected = steps()
    dot = torch.zeros(5, 5)
    dot[2, 2] = 1.0
    r = 1 / math.sqrt(2)
    cases = [("two vertical steps", img, expected), ("the same steps turned sideways", img.T, expected.T),
             ("a single bright pixel", dot, torch.tensor([[r, 1.0, r], [1.0, 0.0, 1.0], [r, 1.0, r]]))]
    for label, image, want in cases:
        got = torch.as_tensor(sobel_magnitude(image))
        assert got.shape == want.shape, (f"{label}: a {tuple(image.shape)} image gives {tuple(got.shape)}, expected "
                                         f"{tuple(want.shape)} (valid positions only)")
        torch.testing.assert_close(got.to(torch.float32), want, rtol=1e-5, atol=1e-6,
                                   msg=lambda m: f"{label} (normalised so that the largest value is 1): {m}")
