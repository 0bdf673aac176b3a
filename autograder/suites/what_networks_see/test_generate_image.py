"""Question: generate_image(model, target, *, image_shape, mode, steps, lr, start, seed, layer, optimizer).

Graded step by step against the reference under the same seed: the objective of each step and the last image.
For the values the model arrives in eval mode; the mode test hands it over in training mode.
"""

import pytest
import torch

from autograder.grading import mistakes
from autograder.grading.checks import KNOWN_MISTAKE, as_tensor, expect_tensor
from autograder.sandbox.failures import GradingFailure
from autograder.grading.harness import charged_elsewhere, model_recipe, never_switched, run_locally
from autograder.worker.zoo import expected_probe
from autograder.suites.what_networks_see._cases import IMAGE_SHAPE, ascent_variant
from solutions.what_networks_see import generate_image as reference

NAME = "generate_image"
CLASS_CASE = dict(mode="class", steps=8, lr=0.1, start="zeros", optimizer="adam")
NOISE_CASE = dict(mode="neuron", steps=5, lr=0.05, start="noise", seed=11, optimizer="adam")


def call(student, architecture: str, target, options: dict, *, train: bool = False, request_seed: int = 0,
         layer: str | None = None):
    """(reply, expected (image, objectives), the model's original state dict, a description, the recipe)."""
    model = model_recipe(architecture, train=train, seed=922)  # 920: every ReLU dead on a black image
    keywords = dict(options, image_shape=IMAGE_SHAPE, **({"layer": {"__layer__": layer}} if layer else {}))
    what = f"{NAME}({architecture}, {target!r}, " + ", ".join(
        f"{key}={value!r}" for key, value in dict(options, **({"layer": layer} if layer else {})).items()) + ")"
    reply = student.call(NAME, model, target, seed=request_seed, keywords=keywords)
    expected, _ = run_locally(reference, model, target, keywords=keywords)
    return reply, expected, model, what, keywords


def unpack(value, what: str):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise GradingFailure(f"{what}: got {type(value).__name__}, expected a tuple (image, objectives).")
    image, objectives = value
    if not isinstance(objectives, (list, tuple)) or not all(
            isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1) for v in objectives):
        raise GradingFailure(f"{what}: the objectives should be a list of numbers, got {type(objectives).__name__}.")
    return as_tensor(image, what=f"{what}: the image"), torch.tensor([float(v) for v in objectives])


def compare(reply, expected, model, what, variants: dict | None = None, check_weights: bool = True) -> None:
    """The weights untouched, then every objective, then the last image, against the reference's."""
    after = reply.models[0]["state_dict"] if check_weights else model["state_dict"]
    if any(key not in after or not torch.equal(after[key], value) for key, value in model["state_dict"].items()):
        raise GradingFailure(f"{what}: {KNOWN_MISTAKE}{mistakes.WEIGHTS_UPDATED}")
    image, objectives = unpack(reply.value, what)
    expected_image, expected_objectives = expected
    if len(objectives) != len(expected_objectives):
        raise GradingFailure(f"{what}: got {len(objectives)} objectives, expected one per step "
                             f"({len(expected_objectives)}).")
    table = {name: (lambda produce=produce: torch.tensor(produce()[1])) for name, produce in (variants or {}).items()}
    expect_tensor(objectives, torch.tensor(expected_objectives), what=f"{what}: the objective at each step",
                  check_dtype=False, rtol=1e-4, atol=1e-5, mistakes=table)
    if not expected_objectives[-1] > expected_objectives[0] or not objectives[-1] > objectives[0]:
        raise GradingFailure(f"{what}: the objective did not rise ({objectives[0]:.4f} -> {objectives[-1]:.4f}).")
    expect_tensor(image, expected_image, what=f"{what}: the last image", check_dtype=False, rtol=1e-4, atol=1e-5)


@pytest.mark.points(2)
@pytest.mark.public
def test_does_class_mode_raise_the_log_probability_step_by_step(student):
    """Class 3 of the tiny CNN, from zeros with Adam (lr 0.1, 8 steps): the same objectives and image?"""
    reply, expected, model, what, keywords = call(student, "tiny_cnn", 3, CLASS_CASE)
    compare(reply, expected, model, what, variants={
        mistakes.PROBABILITY_NOT_LOG: lambda: run_locally(ascent_variant, model, 3, objective="probability",
                                                          keywords=keywords)[0],
        mistakes.OBJECTIVE_AFTER_STEP: lambda: run_locally(ascent_variant, model, 3, record="after",
                                                           keywords=keywords)[0]})


@pytest.mark.points(1)
def test_does_neuron_mode_raise_one_unit_of_a_layer_step_by_step(student):
    """Unit 5 of the MLP's first linear layer with SGD, and unit (1, 4, 4) of the CNN's convolution with Adam:
    the same objectives and image?"""
    for architecture, layer, target, options in (
            ("dropout_mlp", "network.1", 5, dict(mode="neuron", steps=5, lr=0.5, start="zeros", optimizer="sgd")),
            ("tiny_cnn", "network.0", (1, 4, 4), dict(mode="neuron", steps=6, lr=0.1, start="zeros",
                                                      optimizer="adam"))):
        compare(*call(student, architecture, target, options, layer=layer)[:4])


@pytest.mark.points(1)
def test_does_the_noise_start_come_from_the_seed(student):
    """Unit 9 of the MLP's first layer from noise with seed 11, under two different global seeds: the reference's
    run both times?"""
    for request_seed in (1, 2):
        reply, expected, model, what, keywords = call(student, "dropout_mlp", 9, NOISE_CASE, layer="network.1",
                                                      request_seed=request_seed)
        ignored = dict(keywords, seed=request_seed)
        compare(reply, expected, model, f"{what} (torch's global seed {request_seed})", variants={
            mistakes.SEED_IGNORED: lambda: run_locally(ascent_variant, model, 9, keywords=ignored)[0]})


@pytest.mark.points(1)
def test_does_it_leave_the_model_as_it_found_it(student):
    """Handed a model in training mode, in neuron mode: eval() during the ascent, training mode again after,
    and no hook left on any layer?"""
    options = dict(mode="neuron", steps=3, lr=0.1)
    reply, expected, model, what, keywords = call(student, "tiny_cnn", (0, 2, 3), options, train=True,
                                                  layer="network.0")
    # During the ascent: in training mode dropout would change the objectives (the values decide). A mistake in the
    # values is charged by the other tests, not again here (see charged_elsewhere).
    try:
        compare(reply, expected, model, what, variants={mistakes.MISSING_EVAL: lambda: run_locally(
            reference, *never_switched([model]), (0, 2, 3), keywords=keywords)[0]})
    except GradingFailure:
        plain = lambda: call(student, "tiny_cnn", (0, 2, 3), options, layer="network.0")[0]  # noqa: E731
        def same(got, mine):
            image, objectives = unpack(mine.value, what)
            compare(got, (image, objectives.tolist()), model, what, check_weights=False)
        if not charged_elsewhere(reply, plain, same=same,
                                 values_check=lambda mine: compare(mine, expected, model, what)):
            raise
    # After it: the worker ran the model once more on a probe input, in the mode the call left it in. The probe's
    # expected output comes from the weights the model has after the call (the weights are another test's).
    report = reply.models[0]
    if isinstance(report["probe"], str):
        raise GradingFailure(f"{what}: after the call the model could not run any more ({report['probe']}).")
    weights = {key: report["state_dict"].get(key, value) for key, value in model["state_dict"].items()}
    in_training = expected_probe("tiny_cnn", weights, training=True)
    if not torch.allclose(report["probe"], in_training, rtol=1e-4, atol=1e-5):
        left = ("was left in eval mode" if torch.allclose(report["probe"], expected_probe(
            "tiny_cnn", weights, training=False), rtol=1e-4, atol=1e-5) else "does not answer as it did")
        raise GradingFailure(f"{what}: the model came in training mode and {left} after the call: remember "
                             "model.training first and restore it with model.train(was_training) at the end.")
    if report["hooks"]:
        raise GradingFailure(f"{what}: {report['hooks']} hook(s) still registered after the call.\n"
                             f"{KNOWN_MISTAKE}{mistakes.HOOK_LEFT}")


@pytest.mark.points(0)
@pytest.mark.gpu
def test_does_it_ascend_on_cuda_and_return_the_image_on_the_cpu(student, cuda):
    """On CUDA: class mode on a model on the GPU gives the CPU run's objectives (to float tolerance) and a CPU
    image, and leaves the weights alone?"""
    model = model_recipe("tiny_cnn", train=False, seed=922)
    keywords = dict(CLASS_CASE, image_shape=IMAGE_SHAPE)
    reply = student.call(NAME, dict(model, device=cuda), 3, keywords=keywords)
    expected, _ = run_locally(reference, model, 3, keywords=keywords)
    what = f"{NAME}(tiny_cnn on cuda, 3, mode='class', steps=8, lr=0.1, start='zeros', optimizer='adam')"
    after = reply.models[0]["state_dict"]
    if any(key not in after or not torch.equal(after[key], value) for key, value in model["state_dict"].items()):
        raise GradingFailure(f"{what}: {KNOWN_MISTAKE}{mistakes.WEIGHTS_UPDATED}")
    image, objectives = unpack(reply.value, what)
    if image.device.type != "cpu":
        raise GradingFailure(f"{what}: the image came back on {image.device}; return it on the CPU (.cpu()).")
    expect_tensor(objectives, torch.tensor(expected[1]), what=f"{what}: the objective at each step",
                  check_dtype=False, rtol=1e-3, atol=1e-4)
