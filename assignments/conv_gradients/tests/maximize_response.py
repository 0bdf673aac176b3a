"""Public check: maximize_response returns an image of the requested size and one loss per step."""
import traceback

import torch
import torch.nn.functional as F
from otter.test_files import test_case

OK_FORMAT = False
name = "maximize_response"
points = 1


def torch_input_gradient(dloss_dy, kernel):
    """dL/dx from torch.autograd through F.conv2d: stands in when your conv_gradient_wrt_input fails here."""
    x = torch.zeros(dloss_dy.shape[0] + kernel.shape[0] - 1, dloss_dy.shape[1] + kernel.shape[1] - 1,
                    dtype=dloss_dy.dtype, requires_grad=True)
    F.conv2d(x[None, None], kernel[None, None])[0, 0].backward(dloss_dy)
    return x.grad


def run_with_a_working_gradient(maximize_response, kernel):
    """maximize_response on its own: a failure inside your conv_gradient_wrt_input is that check's business."""
    try:
        torch.manual_seed(5)
        return maximize_response(kernel, (9, 10), 6, 0.01)
    except Exception as error:
        if "in conv_gradient_wrt_input" not in "".join(traceback.format_tb(error.__traceback__)):
            raise
    print("Your conv_gradient_wrt_input fails here (see its own check): maximize_response ran with torch's gradient.")
    namespace = maximize_response.__globals__
    own = namespace["conv_gradient_wrt_input"]
    namespace["conv_gradient_wrt_input"] = torch_input_gradient
    try:
        torch.manual_seed(5)
        return maximize_response(kernel, (9, 10), 6, 0.01)
    finally:
        namespace["conv_gradient_wrt_input"] = own


@test_case(points=1)
def test_shapes_and_number_of_losses(maximize_response):
    assert callable(maximize_response), "run the cell that defines maximize_response first"
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=torch.float64)
    result = run_with_a_working_gradient(maximize_response, kernel)
    assert isinstance(result, (tuple, list)) and len(result) == 2, "expected a tuple (image, losses)"
    image, losses = result
    image = torch.as_tensor(image)
    assert image.shape == (9, 10), f"size=(9, 10): got an image of shape {tuple(image.shape)}"
    assert image.dtype == torch.float64, f"a float64 kernel: got an image of dtype {image.dtype}, expected float64"
    assert len(losses) == 6, f"steps=6: got {len(losses)} losses, expected one per step"
