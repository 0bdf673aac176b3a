"""Student code runs in another process: it cannot patch the grader, and its failures stay its own."""

import io
import os
import re
import uuid

import pytest
import torch

from autograder.worker import protocol
from autograder.grading.grade import grade_submission
from autograder.submission.load import load_submission
from autograder.sandbox.limits import Limits
from autograder.sandbox.channel import StudentCode
from submissions import stub_source, with_replacements, write_notebook

pytestmark = pytest.mark.slow
FAST = Limits(call_timeout_s=3, load_timeout_s=20)

PATCHES = '''
import builtins
import pytest as _pytest

def _patch_everything():
    torch.testing.assert_close = lambda *args, **kwargs: None
    torch.allclose = lambda *args, **kwargs: True
    builtins.abs = lambda value: 0
    _pytest.fail = lambda *args, **kwargs: None
    return torch.testing.assert_close.__name__

PATCH_STATE = _patch_everything()

def _uses_patch():
    return PATCH_STATE
'''


def grade_source(tmp_path, assignment, source, limits=None, name="submission.py"):
    path = tmp_path / name
    path.write_text(source)
    return grade_submission(path, assignment, limits=limits)


def scores(result):
    return {question: earned for question, (earned, _) in result.per_question().items()}


def test_does_patching_torch_testing_at_import_still_score_zero_on_stubs(tmp_path):
    path = tmp_path / "patched.py"
    path.write_text(stub_source("convolution") + PATCHES)
    with StudentCode(load_submission(path, keep_names=("PATCH_STATE",))) as student:
        assert student.get("PATCH_STATE") == "<lambda>"  # the patch really ran, in the worker
    result = grade_submission(path, "convolution")
    assert result.score == 0 and result.status == "ok"
    assert torch.testing.assert_close.__name__ == "assert_close"  # the grader's own is untouched


class _RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_is_a_frame_that_would_run_code_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"ok": True, "value": _RunsCodeWhenUnpickled(marker)}, buffer)
    read_fd, write_fd = os.pipe()
    os.write(write_fd, protocol.HEADER.pack(len(buffer.getvalue())) + buffer.getvalue())
    with pytest.raises(protocol.ProtocolError, match="could not decode a message safely"):
        protocol.receive(read_fd, timeout=5)
    os.close(read_fd), os.close(write_fd)
    assert not marker.exists()


def test_do_hostile_return_values_fail_the_test_and_run_nothing_in_the_grader(tmp_path):
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    source = with_replacements("convolution", {
        "compute_convolution_at_position": '''
class AlwaysEqual:
    def __eq__(self, other):
        return True

def compute_convolution_at_position(i, j, img, kernel):
    return AlwaysEqual()
''', "apply_convolution": '''
class Sneaky(torch.Tensor):
    pass

def apply_convolution(img, kernel):
    return torch.zeros(img.shape[0] - kernel.shape[0] + 1, img.shape[1] - kernel.shape[1] + 1).as_subclass(Sneaky)
''', "sobel_magnitude": f'''
import os
import autograder.worker.protocol

class Payload:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))

def _raw(value, depth=0):
    return value

def _send_raw_pickles():
    # The worker binds its encoder before student code runs; reach it anyway, through the garbage collector.
    import gc
    autograder.worker.protocol.to_wire = _raw
    for thing in gc.get_objects():
        if type(thing).__name__ == "Worker" and hasattr(thing, "to_wire"):
            thing.to_wire = _raw

def sobel_magnitude(img):
    _send_raw_pickles()
    return Payload()
'''})
    result = grade_source(tmp_path, "convolution", source)
    assert scores(result) == {"compute_convolution_at_position": 0, "apply_convolution": 0, "sobel_magnitude": 1}
    messages = " ".join(t.message for t in result.tests)
    assert "AlwaysEqual" in messages and "Sneaky" in messages
    assert "will not decode" in messages or "cannot be graded" in messages
    assert not marker.exists()


def test_does_a_correct_submission_that_writes_to_stderr_keep_full_marks(tmp_path):
    source = with_replacements("convolution", {}, extra='''
import sys
import warnings
_reference_apply = apply_convolution

def apply_convolution(img, kernel):
    warnings.warn("this is only a warning")
    print("debugging output", file=sys.stderr)
    print("and some on stdout")
    return _reference_apply(img, kernel)
''')
    result = grade_source(tmp_path, "convolution", source)
    assert result.score == result.max_score == 11
    assert any("debugging output" in t.output for t in result.tests)


def test_does_grading_the_same_submission_twice_give_identical_results(tmp_path):
    from submissions.catalogue import CATALOGUE

    mistake = next(m for m in CATALOGUE if m.name == "missing_zero_grad")
    source = with_replacements(mistake.assignment, mistake.replacements)
    first = grade_source(tmp_path, "training", source).to_dict()
    second = grade_source(tmp_path, "training", source).to_dict()
    for result in (first, second):
        result.pop("duration_s")
    assert first == second


def test_does_an_endless_function_cost_only_its_own_question(tmp_path):
    source = with_replacements("convolution", {"compute_convolution_at_position": '''
def compute_convolution_at_position(i, j, img, kernel):
    while True:
        pass
'''})
    result = grade_source(tmp_path, "convolution", source, limits=FAST)
    assert scores(result) == {"compute_convolution_at_position": 0, "apply_convolution": 5, "sobel_magnitude": 3}
    assert result.status == "timeout"
    # 3 s of CPU time; on a machine so busy that the loop gets less than a third of a core, the clock's cap first
    assert all(re.search(r"timed out after (3 s of CPU time|9 s of waiting).* while running "
                         r"`compute_convolution_at_position`", t.message)
               for t in result.tests if t.question == "compute_convolution_at_position")


@pytest.mark.parametrize("body", ["import os; os._exit(0)", "import ctypes; ctypes.string_at(0)"],
                         ids=["os._exit", "segfault"])
def test_does_a_function_that_kills_its_process_cost_only_its_own_question(tmp_path, body):
    source = with_replacements("convolution", {"sobel_magnitude": f'''
def sobel_magnitude(img):
    {body}
'''})
    result = grade_source(tmp_path, "convolution", source, limits=FAST)
    assert scores(result) == {"compute_convolution_at_position": 3, "apply_convolution": 5, "sobel_magnitude": 1}
    assert result.status == "crashed"
    assert "the process running your code ended while running `sobel_magnitude`" in " ".join(
        t.message for t in result.tests)


def test_does_sys_exit_inside_a_function_read_as_an_exception(tmp_path):
    source = with_replacements("convolution", {"apply_convolution": '''
def apply_convolution(img, kernel):
    import sys
    sys.exit("bye")
'''})
    result = grade_source(tmp_path, "convolution", source, limits=FAST)
    assert scores(result)["apply_convolution"] == 0 and scores(result)["compute_convolution_at_position"] == 3
    assert "raised SystemExit: bye" in " ".join(t.message for t in result.tests)


def test_does_an_endless_loop_while_loading_give_zero_without_hanging(tmp_path):
    source = with_replacements("convolution", {}, extra='''
def _forever():
    while True:
        pass

SETTING = _forever()

def helper():
    return SETTING
''')
    result = grade_source(tmp_path, "convolution", source, limits=Limits(call_timeout_s=3, load_timeout_s=5))
    assert result.score == 0 and result.status == "timeout"
    assert re.search(r"timed out after (5 s of CPU time|15 s of waiting).* while loading your code", result.message)
    assert result.duration_s < 30  # one load timeout, not one per test


@pytest.mark.parametrize("content, reason", [
    (b"", "is empty"), (b"{not json", "not a valid notebook"),
    (b'{"cells": [{"cell_type": "markdown", "source": "hi", "metadata": {}}], "metadata": {}, '
     b'"nbformat": 4, "nbformat_minor": 5}', "has no code cells")], ids=["empty", "corrupt", "no-code-cells"])
def test_is_an_unreadable_notebook_graded_zero_with_a_clear_message(tmp_path, content, reason):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    result = grade_submission(path, "shifted_mnist", limits=FAST)
    assert result.status == "invalid" and result.score == 0 and reason in result.message
    assert result.max_score == 6 and all(t.status in ("failed", "skipped") for t in result.tests)


def test_does_a_syntax_error_cost_only_the_definitions_in_its_cell(tmp_path):
    cells = ["import torch\nimport torch.nn.functional as F",
             "def shift_images(images, dx, dy):\n    return images +\n",
             with_replacements("shifted_mnist", {}).split("import torch\nfrom torch import Tensor", 1)[1]
             .replace("def shift_images", "def _unused_shift_images"),
             "def shift_images(images, dx, dy) oops:\n    pass"]
    # Notebook cells 3 and 5 (after a markdown title) fail to parse; cell 4 defines evaluate_shifted.
    path = write_notebook(tmp_path / "syntax.ipynb", cells)
    result = grade_submission(path, "shifted_mnist", limits=FAST)
    shift_messages = " ".join(t.message for t in result.tests if t.question == "shift_images")
    assert "`shift_images` is not defined in your submission: cell 5 has a syntax error" in shift_messages
    assert scores(result)["shift_images"] == 0
    assert any("cell 3 has a syntax error" in item and "shift_images" in item for item in result.skipped_content)
    # evaluate_shifted itself parsed and is graded; its test falls back to the reference shift when needed.
    assert "evaluate_shifted" in result.per_question()


def test_is_a_notebook_that_trains_for_minutes_graded_in_seconds_with_the_skips_listed(tmp_path):
    source = with_replacements("convolution", {})
    cells = ["!pip install torch\n%matplotlib inline", source,
             "import time\nfor epoch in range(10**9):\n    time.sleep(1)",
             "import matplotlib.pyplot as plt\nplt.imshow(sobel_magnitude(torch.rand(20, 20)))\nplt.show()"]
    result = grade_submission(write_notebook(tmp_path / "long.ipynb", cells), "convolution", limits=FAST)
    assert result.score == result.max_score == 11 and result.duration_s < 30
    skipped = "\n".join(result.skipped_content)
    assert "!pip install torch" in skipped and "for epoch in range(10**9):" in skipped and "plt.show()" in skipped
