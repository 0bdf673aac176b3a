"""Nothing a student returns or raises makes the grader fail (issue 33, item 3).

Each value crosses the real channel (``protocol.to_wire``, a frame, ``protocol.receive``, ``_check_reply`` and
``values._decode``), as the worker would send it, and reaches every check of every hidden suite through a stand-in
for ``StudentCode``. A hostile value is the student's error on the test that reads it: a "got X, expected Y"
message, never an internal error. Then every report writer (grading.json, results.json, feedback.html, the
gradebook, report.html, the nbgrader cell, the terminal) is given the results, whatever text they hold.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import itertools
import os
import tempfile
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from autograder.course.assignments import ASSIGNMENTS
from autograder.grading.checks import expect_close, expect_tensor
from autograder.grading.grade import run_suite
from autograder.grading.results import SubmissionResult
from autograder.sandbox.failures import GradingFailure, StudentException, Unsendable
from autograder.sandbox.values import Reply, _check_reply, _decode, describe
from autograder.worker import protocol, zoo

warnings.filterwarnings("ignore", message=".*quantize.*")  # torch deprecates quantized tensors, students may not

# Cheap enough for `make test`: each example grades one assignment against a stand-in student (no worker).
# No shrinking: a failure is reported as found, and the test's time stays bounded.
settings.register_profile("hostile", max_examples=4, deadline=None, derandomize=True,
                          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
HOSTILE = settings.get_profile("hostile")


def through_the_channel(message):
    """``message`` as the grader reads it after the worker sent it: a frame, decoded with weights_only."""
    with tempfile.TemporaryFile() as frame:
        frame.write(protocol.encode(message))
        frame.seek(0)
        return protocol.receive(frame.fileno())


# -- what a student may send back --------------------------------------------------------------------------------
HUGE = 10**400


def _tensors():
    plain = st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool, torch.uint8, torch.float16])
    shapes = st.lists(st.integers(0, 4), max_size=4).map(tuple)
    dense = st.builds(lambda dtype, shape: (torch.randn(shape) * 3).to(dtype), plain, shapes)
    odd = st.sampled_from([
        lambda: torch.eye(3).to_sparse(), lambda: torch.eye(3).to_sparse_csr(),
        lambda: torch.quantize_per_tensor(torch.ones(2, 3), 0.1, 0, torch.qint8),
        lambda: torch.ones(2, 2, dtype=torch.complex64), lambda: torch.zeros(1).expand(2**10),
        lambda: torch.zeros(3, dtype=torch.float8_e4m3fn), lambda: torch.full((2,), float("nan")),
        lambda: torch.full((1, 1, 28, 28), float("inf")), lambda: torch.zeros(0, 2**20),
    ]).map(lambda make: make())
    return dense | odd


TEXT = st.text(st.characters(blacklist_categories=()), max_size=12) | st.sampled_from(
    ["\udcff", "2px", "\u202e", "in shift_images", "x" * 300])
SCALARS = (st.none() | st.booleans() | st.integers() | st.sampled_from([HUGE, -HUGE, 2**64, 2**63])
           | st.floats(allow_nan=True, allow_infinity=True) | TEXT)
KEYS = st.integers() | TEXT | st.tuples(TEXT | st.integers() | st.just(HUGE), TEXT | st.integers())
VALUES = st.recursive(SCALARS | _tensors() | st.builds(lambda t: t.numpy(), _tensors().filter(
    lambda t: t.layout == torch.strided and t.dtype in (torch.float32, torch.int64) and not t.is_quantized)),
    lambda inner: st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(KEYS, inner, max_size=3), max_leaves=6)


def _reference_twist(value):
    """The reference's answer in a shape the grader must refuse: a student's near miss."""
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel():
        return [value.to_sparse(), torch.quantize_per_tensor(value.float(), 0.1, 0, torch.qint8),
                value.tolist(), value.numpy(), value.to(torch.complex64), value * float("nan")]
    if isinstance(value, dict):
        return [{str(key): item for key, item in value.items()},
                {(f"{key[0]}px", *key[1:]) if isinstance(key, tuple) else key: item for key, item in value.items()},
                {key: HUGE for key in value}]
    if isinstance(value, (tuple, list)):
        return [type(value)(HUGE for _ in value), type(value)(float("nan") for _ in value), list(value)[:1]]
    if isinstance(value, float):
        return [HUGE, float("nan"), -value, str(value)]
    return [HUGE]


ANSWERS = st.one_of(
    st.tuples(st.just("value"), VALUES),
    st.tuples(st.just("reference"), st.integers(0, 5)),  # the right answer, or the reference's near miss number i
    st.tuples(st.just("raise"), TEXT),
    st.tuples(st.just("models"), VALUES),  # the right value, each model's weights replaced by these
    st.tuples(st.just("args_after"), VALUES),
)


class Student:
    """A stand-in for StudentCode whose every answer crosses the channel: the answers cycle through ``script``."""

    def __init__(self, assignment: str, script: list):
        self.script = itertools.cycle(script)
        self.solutions = importlib.import_module(f"solutions.{assignment}")
        self.answered, self.notes, self.events, self.load_errors, self.load_failure = set(), [], [], [], None

    def call(self, name, *args, seed=0, timeout=None, module_probe=None, through_grader=None, keywords=None,
             blocks=(), **kwargs):
        kwargs = {**kwargs, **(keywords or {})}
        kind, payload = next(self.script)
        context = {"models": []}
        materialized = zoo.materialize(list(args), context)
        materialized_kwargs = zoo.materialize(dict(kwargs), context)
        if kind == "raise":
            raise StudentException(f"`{name}` raised ValueError: {payload}\n\nYour traceback:\n{payload}",
                                   types=("ValueError", "Exception"))
        value = None
        if kind in ("reference", "models", "args_after"):
            try:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    value = getattr(self.solutions, name)(*materialized, **materialized_kwargs)
                if module_probe is not None and isinstance(value, torch.nn.Module):
                    from autograder.worker.serve import probe_module
                    value = probe_module(value, module_probe)
            except Exception:
                value = None
            if kind == "reference" and payload:
                twists = _reference_twist(value)
                value = twists[(payload - 1) % len(twists)]
        else:
            value = payload
        reply = {"id": 1, "ok": True, "output": "", "value": protocol.to_wire(value),
                 "args_after": [protocol.to_wire(arg) if isinstance(arg, torch.Tensor) else None
                                for arg in materialized],
                 "models": [zoo.describe_model(model) for model in context["models"]]}
        if kind == "args_after":
            reply["args_after"] = protocol.to_wire(payload if isinstance(payload, list) else [payload])
        if kind == "models":
            for model in reply["models"]:
                model["state_dict"] = {key: (payload if isinstance(payload, torch.Tensor) else torch.tensor(0.0))
                                       for key in model["state_dict"]}
        try:  # as StudentCode._exchange words what the channel refuses
            reply = through_the_channel(reply)
        except protocol.ProtocolError:
            raise Unsendable("your code sent back something the grader will not decode") from None
        _check_reply(reply, "call")
        return Reply(value=_decode(reply["value"]), args_after=_decode(reply["args_after"]),
                     models=reply.get("models", []))

    def __call__(self, name, *args, **kwargs):
        return self.call(name, *args, **kwargs).value

    def get(self, name):
        return self.call(name).value

    def note(self, text):
        self.notes.append(text)

    def drain_notes(self):
        text, self.notes = "\n".join(self.notes), []
        return text

    def drain_output(self):
        return ""


def write_every_report(tmp: Path, assignment: str, student: str, plugin) -> None:
    """Every writer the grader has, given these results and this id; none may raise."""
    from rich.console import Console

    from autograder.classroom import gradebook
    from autograder.classroom.layout import Submission
    from autograder.classroom.saved import save_graded
    from autograder.platforms.nbgrader.preprocessor import test_cell_outputs
    from autograder.reports.class_report import write_class_report
    import nbformat

    path = tmp / "submission.py"
    path.write_text("")
    raw = [dataclasses.asdict(test) for test in plugin.results]  # as an older grading.json may hold them
    result = SubmissionResult(assignment=assignment, submission=str(path), student=student, status="ok",
                              tests=plugin.results, message=plugin.results[0].message if plugin.results else "",
                              load_errors=["\udcff"]).clean_texts()
    saved = save_graded(tmp / "out", Submission(student, path), result)
    chosen = gradebook.ClassSettings(assignment)
    gradebook.write_gradebook(tmp / "out", assignment, chosen, [gradebook.row(saved, assignment, chosen)])
    write_class_report(tmp / "out", assignment, [saved])
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
    notebook.cells[0].outputs = test_cell_outputs(raw, {"message": "\udcff"}) + test_cell_outputs(saved["tests"], saved)
    nbformat.write(notebook, str(tmp / "autograded.ipynb"))
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        console = Console(file=devnull, highlight=False)
        for test in result.tests:
            console.print(f"{test.question}: {test.message}", markup=False)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
@HOSTILE
@given(script=st.lists(ANSWERS, min_size=1, max_size=4), student=TEXT.filter(bool))
def test_does_nothing_a_student_returns_or_raises_cause_an_internal_error(assignment, script, student):
    plugin = run_suite(Student(assignment, script), assignment)
    assert plugin.internal_errors == [], "\n".join(plugin.internal_errors)[-3000:]
    with tempfile.TemporaryDirectory() as folder:
        write_every_report(Path(folder), assignment, student, plugin)


# -- the cases, one by one --------------------------------------------------------------------------------
def fixed(assignment: str, answers: list) -> list:
    plugin = run_suite(Student(assignment, answers), assignment)
    assert plugin.internal_errors == [], "\n".join(plugin.internal_errors)[-3000:]
    return plugin.results


def test_is_a_returned_10_to_the_400_a_wrong_answer_not_an_overflow():
    results = fixed("convolution", [("value", HUGE)])
    assert not any(test.score for test in results if test.question == "apply_convolution")
    assert any("an integer of about 401 digits" in test.message for test in results)
    with pytest.raises(GradingFailure, match="got a Python int .an integer of about 401 digits"):
        expect_close(HUGE, 0.5, what="the loss")


@pytest.mark.parametrize("form", ["sparse COO", "quantized"])
def test_is_the_right_tensor_as_sparse_or_quantized_the_students_error(form):
    right = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    sent = right.to_sparse() if form == "sparse COO" else torch.quantize_per_tensor(right, 0.5, 0, torch.qint8)
    got = _decode(through_the_channel(protocol.to_wire(sent)))
    with pytest.raises(GradingFailure, match=f"got a {'sparse_coo' if form == 'sparse COO' else 'quantized'} .*"
                                             "expected a dense real torch.Tensor"):
        expect_tensor(got, right, what="apply_convolution")
    results = fixed("convolution", [("reference", 1 if form == "sparse COO" else 2)])
    assert not any(test.score for test in results if test.question == "apply_convolution")


@pytest.mark.parametrize("name", ["train_epoch", "evaluate"])
def test_is_a_loss_of_10_to_the_400_a_wrong_loss(name):
    answer = HUGE if name == "train_epoch" else (HUGE, 0.5)
    results = fixed("training", [("value", answer)])
    messages = [test.message for test in results if test.question == name and test.status == "failed"]
    assert messages and any("integer of about 401 digits" in message for message in messages), messages


def test_is_evaluate_shifted_keyed_by_strings_the_students_error():
    results = fixed("shifted_mnist", [("value", {("2px", 0): 0.5, (0, 0): 1.0})])
    messages = [test.message for test in results if test.question == "evaluate_shifted"]
    assert not any(test.score for test in results if test.question == "evaluate_shifted")
    assert any("got keys" in message and "2px" in message for message in messages), messages


def test_does_a_lone_surrogate_in_a_message_reach_every_report(tmp_path):
    results = fixed("convolution", [("raise", "bad \udcff byte")])
    assert any("\udcff" in test.message for test in results)
    assert any("\\udcff" in test.message for test in SubmissionResult(
        assignment="convolution", submission="", student="s", status="ok",
        tests=copy.deepcopy(results)).clean_texts().tests)

    class Plugin:
        pass

    plugin = Plugin()
    plugin.results = results
    write_every_report(tmp_path, "convolution", "\udcffstudent", plugin)
    page = next((tmp_path / "out").glob("*/feedback.html")).read_text()
    assert "bad \\udcff byte" in page


def test_is_every_description_total():
    for value in (HUGE, [HUGE], {HUGE: HUGE}, 10**5000, [10**5000], "\udcff", float("nan")):
        assert isinstance(describe(value), str)
