"""The pooling and torch.optim blocks (autograder.worker.blocks) hold against the ways around them a student tries.

Each function below really computes something when nothing is blocked, and raises in a worker started with the
block: the library pooling by torch.ops, from another thread, with the dispatch modes off, through lp_pool and the
adaptive pools; torch.optim by its classes, its functional forms, a subclass of Optimizer, an optimizer built
before the call returns, and its fused operator. Plain tensor code keeps working there.
"""

import pytest

from autograder.sandbox.channel import StudentCode
from autograder.sandbox.failures import StudentException
from autograder.sandbox.limits import Limits
from autograder.submission.load import load_submission

pytestmark = pytest.mark.slow
LIMITS = Limits(call_timeout_s=10, load_timeout_s=30)

HOSTILE = '''
import importlib
import threading

import torch
import torch.nn.functional as F

x = torch.rand(1, 2, 6, 6)


def max_pool():
    return F.max_pool2d(x, 2)


def aten_pool_in_a_thread():
    found = {}
    worker = threading.Thread(target=lambda: found.update(out=torch.ops.aten.max_pool2d_with_indices(x, [2, 2])[0]))
    worker.start()
    worker.join()
    return found["out"]


def avg_pool_with_dispatch_off():
    with torch._C._DisableTorchDispatch():
        return F.avg_pool2d(x, 3, 1, 1)


def lp_pool():
    return F.lp_pool2d(x, 2, 2)


def adaptive_pools():
    return torch.nn.AdaptiveAvgPool2d(1)(x) + torch.nn.AdaptiveMaxPool2d(1)(x)


def sgd_class():
    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.ones(3)
    torch.optim.SGD([p], lr=0.1, momentum=0.9).step()
    return p.detach()


def adam_functional():
    adam = importlib.import_module("torch.optim.adam")
    p, g = torch.zeros(3), torch.ones(3)
    adam.adam([p], [g], [torch.zeros(3)], [torch.zeros(3)], [], [torch.tensor(0.0)], amsgrad=False, beta1=0.9,
              beta2=0.999, lr=0.1, weight_decay=0.0, eps=1e-8, maximize=False)
    return p


def own_optimizer_subclass():
    class Halving(torch.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {})

        def step(self):
            for group in self.param_groups:
                for p in group["params"]:
                    p.data.mul_(0.5)

    p = torch.ones(3, requires_grad=True)
    Halving([p]).step()
    return p.detach()


def fused_sgd():
    p = torch.zeros(3)
    torch._fused_sgd_([p], [torch.ones(3)], [], weight_decay=0.0, momentum=0.0, lr=0.1, dampening=0.0,
                      nesterov=False, maximize=False, is_first_step=True)
    return p


def plain():
    windows = [x[..., k::2, l::2] for k in range(2) for l in range(2)]
    return torch.stack(windows).amax(0).sum() + torch.einsum("ncij,ncij->n", x, x)
'''
POOLING = ["max_pool", "aten_pool_in_a_thread", "avg_pool_with_dispatch_off", "lp_pool", "adaptive_pools"]
OPTIM = ["sgd_class", "adam_functional", "own_optimizer_subclass", "fused_sgd"]


@pytest.mark.parametrize("kind, names", [("pooling", POOLING), ("optim", OPTIM)])
def test_can_no_library_pooling_or_torch_optim_be_hidden_from_the_check(kind, names, tmp_path):
    path = tmp_path / "hostile.py"
    path.write_text(HOSTILE)
    with StudentCode(load_submission(path), limits=LIMITS) as student:
        for name in names:  # unblocked, each really computes something
            assert student.call(name).value is not None, name
        assert student.call("plain", blocks=(kind,)).value is not None
        for name in names:
            with pytest.raises(StudentException) as raised:
                student.call(name, blocks=(kind,))
            assert "is blocked while grading" in str(raised.value) or "KeyError" in str(raised.value), (
                name, str(raised.value))
            assert raised.value.blocked is None or raised.value.blocked[1] == kind, raised.value.blocked
