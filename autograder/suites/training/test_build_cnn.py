"""Question: build_cnn() -> the course CNN, (N, 1, 28, 28) -> (N, 10), 93,322 parameters."""

import pytest
import torch

from autograder.grading import mistakes
from autograder.sandbox.failures import GradingFailure
from autograder.grading.checks import as_tensor, expect_tensor
from solutions.training import build_cnn as reference

NAME = "build_cnn"
PROBE = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(400))


def probe(student) -> dict:
    report = student.call(NAME, module_probe=PROBE).value
    if not isinstance(report, dict) or "parameters" not in report:
        raise GradingFailure(f"{NAME}(): got a value that is not an nn.Module, expected an nn.Module "
                             "(for example nn.Sequential).")
    return report


@pytest.mark.points(1)
@pytest.mark.public
def test_does_it_have_93322_parameters(student):
    """Does the model have exactly 93,322 parameters?"""
    report = probe(student)
    count = sum(parameter.numel() for _, parameter in report["parameters"])
    if count != 93_322:
        shapes = ", ".join(f"{name} {tuple(p.shape)}" for name, p in report["parameters"])
        raise GradingFailure(f"{NAME}(): got {count:,} parameters, expected 93,322. Your parameters: {shapes}.")


@pytest.mark.points(1)
@pytest.mark.public
def test_does_it_map_a_batch_of_digits_to_ten_logits(student):
    """Does a (4, 1, 28, 28) batch give (4, 10) logits?"""
    report = probe(student)
    if report["forward_error"]:
        raise GradingFailure(f"{NAME}(): a (4, 1, 28, 28) batch raised {report['forward_error']}.")
    output = as_tensor(report["output"], what=f"{NAME}()(batch)")
    if output.shape != (4, 10):
        raise GradingFailure(f"{NAME}()(batch): got shape {tuple(output.shape)}, expected (4, 10).")


@pytest.mark.points(1)
def test_does_it_compute_the_course_architecture(student):
    """With its weights copied into the course CNN, are the outputs identical (same layers, same order)?"""
    report = probe(student)
    model = reference()
    expected_shapes = [tuple(p.shape) for p in model.parameters()]
    got_shapes = [tuple(p.shape) for _, p in report["parameters"]]
    if got_shapes != expected_shapes:
        raise GradingFailure(f"{NAME}(): parameter shapes in order are {got_shapes}, expected {expected_shapes} "
                             "(Conv 1->32, Conv 32->64, Conv 64->64, Linear 576->64, Linear 64->10).")
    with torch.no_grad():
        for target, (_, source) in zip(model.parameters(), report["parameters"]):
            target.copy_(source)
        expected = model.eval()(PROBE)
        with_relu = torch.nn.Sequential(*model[:7], torch.nn.ReLU(), *model[7:]).eval()(PROBE)
    if report["forward_error"]:
        raise GradingFailure(f"{NAME}(): a (4, 1, 28, 28) batch raised {report['forward_error']}.")
    expect_tensor(report["output"], expected, what=f"{NAME}()(batch) with the same weights as the course CNN",
                  check_dtype=False, rtol=1e-4, atol=1e-5, mistakes={mistakes.RELU_AFTER_THIRD_CONV: lambda: with_relu})
