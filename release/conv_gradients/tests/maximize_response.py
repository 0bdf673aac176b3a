"""Public check: maximize_response returns an image of the requested size and one loss per step."""
import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "maximize_response"
points = 1


@test_case(points=1)
def test_shapes_and_number_of_losses(maximize_response):
    assert callable(maximize_response), "run the cell that defines maximize_response first"
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=torch.float64)
    torch.manual_seed(5)
    result = maximize_response(kernel, (9, 10), 6, 0.01)
    assert isinstance(result, (tuple, list)) and len(result) == 2, "expected a tuple (image, losses)"
    image, losses = result
    image = torch.as_tensor(image)
    assert image.shape == (9, 10), f"size=(9, 10): got an image of shape {tuple(image.shape)}"
    assert image.dtype == torch.float64, f"a float64 kernel: got an image of dtype {image.dtype}, expected float64"
    assert len(losses) == 6, f"steps=6: got {len(losses)} losses, expected one per step"
