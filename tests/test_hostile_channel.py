"""Hostile submissions against the channel between student code and the grader (issue 23).

Each case is one a determined student with the code in hand tried: hang or bloat the grader through the course
helper it answers, replay the course's answers, hide a library convolution or autograd, forge what the worker
says, name a file so it becomes a path or a link, make the grader blame itself, and evade or stall the
similarity step. Each must cost that student points (or be reported), never the grader its run.
"""

import json
from pathlib import Path

import pytest
import torch

from autograder.classroom.batch import grade_class
from autograder.grading.checks import CHECK_BLOCKS
from autograder.grading.grade import grade_submission
from autograder.submission.load import load_submission
from autograder.sandbox.limits import Limits
from autograder.sandbox.channel import StudentCode
from autograder.sandbox.failures import StudentException
from submissions import SOLUTIONS, stub_source, with_replacements

pytestmark = pytest.mark.slow
LIMITS = Limits(call_timeout_s=4, load_timeout_s=30)

# Reaching the course helper's stand-in from inside the student's function: its closure holds the worker (and so
# the pipe to the grader) and the request id.
CHANNEL = '''
def _channel(stand_in):
    cells = dict(zip(stand_in.__code__.co_freevars, (cell.cell_contents for cell in stand_in.__closure__ or ())))
    return cells.get("self"), cells.get("request_id")
'''


def through_the_channel(body: str) -> dict:
    """A shifted_mnist submission whose shift_images is a stub, so that evaluate_shifted is called again with the
    course's shift_images answering through the grader; then evaluate_shifted runs ``body`` (indented, with
    ``worker``, ``request_id`` and ``protocol`` at hand) on the channel, and waits for ever."""
    return {"shift_images": "def shift_images(images, dx, dy):\n    raise NotImplementedError\n",
            "evaluate_shifted": f"""
def evaluate_shifted(model, images, labels, shifts, device, batch_size=256):
    import time
    from autograder.worker import protocol
    worker, request_id = _channel(shift_images)
    if worker is None:
        return shift_images(images, 0, 0)  # raises: the grader retries with the course's shift_images
{body}    time.sleep(3600)
"""}


def scores(result) -> dict:
    return {question: earned for question, (earned, _) in result.per_question().items()}


def grade(tmp_path, assignment, replacements, extra="", limits=LIMITS, name="hostile.py"):
    path = tmp_path / name
    path.write_text(with_replacements(assignment, replacements, extra))
    return grade_submission(path, assignment, limits=limits)


@pytest.mark.timeout(180)
def test_does_a_helper_answer_never_read_cost_a_timeout_not_the_graders_run(tmp_path):
    """Item 1: ask the grader for large answers through the course's shift_images and never read them."""
    result = grade(tmp_path, "shifted_mnist", through_the_channel('''
    big = protocol.to_wire(torch.ones(10, 1, 100, 100))
    for _ in range(40):  # each answer is 400 kB: the pipe holds 64 kB, and nobody here reads it
        protocol.send(worker.out_fd, {"callback": "shift_images", "id": request_id, "args": [big, 1, 1],
                                      "kwargs": {}})
'''), extra=CHANNEL)
    assert result.status in ("ok", "timeout"), result.message
    assert scores(result) == {"shift_images": 0, "evaluate_shifted": 0}
    messages = " ".join(t.message for t in result.tests if t.question == "evaluate_shifted")
    assert "timed out" in messages or "time budget" in messages, messages


def test_is_a_helper_call_on_a_huge_empty_tensor_refused_before_the_grader_computes_it(tmp_path):
    """Item 2: a (2**26, 0) signal has no numbers, but the course's blur would pad it to 2**27 of them."""
    from autograder.suites.deconvolution._cases import COURSE_BLUR, signal_case

    path = tmp_path / "hostile.py"
    path.write_text(with_replacements("deconvolution", {"blur_distance_gradient": '''
def blur_distance_gradient(x, y, kernel):
    try:
        answer = blur(torch.zeros(2 ** 26, 0, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    except Exception as error:
        raise RuntimeError(f"refused: {error}")
    raise RuntimeError(f"the grader computed it: {tuple(answer.shape)}")
'''}))
    x, y, kernel = signal_case(12, 5, seed=1)
    with StudentCode(load_submission(path), limits=LIMITS) as student:
        with pytest.raises(StudentException, match="refused: .*inputs too large: the grader answers blur"):
            student.call("blur_distance_gradient", x, y, kernel, through_grader=COURSE_BLUR)
        assert "blur" not in student.answered


def test_is_a_helper_graded_before_its_answers_can_be_replayed(tmp_path):
    """Item 3: record the course's shift_images (through the grader, during evaluate_shifted) as index maps for
    every case its tests use, and replay them from an otherwise unwritten shift_images."""
    result = grade(tmp_path, "shifted_mnist", {"shift_images": '''
_MAPS = {}

def shift_images(images, dx, dy):
    key = (tuple(images.shape[-2:]), dx, dy)
    if key not in _MAPS:
        raise NotImplementedError
    index, keep = _MAPS[key]
    flat = images.reshape(*images.shape[:-2], -1)
    return (flat[..., index] * keep.to(images.dtype)).reshape(images.shape)
''', "evaluate_shifted": '''
def evaluate_shifted(model, images, labels, shifts, device, batch_size=256):
    if _channel(shift_images)[0] is None:
        return shift_images(images, 0, 0)  # raises: the grader retries with the course's shift_images
    for dx, dy in [(2, 0), (0, 3), (1, 2), (-2, 0), (0, -1), (-3, -2), (8, 0), (0, 6), (-8, 0), (20, -20),
                   (1, -1)]:
        coded = torch.arange(1, 49, dtype=torch.float64).reshape(1, 1, 6, 8)
        answer = shift_images(coded, dx, dy).reshape(-1)
        _MAPS[((6, 8), dx, dy)] = ((answer - 1).clamp(min=0).long(), answer > 0)
    return {tuple(shift): 0.0 for shift in shifts}
'''}, extra=CHANNEL)
    assert result.status == "ok", result.message
    assert scores(result)["shift_images"] == 0


BLOCKED = '''
import sys
import threading
import torch.nn.functional as F

_ENGINE_AT_IMPORT = torch.autograd.variable.Variable._execution_engine
x, w = torch.rand(6, 6), torch.rand(3, 3)


def slow_conv_dilated3d():
    return torch.ops.aten.slow_conv_dilated3d(x[None, None, None], w[None, None, None], [1, 3, 3])


def slow_conv_transpose3d():
    return torch.ops.aten.slow_conv_transpose3d(x[None, None, None], w[None, None, None], [1, 3, 3])


def mkldnn_convolution():
    return torch.ops.aten.mkldnn_convolution(x[None, None], w[None, None], None, [0, 0], [1, 1], [1, 1], 1)


def unfold_with_modes_off():
    from torch.utils._python_dispatch import _disable_current_modes
    with _disable_current_modes():
        return x.unfold(0, 3, 1).unfold(1, 3, 1)


def conv2d_under_a_profiler():
    sys.setprofile(lambda *args: None)
    try:
        return F.conv2d(x[None, None], w[None, None])
    finally:
        sys.setprofile(None)


def conv2d_in_a_thread():
    box = []
    thread = threading.Thread(target=lambda: box.append(F.conv2d(x[None, None], w[None, None])))
    thread.start()
    thread.join()
    return box[0]


def backward_through_the_engine_saved_at_import():
    leaf = torch.rand(3, requires_grad=True)
    _ENGINE_AT_IMPORT.run_backward(((leaf * leaf).sum(),), (torch.ones(()),), False, False, (), True, True)
    return leaf.grad


def a_new_imperative_engine():
    leaf = torch.rand(3, requires_grad=True)
    torch._C._ImperativeEngine().run_backward(((leaf * leaf).sum(),), (torch.ones(()),), False, False, (), True, True)
    return leaf.grad


def jacfwd():
    return torch.func.jacfwd(lambda a: (a * a).sum())(torch.rand(3))


def forward_mode_dual_numbers():
    import torch.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        dual = fwAD.make_dual(torch.rand(3), torch.ones(3))
        return fwAD.unpack_dual((dual * dual).sum()).tangent


def numpy_convolve():
    import numpy
    return torch.tensor(numpy.convolve([1.0, 2.0, 3.0], [1.0, 1.0]))


def scipy_convolve2d():
    from scipy import signal
    return torch.tensor(signal.convolve2d(x.numpy(), w.numpy(), mode="valid"))


def scipy_imported_again():
    import importlib
    for name in [name for name in sys.modules if name.startswith("scipy")]:
        del sys.modules[name]
    signal = importlib.import_module("scipy.signal")
    return torch.tensor(signal.convolve2d(x.numpy(), w.numpy(), mode="valid"))


def scipys_compiled_convolution_imported_again():
    import importlib
    sys.modules.pop("scipy.signal._sigtools", None)
    sigtools = importlib.import_module("scipy.signal._sigtools")
    return torch.tensor(sigtools._convolve2d(x.numpy(), w.numpy(), 1, 0, 0, 0))
'''
BLOCKED_FUNCTIONS = ["slow_conv_dilated3d", "slow_conv_transpose3d", "mkldnn_convolution", "unfold_with_modes_off",
                     "conv2d_under_a_profiler", "conv2d_in_a_thread", "backward_through_the_engine_saved_at_import",
                     "a_new_imperative_engine", "jacfwd", "forward_mode_dual_numbers", "numpy_convolve",
                     "scipy_convolve2d", "scipy_imported_again", "scipys_compiled_convolution_imported_again"]


def test_can_no_library_convolution_or_autograd_be_hidden_from_the_check(tmp_path):
    """Item 4: every way around the implement-it-yourself check the issue lists raises while it runs; plain
    tensor code still works there, and the same functions run when nothing is blocked."""
    path = tmp_path / "hostile.py"
    path.write_text("import torch\n" + BLOCKED + "\n\ndef plain():\n    return (x[:3, :3] * w).sum()\n")
    with StudentCode(load_submission(path), limits=LIMITS) as student:
        for name in BLOCKED_FUNCTIONS:  # unblocked, each really computes something
            assert student.call(name).value is not None, name
        assert student.call("plain", blocks=CHECK_BLOCKS).value is not None
        for name in BLOCKED_FUNCTIONS:
            with pytest.raises(StudentException) as raised:
                student.call(name, blocks=CHECK_BLOCKS)
            assert "is blocked while grading" in str(raised.value) or "IndexError" in str(raised.value), (
                name, str(raised.value))


SCIPY = '''
import sys
import torch

x, w = torch.rand(6, 6), torch.rand(3, 3)


def scipy_loaded():
    return torch.tensor([name.startswith(("scipy.signal", "scipy.ndimage")) for name in sys.modules]).any()


def ndimage_first():
    from scipy import ndimage
    return torch.tensor(ndimage.correlate(x.numpy(), w.numpy()))


def scipy_without_the_watch():
    import importlib
    sys.meta_path[:] = [finder for finder in sys.meta_path if "Blocking" not in type(finder).__name__]
    signal = importlib.import_module("scipy.signal")
    return torch.tensor(signal.convolve2d(x.numpy(), w.numpy(), mode="valid"))


def special_gamma():
    import scipy.special
    return torch.tensor(scipy.special.gamma(4.0))
'''


def test_is_scipy_blocked_when_imported_not_loaded_before(tmp_path):
    """The blocked worker does not import scipy for every student (0.8 s of its start); scipy is refused
    whenever a student imports it, at load or in a call, first package either way, all of it (issue 33: scipy
    is outside the implement-it-yourself check's allow-list, gamma included); and taking the grader's finder off
    sys.meta_path makes the import itself fail."""
    path = tmp_path / "scipy_user.py"
    path.write_text(SCIPY)
    with StudentCode(load_submission(path), limits=LIMITS) as student:
        assert not student.call("scipy_loaded", blocks=CHECK_BLOCKS).value
        for name in ("ndimage_first", "scipy_without_the_watch", "special_gamma"):
            assert student.call(name).value is not None, name  # unblocked, each computes something
    for name in ("ndimage_first", "scipy_without_the_watch", "special_gamma"):  # each in a fresh blocked worker
        with StudentCode(load_submission(path), limits=LIMITS) as student:
            with pytest.raises(StudentException) as raised:
                student.call(name, blocks=CHECK_BLOCKS)
            assert "is blocked while grading" in str(raised.value), (name, str(raised.value))
    path.write_text("from scipy.signal import convolve2d\n" + SCIPY + "\n\ndef imported_at_load():\n"
                    "    return torch.tensor(convolve2d(x.numpy(), w.numpy(), mode='valid'))\n")
    with StudentCode(load_submission(path), limits=LIMITS) as student:
        assert student.call("imported_at_load").value is not None
        with pytest.raises(StudentException) as raised:
            student.call("imported_at_load", blocks=CHECK_BLOCKS)
        assert "scipy.signal.convolve2d is blocked while grading" in str(raised.value), str(raised.value)


def test_can_the_device_and_mode_checks_not_be_fooled_by_what_the_worker_reports(tmp_path):
    """Item 5: strip the scrambled batches with as_subclass instead of moving them, and leave the model in eval
    mode with a hook while rewriting the worker's own report of the model."""
    forge = '''
import autograder.worker.zoo as _zoo

def _clean_report(model):
    report = _ORIGINAL(model)
    report["hooks"] = 0
    return report

_ORIGINAL, _zoo.describe_model = _zoo.describe_model, _clean_report
'''
    result = grade(tmp_path, "training", {"train_epoch": '''
def train_epoch(model, loader, optimizer, loss_fn, device):
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        inputs = inputs.as_subclass(torch.Tensor)  # "on the device" without a .to(): the values stay as given
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total, count = total + loss.item() * len(targets), count + len(targets)
    return total / count
'''}, extra=forge)
    assert result.status == "ok", result.message
    assert scores(result)["train_epoch"] == 3  # the values are right; the batches were never moved
    assert "never calls .to(device)" in " ".join(t.message for t in result.tests) or any(
        "moved" in t.name and t.score == 0 for t in result.tests)

    # A hook left on the layer, hidden by the rewritten report; and, apart, the model left in eval mode.
    for name, (old, new), verdict in (("hook", ("            handle.remove()\n", "            pass\n"), "hook(s) still"),
                                      ("mode", ("        model.train(was_training)\n", "        model.eval()\n"),
                                       "left in eval mode")):
        source = with_replacements("what_networks_see", {}, extra=forge)
        assert old in source
        path = tmp_path / f"left_{name}.py"
        path.write_text(source.replace(old, new))
        result = grade_submission(path, "what_networks_see", limits=LIMITS)
        assert result.status == "ok", result.message
        left = [t for t in result.tests if t.test_id == "test_does_it_leave_the_model_as_it_found_it"]
        assert left and left[0].score == 0 and verdict in left[0].message, (name, left)


def test_does_a_file_name_stay_data_never_a_path_or_a_link(tmp_path):
    """Item 6: ids that collide with the gradebook, climb out of --out, or become a javascript: link."""
    submissions, out = tmp_path / "submissions", tmp_path / "grades"
    submissions.mkdir()
    stub = stub_source("convolution")
    ids = ["gradebook.csv", "..", "javascript:alert(1)", "report.html", "alice"]
    for student in ids:
        (submissions / f"{student}.py").write_text(stub)
    before = sorted(path.name for path in tmp_path.iterdir())
    summary = grade_class(submissions=submissions, assignment="convolution", out=out, workers=2, limits=LIMITS,
                          similarity=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(before + ["grades"])  # nothing beside --out
    assert (out / "gradebook.csv").is_file() and (out / "report.html").is_file()
    book = json.loads((out / "gradebook.json").read_text())
    assert sorted(row["student"] for row in book["rows"]) == sorted(ids)
    renamed = dict(summary.renamed)
    assert set(renamed) == {"gradebook.csv", "..", "javascript:alert(1)", "report.html"}
    for student in ids:
        folder = out / renamed.get(student, student)
        assert folder.parent == out and json.loads((folder / "grading.json").read_text())["student"] == student
    report = (out / "report.html").read_text()
    assert 'href="javascript:' not in report and 'href="../' not in report
    assert 'href="./javascript_alert_1~' in report


def test_is_a_malformed_message_from_the_worker_the_students_error(tmp_path):
    """Item 7: callback frames whose args is a number, or whose keywords are not named by strings."""
    for frame in ('{"callback": "shift_images", "id": request_id, "args": 5, "kwargs": {}}',
                  '{"callback": "shift_images", "id": request_id, "args": [], "kwargs": {1: 2}}'):
        result = grade(tmp_path, "shifted_mnist", through_the_channel(f"    protocol.send(worker.out_fd, {frame})\n"),
                       extra=CHANNEL)
        assert result.status == "ok", result.message  # not internal-error: nothing to regrade on a rerun
        assert scores(result) == {"shift_images": 0, "evaluate_shifted": 0}
        messages = " ".join(t.message for t in result.tests if t.question == "evaluate_shifted")
        assert "malformed request" in messages, messages


def test_can_similarity_not_be_evaded_by_padding_or_stalled_by_a_huge_file(tmp_path):
    """Item 8: a copy pushed past the size cap by a 230,000-character comment is still found; a 1.4 MB file is
    named as too large to compare instead of stalling the step."""
    from autograder.classroom.batch import Submission
    from autograder.classroom.similarity import find_similar

    source = (SOLUTIONS / "convolution.py").read_text()
    start = source.index("\n", source.index(":\n", source.index("def "))) + 1
    padded = source[:start] + "".join(f"    # {'y' * 90}\n" for _ in range(2500)) + source[start:]
    huge = "\n".join(f"def f{i}(x):\n    return x + {i}" for i in range(60_000)) + "\n" + source
    files = {"original": source, "padded": padded, "huge": huge,
             "other": with_replacements("convolution", {})}
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(text)
    report = find_similar([Submission(name, tmp_path / f"{name}.py") for name in files], "convolution")
    pairs = {frozenset((pair.first, pair.second)) for pair in report.pairs}
    assert frozenset(("original", "padded")) in pairs
    assert report.too_large == ["huge"]
    assert all("huge" not in pair for pair in pairs)


def test_does_the_public_check_of_generate_image_catch_a_clamped_image():
    """From the student audit: the public check protects the points of class-mode values, so an ascent that
    clamps its image to [0, 1] (which loses them) must fail it too."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "public_generate_image", Path(__file__).parents[1] / "release/what_networks_see/tests/generate_image.py")
    public = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(public)
    from solutions.what_networks_see import generate_image

    def clamped(model, target, *, image_shape, steps, lr, **_):  # the audit's ascent: Adam, then clamp to [0, 1]
        image = torch.zeros(1, *image_shape, requires_grad=True)
        step, objectives = torch.optim.Adam([image], lr=lr), []
        for _ in range(steps):
            objective = torch.log_softmax(model(image), dim=1)[0, target]
            objectives.append(objective.item())
            step.zero_grad()
            (-objective).backward()
            step.step()
            with torch.no_grad():
                image.clamp_(0, 1)
        return image.detach()[0], objectives

    public.test_class_mode_raises_the_log_probability.test_func(generate_image)  # the reference passes
    with pytest.raises(AssertionError, match="no clamping"):
        public.test_class_mode_raises_the_log_probability.test_func(clamped)
