"""Public check: the course CNN has 93,322 parameters and maps a batch of digits to ten logits."""
import torch
from otter.test_files import test_case

OK_FORMAT = False
name = "build_cnn"
points = 2


@test_case(points=1)
def test_parameter_count(build_cnn):
    assert callable(build_cnn), "run the cell that defines build_cnn first"
    model = build_cnn()
    count = sum(parameter.numel() for parameter in model.parameters())
    assert count == 93_322, (f"got {count:,} parameters, expected 93,322: "
                             + ", ".join(f"{n} {tuple(p.shape)}" for n, p in model.named_parameters()))


@test_case(points=1)
def test_ten_logits_per_image(build_cnn):
    assert callable(build_cnn), "run the cell that defines build_cnn first"
    output = build_cnn()(torch.rand(4, 1, 28, 28))
    assert tuple(output.shape) == (4, 10), f"a (4, 1, 28, 28) batch gives shape {tuple(output.shape)}, expected (4, 10)"
