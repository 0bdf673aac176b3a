"""Question: evaluate_shifted(model, images, labels, shifts, device, batch_size) -> {(dx, dy): accuracy}.

Expected accuracies are computed from the student's own shift_images when it
runs, so a mistake there costs the shift_images question, not this one. When it
raises, evaluate_shifted runs with the course's shift_images answering through
the grader, for the same reason.
"""

import pytest
import torch

from autograder.grading import mistakes
from autograder.worker import zoo
from autograder.grading.cases import digit_batch
from autograder.grading.checks import KNOWN_MISTAKE, as_tensor, expect_close
from autograder.sandbox.failures import GradingFailure
from autograder.grading.harness import GRADIENTS_RECORDED_ERROR, charged_elsewhere, model_recipe, never_switched, run_locally
from autograder.sandbox.values import Reply, short_repr
from autograder.sandbox.failures import StudentException, StudentFailure
from solutions.shifted_mnist import evaluate_shifted as shift_reference_evaluate, shift_images

NAME = "evaluate_shifted"
SHIFTS = [(0, 0), (2, 0), (0, -3), (1, 1)]
BATCH_SIZE = 4  # 10 images: batches of 4, 4 and 2


MODEL = model_recipe("dropout_mlp", train=False, seed=2)
# For the mode test: in training mode (dropout on), refusing to run while gradients are recorded.
GUARDED_MODEL = model_recipe("dropout_mlp", train=True, seed=2, no_grad_guard=True)


def eval_model():
    model = zoo.materialize(MODEL, {"models": []})
    return model.eval()


def data():
    """Labels that the model gets right on the first 6 unshifted images and wrong on the last 4,
    so that per-sample accuracy (0.6) and the mean of batch means (0.5) differ."""
    images, _ = digit_batch(10, seed=800, size=zoo.IMAGE_SIZE)
    with torch.no_grad():
        predictions = eval_model()(images).argmax(1)
    labels = torch.cat([predictions[:6], (predictions[6:] + 1) % 10])
    return images, labels


def arguments(model=MODEL):
    images, labels = data()
    return [model, images, labels, SHIFTS, {"__device__": "cpu"}, BATCH_SIZE]


def expected_accuracies(student) -> dict:
    """Per-shift accuracy (and mean of batch means) of the eval-mode model on the student's own shifts."""
    images, labels = data()
    model = eval_model()
    expected = {}
    for dx, dy in SHIFTS:
        try:
            shifted = as_tensor(student("shift_images", images.clone(), dx, dy), what="shift_images")
            if shifted.shape != images.shape:
                raise GradingFailure("wrong shape")
        except StudentFailure:
            shifted = shift_images(images, dx, dy)
        with torch.no_grad():
            correct = model(shifted.float()).argmax(1) == labels
        batch_means = [correct[i:i + BATCH_SIZE].float().mean().item() for i in range(0, 10, BATCH_SIZE)]
        expected[(dx, dy)] = (correct.float().mean().item(), sum(batch_means) / len(batch_means))
    return expected


def call(student, model=MODEL):
    """evaluate_shifted with the student's shift_images, or the course's when theirs raises (see the docstring)."""
    try:
        return student.call(NAME, *arguments(model), seed=810)
    except StudentException as error:
        if "in shift_images" not in str(error):
            raise
    student.note("Your shift_images raises here (see its own question), so this question was graded with the "
                 "course's shift_images in place of yours.")
    return student.call(NAME, *arguments(model), seed=810, through_grader={"shift_images": shift_images})


def as_shift(key):
    """A key as the (dx, dy) of ints it names (2 and 2.0 and a 0-d tensor of 2 name 2), or the key itself when it
    names none ("2px", a bool, 10**400): the key check then says what was expected."""
    if not isinstance(key, (tuple, list)) or len(key) != 2:
        return key
    parts = []
    for part in key:
        if isinstance(part, torch.Tensor) and part.numel() == 1 and not part.is_complex():
            part = part.item()
        if isinstance(part, float) and part.is_integer() and abs(part) < 2**31:
            part = int(part)
        if isinstance(part, bool) or not isinstance(part, int):
            return key
        parts.append(part)
    return tuple(parts)


def check_accuracies(student, reply, variants: dict | None = None) -> None:
    """One accuracy per shift, per sample, as the eval-mode model gives it on the student's own shifts."""
    if not isinstance(reply.value, dict):
        raise GradingFailure(f"{NAME}: got {type(reply.value).__name__}, expected a dict {{(dx, dy): accuracy}}.")
    got = {as_shift(key): value for key, value in reply.value.items()}
    if set(got) != set(SHIFTS):
        raise GradingFailure(f"{NAME}: got keys {sorted(map(short_repr, got))}, expected the shifts {SHIFTS} as "
                             "(dx, dy) tuples of ints.")
    for shift, (expected, batch_means) in expected_accuracies(student).items():
        table = {mistakes.MEAN_OF_BATCH_MEANS: batch_means} if batch_means != expected else {}
        table.update({name: answers[shift] for name, answers in (variants or {}).items()
                      if isinstance(answers, dict) and answers.get(shift) != expected})
        expect_close(got[shift], expected, what=f"{NAME}: accuracy at shift {shift}", rtol=0, atol=1e-6,
                     mistakes=table)


@pytest.mark.points(1)
@pytest.mark.public
def test_is_each_shifts_accuracy_right(student):
    """Is there one accuracy per (dx, dy), counted per sample (batches of 4, 4 and 2)?"""
    check_accuracies(student, call(student))


@pytest.mark.points(1)
def test_does_it_evaluate_in_eval_mode_without_gradients(student):
    """Handed the model in training mode, one that refuses to run while gradients are recorded: are the accuracies
    those of the model in eval() mode, under torch.no_grad()?"""
    try:
        reply = call(student, GUARDED_MODEL)
    except StudentException as failure:
        if GRADIENTS_RECORDED_ERROR in str(failure):
            raise GradingFailure(f"{NAME}: the model ran while gradients were recorded (this test's model refuses "
                                 f"to).\n{KNOWN_MISTAKE}{mistakes.GRADIENTS_RECORDED}") from None
        raise
    in_training, _ = run_locally(shift_reference_evaluate, *never_switched(arguments(GUARDED_MODEL)), seed=810)
    try:
        check_accuracies(student, reply, {mistakes.MISSING_EVAL: in_training})
    except GradingFailure:
        def same(got, mine):
            try:
                differ = bool(got != mine)
            except Exception:  # answers that cannot even be compared (tensors as values) are not the same
                differ = True
            if differ:
                raise GradingFailure("the accuracies depend on the model's mode")
        if not charged_elsewhere(reply.value, lambda: call(student).value, same=same,
                                 values_check=lambda value: check_accuracies(student, Reply(value, []))):
            raise
