"""Public check: shift_images on a 3x4 image of the numbers 1..12, where you can see every pixel move."""
import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "shift_images"
points = 1

IMAGE = torch.arange(1.0, 13.0).reshape(1, 1, 3, 4)  # [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
EXPECTED = {
    (1, 0): [[0, 1, 2, 3], [0, 5, 6, 7], [0, 9, 10, 11]],   # one pixel right: column 0 is new, zero
    (0, 2): [[0, 0, 0, 0], [0, 0, 0, 0], [1, 2, 3, 4]],     # two pixels down: only the top row is still inside
    (2, 1): [[0, 0, 0, 0], [0, 0, 1, 2], [0, 0, 5, 6]],     # two right and one down
}


@test_case(points=1)
def test_positive_shifts_move_right_and_down_with_zero_fill(shift_images):
    assert callable(shift_images), "run the cell that defines shift_images first"
    for (dx, dy), expected in EXPECTED.items():
        got = torch.as_tensor(shift_images(IMAGE.clone(), dx, dy))
        assert got.shape == IMAGE.shape, f"dx={dx}, dy={dy}: got shape {tuple(got.shape)}, expected (1, 1, 3, 4)"
        torch.testing.assert_close(got.to(torch.float32), torch.tensor(expected, dtype=torch.float32)[None, None],
                                   rtol=0, atol=0, msg=lambda m: (
                                       f"shift_images(1..12 as a 3x4 image, dx={dx}, dy={dy}) should be "
                                       f"{expected}, got {got[0, 0].tolist()}"))
