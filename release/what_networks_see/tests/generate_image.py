"""Public check: class mode on a small linear classifier, from a black image with Adam."""
import torch
from torch import nn
from otter.test_files import test_case

OK_FORMAT = False
name = "generate_image"
points = 2


@test_case(points=2)
def test_class_mode_raises_the_log_probability(generate_image):
    assert callable(generate_image), "run the cell that defines generate_image first"
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    weights = {key: value.clone() for key, value in model.state_dict().items()}
    result = generate_image(model, 2, image_shape=(1, 4, 4), mode="class", steps=5, lr=0.1, start="zeros",
                            optimizer="adam")
    assert isinstance(result, (tuple, list)) and len(result) == 2, "expected a tuple (image, objectives)"
    image, objectives = result
    objectives = [float(value) for value in objectives]
    assert all(torch.equal(model.state_dict()[key], value) for key, value in weights.items()), (
        "the model's weights changed: the optimizer must move the image only")
    assert tuple(torch.as_tensor(image).shape) == (1, 4, 4), f"got an image of shape {tuple(image.shape)}, " \
                                                            "expected image_shape (1, 4, 4)"
    assert len(objectives) == 5, f"steps=5: got {len(objectives)} objectives, expected one per step"
    with torch.no_grad():
        start = torch.log_softmax(model(torch.zeros(1, 1, 4, 4)), dim=1)[0, 2].item()
        end = torch.log_softmax(model(torch.as_tensor(image).float()[None]), dim=1)[0, 2].item()
    assert abs(objectives[0] - start) < 1e-5, (
        f"the first objective is {objectives[0]:.5f}, but log_softmax(model(black image))[0, 2] is {start:.5f}: "
        "record the log-probability of the image each step starts from")
    assert all(b > a for a, b in zip(objectives, objectives[1:])), f"the objective should rise: {objectives}"
    assert end > objectives[-1], (f"the returned image scores {end:.5f}, no more than the last step's start "
                                  f"({objectives[-1]:.5f}): return the image after the last step")
    # One Adam step from black moves every pixel by lr along the sign of its gradient, negative ones included:
    # the image is the optimizer's, pixel for pixel, never clamped or rescaled (the hidden tests compare it so).
    black = torch.zeros(1, 1, 4, 4, requires_grad=True)
    (gradient,) = torch.autograd.grad(torch.log_softmax(model(black), dim=1)[0, 2], black)
    image, _ = generate_image(model, 2, image_shape=(1, 4, 4), mode="class", steps=1, lr=0.1, start="zeros",
                              optimizer="adam")
    expected = 0.1 * torch.sign(gradient[0])
    assert torch.allclose(torch.as_tensor(image).float(), expected, atol=1e-5), (
        f"after one Adam step from black the image should be 0.1 * sign(gradient) in every pixel, from "
        f"{expected.min():.2f} to {expected.max():.2f}; got values from {float(torch.as_tensor(image).min()):.2f} to "
        f"{float(torch.as_tensor(image).max()):.2f}. Leave the image as the optimizer moves it: no clamping")
