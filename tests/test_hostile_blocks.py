"""Issue 33, items 1 and 2: no library convolution under any name, no backward formula of autograd's.

The implement-it-yourself check allows torch and numpy (arithmetic, indexing, matmul, FFT, as_strided) and the
standard library, and refuses everything else installed, whatever it is called; the derive-it-yourself blocks
refuse every way to a recorded backward formula, not only the engine. Each case is one a determined student
tried; each costs that student the point, and the same code computes when nothing is blocked.
"""

import subprocess
import sys
import textwrap

import pytest

from autograder.course.assignments import PROJECT_ROOT
from autograder.grading.checks import CHECK_BLOCKS
from autograder.grading.grade import grade_submission
from autograder.sandbox.channel import StudentCode
from autograder.sandbox.failures import StudentException
from autograder.sandbox.limits import Limits
from autograder.submission.load import load_submission
from submissions import with_replacements

pytestmark = pytest.mark.slow
LIMITS = Limits(call_timeout_s=10, load_timeout_s=30)


def scores(result) -> dict:
    return {question: earned for question, (earned, _) in result.per_question().items()}


def grade(tmp_path, assignment, replacements, extra=""):
    path = tmp_path / "hostile.py"
    path.write_text(with_replacements(assignment, replacements, extra))
    result = grade_submission(path, assignment, limits=LIMITS)
    assert result.status == "ok", result.message
    return result, "\n".join(t.message for t in result.tests if t.status == "failed")


# -- item 1: scipy convolutions under other names, graded --------------------------------------------------------
UPFIRDN = '''
from scipy.signal import upfirdn


def apply_convolution(img, kernel):
    h, w = kernel.shape
    if h > img.shape[0] or w > img.shape[1]:
        raise ValueError("kernel larger than image")
    rows, cols = img.shape[0] - h + 1, img.shape[1] - w + 1
    x, k = img.numpy(), kernel.numpy()
    total = 0
    for a in range(h):  # each kernel row: a full 1-D convolution of every image row with it, reversed
        full = upfirdn(k[a, ::-1], x, axis=1)
        total = total + full[a:a + rows, w - 1:w - 1 + cols]
    return torch.tensor(total, dtype=img.dtype)
'''
GENERIC_FILTER = '''
def apply_convolution(img, kernel):
    import scipy.ndimage
    h, w = kernel.shape
    if h > img.shape[0] or w > img.shape[1]:
        raise ValueError("kernel larger than image")
    rows, cols = img.shape[0] - h + 1, img.shape[1] - w + 1
    flat = kernel.numpy().ravel()
    out = scipy.ndimage.generic_filter(img.numpy(), lambda window: window @ flat, size=(h, w), mode="constant")
    return torch.tensor(out[h // 2:h // 2 + rows, w // 2:w // 2 + cols], dtype=img.dtype)
'''
CONVOLUTION_MATRIX = '''
import scipy.linalg


def blur(x, kernel):
    if kernel.ndim != 1 or kernel.shape[0] % 2 == 0:
        raise ValueError("the kernel needs an odd length")
    half = kernel.shape[0] // 2
    rows = scipy.linalg.convolution_matrix(kernel.numpy()[::-1], x.shape[-1], mode="full")[half:half + x.shape[-1]]
    return torch.tensor(x.numpy() @ rows.T, dtype=x.dtype)
'''


@pytest.mark.parametrize("assignment, replacement, question, full", [
    ("convolution", UPFIRDN, "apply_convolution", 5),
    ("convolution", GENERIC_FILTER, "apply_convolution", 5),
    ("deconvolution", CONVOLUTION_MATRIX, "blur", 4),
], ids=["upfirdn", "generic_filter", "convolution_matrix"])
def test_does_a_scipy_convolution_under_another_name_lose_the_implement_it_yourself_point(
        tmp_path, assignment, replacement, question, full):
    result, messages = grade(tmp_path, assignment, {question: replacement})
    assert scores(result)[question] == full - 1, messages  # every values test passes: the answers are right
    assert "is blocked while grading" in messages or "called a library convolution" in messages, messages


# -- item 1: every other way to a library, in the check's worker ---------------------------------------------------
OTHER_LIBRARIES = '''
import sys
import numpy
import torch
from scipy import signal as top_level_signal

x, w = torch.rand(6, 7, dtype=torch.float64), torch.rand(3, 2, dtype=torch.float64)
ROW = numpy.linspace(0.0, 1.0, 12)


def upfirdn_at_top_level():
    return torch.tensor(top_level_signal.upfirdn([1.0, 2.0], ROW))


def sosfilt():
    from scipy.signal import sosfilt
    return torch.tensor(sosfilt([[1.0, 2.0, 1.0, 1.0, 0.0, 0.0]], ROW))


def sepfir2d():
    from scipy.signal._spline import sepfir2d
    return torch.tensor(sepfir2d(x.numpy(), numpy.array([1.0, 2.0, 1.0]), numpy.array([1.0, 1.0, 1.0])))


def scipys_private_fft_convolution():
    from scipy.signal import _signaltools
    return torch.tensor(_signaltools._freq_domain_conv(numpy, ROW, numpy.array([1.0, 2.0]), axes=[0], shape=[13]))


def sympy_convolution():
    import sympy
    return torch.tensor([float(v) for v in sympy.discrete.convolutions.convolution([1, 2, 3], [1, 1])])


def tqdm_that_torch_imported():
    return torch.tensor(len(list(torch.hub.tqdm(range(3), disable=True))))


def dill_from_sys_modules():
    return torch.tensor(len(sys.modules["dill"].dumps(1)))


def scipy_in_another_python():
    import subprocess
    code = "import scipy.signal, numpy; print(scipy.signal.convolve([1, 2], [1, 1]).sum())"
    return torch.tensor(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                             check=True).stdout))


def numpys_correlate_found_through_gc():
    import gc
    correlate = next(f for f in gc.get_objects() if type(f).__name__ == "builtin_function_or_method"
                     and f.__name__ == "correlate" and "numpy" in str(getattr(f, "__module__", "")))
    return torch.tensor(correlate(ROW, numpy.array([1.0, 2.0])))


def scipy_loaded_by_hand():
    import importlib.machinery
    import importlib.util
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "autograder.worker.blocks"]
    spec = importlib.machinery.PathFinder.find_spec("scipy")
    module = importlib.util.module_from_spec(spec)
    sys.modules["scipy"] = module
    spec.loader.exec_module(module)
    return torch.tensor(module.signal.convolve([1.0, 2.0], [1.0, 1.0]))


def fft_from_rfft2():
    height, width = x.shape
    spectrum = torch.fft.rfft2(x) * torch.fft.rfft2(torch.flip(w, (0, 1)), s=(height, width))
    return torch.fft.irfft2(spectrum, s=(height, width))[w.shape[0] - 1:, w.shape[1] - 1:]


def windows_by_as_strided():
    rows, cols = x.shape[0] - w.shape[0] + 1, x.shape[1] - w.shape[1] + 1
    windows = x.as_strided((rows, cols, *w.shape), (*x.stride(), *x.stride()))
    return torch.einsum("ijkl,kl->ij", windows, w)


def numpy_fft_matmul_and_the_standard_library():
    import itertools
    import math
    spectrum = numpy.fft.rfft(ROW) * numpy.fft.rfft(ROW)
    return torch.tensor(numpy.fft.irfft(spectrum, n=12) @ ROW + math.fsum(itertools.accumulate([1.0, 2.0])))
'''
REFUSED = ["upfirdn_at_top_level", "sosfilt", "sepfir2d", "scipys_private_fft_convolution", "sympy_convolution",
           "tqdm_that_torch_imported", "dill_from_sys_modules", "scipy_in_another_python",
           "numpys_correlate_found_through_gc", "scipy_loaded_by_hand"]
ALLOWED = ["fft_from_rfft2", "windows_by_as_strided", "numpy_fft_matmul_and_the_standard_library"]


def test_is_every_library_outside_torch_numpy_and_the_standard_library_refused_in_the_check(tmp_path):
    path = tmp_path / "libraries.py"
    path.write_text(OTHER_LIBRARIES)
    with StudentCode(load_submission(path), limits=LIMITS) as student:
        for name in REFUSED + ALLOWED:  # unblocked, each really computes something
            assert student.call(name).value is not None, name
        for name in ALLOWED:
            assert student.call(name, blocks=CHECK_BLOCKS).value is not None, name
        for name in REFUSED[:-1]:
            with pytest.raises(StudentException) as raised:
                student.call(name, blocks=CHECK_BLOCKS)
            assert raised.value.blocked is not None and "is blocked while grading" in str(raised.value), (
                name, str(raised.value))
    with StudentCode(load_submission(path), limits=LIMITS) as student:  # the finder taken off: a worker of its own
        with pytest.raises(StudentException) as raised:
            student.call("scipy_loaded_by_hand", blocks=CHECK_BLOCKS)
        assert "is blocked while grading" in str(raised.value), str(raised.value)


def test_is_a_library_loaded_before_the_block_refused_too():
    """A module loaded before blocks.install (as a template could, or torch does with dill and tqdm), and a
    function of it taken before, are refused once the block is in force."""
    code = textwrap.dedent('''
        import sys
        import torch
        import scipy.signal
        from scipy.signal import upfirdn
        from autograder.worker import blocks
        blocks.install(["convolution"])
        for attempt in (lambda: upfirdn([1.0], [1.0, 2.0]), lambda: sys.modules["scipy.signal"].convolve2d,
                        lambda: scipy.signal.upfirdn, lambda: torch.hub.tqdm(range(2))):
            try:
                attempt()
            except blocks.Blocked as error:
                print("BLOCKED", error)
            else:
                print("RAN")
    ''')
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT,
                         env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("BLOCKED") == 4 and "RAN" not in run.stdout, run.stdout


# -- item 2: backward formulas reached without the engine ---------------------------------------------------------
NODE_WALK = '''
def _backpropagate(output, grad_output, leaf):
    """Call the recorded nodes of output's graph in topological order, as the engine would, without run_backward
    (issue 33's 25-line walk)."""
    order, seen = [], set()

    def visit(node):
        if node is None or id(node) in seen:
            return
        seen.add(id(node))
        for following, _ in node.next_functions:
            visit(following)
        order.append(node)

    visit(output.grad_fn)
    grads = {id(output.grad_fn): grad_output}
    for node in reversed(order):
        incoming = grads.get(id(node))
        if incoming is None:
            continue
        shape = tuple(node._input_metadata[0].shape)  # the engine sums a broadcast gradient down: so do we
        incoming = incoming.sum_to_size(shape) if shape else incoming.sum()
        if type(node).__name__ == "AccumulateGrad":
            if node.variable is leaf:
                return incoming
            continue
        outgoing = node(incoming)
        for (following, _), grad in zip(node.next_functions, outgoing if isinstance(outgoing, tuple) else (outgoing,)):
            if following is not None and grad is not None:
                grads[id(following)] = grad if id(following) not in grads else grads[id(following)] + grad
    return torch.zeros_like(leaf)
'''
NODE_WALK_GRADIENTS = {
    "conv_gradients": {
        "conv_gradient_wrt_input": NODE_WALK + '''

def conv_gradient_wrt_input(dloss_dy, kernel):
    h, w = kernel.shape
    x = torch.zeros(dloss_dy.shape[0] + h - 1, dloss_dy.shape[1] + w - 1, dtype=dloss_dy.dtype,
                    requires_grad=True)
    rows, cols = dloss_dy.shape
    y = sum(x[a:a + rows, b:b + cols] * kernel[a, b] for a in range(h) for b in range(w))
    return _backpropagate(y, dloss_dy, x).detach()
''',
        "conv_gradient_wrt_kernel": '''
def conv_gradient_wrt_kernel(dloss_dy, img):
    h, w = img.shape[0] - dloss_dy.shape[0] + 1, img.shape[1] - dloss_dy.shape[1] + 1
    kernel = torch.zeros(h, w, dtype=img.dtype, requires_grad=True)
    rows, cols = dloss_dy.shape
    y = sum(img[a:a + rows, b:b + cols] * kernel[a, b] for a in range(h) for b in range(w))
    return _backpropagate(y, dloss_dy, kernel).detach()
'''},
    "deconvolution": {"blur_distance_gradient": NODE_WALK + '''

def blur_distance_gradient(x, y, kernel):
    x = x.detach().clone().requires_grad_()
    half = kernel.shape[0] // 2
    padded = torch.nn.functional.pad(x, (half, half))
    blurred = sum(kernel[m] * padded[..., m:m + x.shape[-1]] for m in range(kernel.shape[0]))
    loss = ((blurred - y) ** 2).sum() / y.shape[0]
    return _backpropagate(loss, torch.ones((), dtype=x.dtype), x).detach()
'''},
}


@pytest.mark.parametrize("assignment", sorted(NODE_WALK_GRADIENTS))
def test_does_a_gradient_from_calling_the_recorded_nodes_lose_its_question(tmp_path, assignment):
    """Issue 33, item 2: the grad_fn nodes of a forward pass called one by one (the engine never runs) scored
    4/4 on each of these questions; under the autograd block each call raises, so the question is lost."""
    replacements = NODE_WALK_GRADIENTS[assignment]
    result, messages = grade(tmp_path, assignment, replacements)
    for question in replacements:
        assert scores(result)[question] == 0, messages
    assert "a backward formula autograd recorded" in messages and "derive the gradient by hand" in messages, messages


BACKWARD_FORMULAS = NODE_WALK + '''
import threading

x, k = torch.rand(5, 6, dtype=torch.float64), torch.rand(3, 2, dtype=torch.float64)


def _forward():
    leaf = x.clone().requires_grad_()
    return leaf, torch.nn.functional.conv2d(leaf[None, None], k[None, None])[0, 0]


def node_called():
    leaf, y = _forward()
    return _backpropagate(y, torch.ones_like(y), leaf)


def node_called_through_its_type():
    leaf, y = _forward()
    node = y.grad_fn
    return type(node).__call__(node, torch.ones_like(y))


def node_call_put_back_first():
    leaf, y = _forward()
    try:
        del type(y.grad_fn).__call__
    except TypeError:
        pass
    return y.grad_fn(torch.ones_like(y))


def node_called_in_another_thread():
    box = []
    thread = threading.Thread(target=lambda: box.append(node_called()))
    thread.start()
    thread.join()
    return box[0]


def node_torch_does_not_register():
    leaf = x.clone().requires_grad_()
    out = torch._foreach_mul([leaf], 3.0)[0]
    return out.grad_fn(torch.ones_like(out))


def convolution_backward_operator():
    g = torch.ones(1, 1, 3, 5, dtype=torch.float64)
    return torch.ops.aten.convolution_backward(g, x[None, None], k[None, None], None, [1, 1], [0, 0], [1, 1],
                                               False, [0, 0], 1, [True, False, False])[0]


def python_backward_decomposition():
    from torch._decomp import decompositions
    return decompositions._softmax_backward_data(torch.ones(3), torch.softmax(x[0, :3], 0).float(), 0,
                                                 torch.float32)


def func_vjp():
    return torch.func.vjp(lambda a: (a * a).sum(), x)[1](torch.ones((), dtype=torch.float64))[0]


def func_grad():
    return torch.func.grad(lambda a: (a * a).sum())(x)


def func_jacrev():
    return torch.func.jacrev(lambda a: (a * a).sum())(x)


def custom_function_node_applied():
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            return torch.nn.functional.conv2d(grad[None, None], k[None, None], padding=2)[0, 0][:5, :6]

    return Square.apply(x.clone().requires_grad_()).grad_fn.apply(torch.ones_like(x))


def forward_only():
    return torch.nn.functional.conv2d(x[None, None], k[None, None])[0, 0] * 2
'''
FORMULA_PATHS = ["node_called", "node_called_through_its_type", "node_call_put_back_first",
                 "node_called_in_another_thread", "node_torch_does_not_register", "convolution_backward_operator",
                 "python_backward_decomposition", "func_vjp", "func_grad", "func_jacrev",
                 "custom_function_node_applied"]


def test_is_every_way_to_a_recorded_backward_formula_blocked(tmp_path):
    """Calling a node (its type's __call__, after trying to delete the block, in another thread, a node torch
    does not register), the backward operators and torch's Python decompositions of them, torch.func, and a
    Python node's apply: each raises under the autograd block; the forward pass still runs."""
    path = tmp_path / "formulas.py"
    path.write_text("import torch\n" + BACKWARD_FORMULAS)
    with StudentCode(load_submission(path), limits=LIMITS) as student:
        for name in FORMULA_PATHS + ["forward_only"]:  # unblocked, each really computes something
            assert student.call(name).value is not None, name
        assert student.call("forward_only", blocks=("autograd",)).value is not None
        for name in FORMULA_PATHS:
            with pytest.raises(StudentException) as raised:
                student.call(name, blocks=("autograd",))
            if name == "node_called_in_another_thread":  # blocked in the thread: the caller finds no answer
                assert "IndexError" in str(raised.value), str(raised.value)
                continue
            assert raised.value.blocked is not None and "is blocked while grading" in str(raised.value), (
                name, str(raised.value))
