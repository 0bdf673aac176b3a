"""Public check: 20 images with no zero pixel, each of which must appear whole on its canvas, zeros elsewhere."""
import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "place_on_canvas"
points = 2


def check_whole(canvas, images):
    item_rows, item_cols = images.shape[-2:]
    for index, (placed, image) in enumerate(zip(canvas, images)):
        footprint = placed.reshape(-1, *placed.shape[-2:]).abs().sum(0)  # all channels together
        rows = torch.nonzero(footprint.sum(1)).flatten()
        cols = torch.nonzero(footprint.sum(0)).flatten()
        assert len(rows), f"canvas {index} is all zeros"
        top, left = int(rows[0]), int(cols[0])
        spans = (int(rows[-1]) - top + 1, int(cols[-1]) - left + 1)
        assert spans == (item_rows, item_cols), (
            f"image {index}: its nonzero pixels span {spans[0]}x{spans[1]} on the canvas, the image is "
            f"{item_rows}x{item_cols}: it must appear whole (not cut off at the border, not wrapped round to the other "
            "side), with zeros everywhere else")
        window = placed[..., top:top + item_rows, left:left + item_cols]
        assert torch.equal(window, image), f"image {index}: the pixels on the canvas are not the image's pixels"


@test_case(points=2)
def test_each_image_whole_on_a_zero_canvas(place_on_canvas):
    assert callable(place_on_canvas), "run the cell that defines place_on_canvas first"
    generator = torch.Generator().manual_seed(0)
    for shape, canvas_size in (((20, 1, 3, 4), (8, 9)), ((5, 3, 2, 2), (4, 6))):
        images = torch.rand(shape, generator=generator) + 0.1  # no zero pixel: the item's extent is visible
        canvas = place_on_canvas(images.clone(), canvas_size, torch.Generator().manual_seed(1))
        expected_shape = (*shape[:-2], *canvas_size)
        assert tuple(canvas.shape) == expected_shape, f"got shape {tuple(canvas.shape)}, expected {expected_shape}"
        check_whole(canvas, images)
