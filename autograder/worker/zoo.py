"""Small fixed models that both the grader and the worker can build by name.

Training tests send a model's name and state dict across the process boundary,
never a pickled module. Whether a student's loop switched modes, stopped recording
gradients or moved its batches is decided by the grader from the values that come
back, never from a record kept in the worker (student code could rewrite it):

- a missing ``eval()`` leaves dropout on, so the answers differ from the reference's;
- a model built with ``no_grad_guard`` updates a parameter in place at every forward
  pass, which torch itself refuses while gradients are being recorded, so a loop
  without ``torch.no_grad()`` fails;
- a loader built with ``must_move`` yields batches whose values are wrong until
  ``.to(device)`` is called on them (images scaled by -2), so a loop that never moves
  its batches computes other numbers. Labels stay as they are: code may rightly use
  them on the CPU (a confusion matrix counts there), and on CUDA a label left behind
  fails by itself;
- after each call the worker runs every model once more on a fixed probe input, in
  whatever mode the call left it; the grader compares that output with the model's in
  training and in eval mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SIZE = 12  # small inputs keep training tests fast
CLASSES = 10
PROBE_SEED = 4242  # the probe's dropout draws (see describe_model)


class NotYetMoved(torch.Tensor):
    """A batch as a ``must_move`` DataLoader yields it, before ``.to(device)``: its values are scrambled, and a move
    (``.to`` with a device, ``.cpu()``, ``.cuda()``) gives back the real ones as a plain tensor. Elementwise, so a
    view or reshape before the move does no harm."""

    restore_on_move = True

    @staticmethod
    def scramble(tensor: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def restore(tensor: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _moved(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.as_subclass(torch.Tensor)
        return type(self).restore(tensor) if type(self).restore_on_move else tensor

    def to(self, *args, **kwargs):
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        moved = super().to(*args, **kwargs)
        return self._moved(moved) if device is not None else moved  # .to(dtype) alone is no move

    def cpu(self, *args, **kwargs):
        return self._moved(super().cpu(*args, **kwargs))

    def cuda(self, *args, **kwargs):
        return self._moved(super().cuda(*args, **kwargs))


class ImagesNotYetMoved(NotYetMoved):
    @staticmethod
    def scramble(tensor):
        return tensor * -2.0  # a power of two: restoring it is exact

    @staticmethod
    def restore(tensor):
        return tensor / -2.0


class NeverRestored:
    """The grader's own mistake variant: the batches of a loop that never calls ``.to(device)``."""

    class Images(ImagesNotYetMoved):
        restore_on_move = False


def plain(tensor: torch.Tensor) -> torch.Tensor:
    """The values as they are (still scrambled if never moved), as a plain tensor."""
    return tensor.as_subclass(torch.Tensor) if isinstance(tensor, NotYetMoved) else tensor


class CourseModel(nn.Module):
    """Wraps a network (its state dict keys start with ``network.``). ``no_grad_guard`` adds a parameter that
    each forward pass updates in place: torch refuses that while gradients are recorded.
    ``frozen_mode`` (the grader's mistake variants only) ignores ``train()`` and ``eval()``."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network
        self.frozen_mode = False

    def add_no_grad_guard(self) -> None:
        self.no_grad_guard = nn.Parameter(torch.zeros((), device=next(self.network.parameters()).device))

    def train(self, mode: bool = True):
        if self.frozen_mode:
            return self
        return super().train(mode)

    def forward(self, inputs):
        guard = self._parameters.get("no_grad_guard")
        if guard is not None:
            guard.add_(0.0)  # "a leaf Variable that requires grad is being used in an in-place operation"
        return self.network(plain(inputs))


def probe_input(device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(PROBE_SEED)
    return torch.rand(2, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator).to(device)


def describe_model(model: nn.Module) -> dict:
    """What the grader reads of a model after a call: its weights, the hooks still registered on its modules
    (and globally), and its output on the probe input in the mode the call left it (dropout drawn from
    PROBE_SEED). Read through nn.Module's own functions, not the instance's, which student code can replace."""
    from torch.nn.modules import module as module_globals

    modules = list(nn.Module.modules(model))
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                + len(getattr(m, "_backward_pre_hooks", {})) for m in modules)
    hooks += sum(len(getattr(module_globals, name, {})) for name in (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
        "_global_backward_pre_hooks"))
    state = {key: value.detach().cpu().clone() for key, value in nn.Module.state_dict(model).items()}
    try:
        device = next(nn.Module.parameters(model)).device
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(PROBE_SEED)
            probe = plain(model.network(probe_input(device))).detach().cpu()
    except Exception as error:  # the call left the model unusable: the grader says so
        probe = f"{type(error).__name__}: {str(error)[:200]}"
    return {"state_dict": state, "hooks": int(hooks), "probe": probe}


def expected_probe(name: str, state_dict: dict, *, training: bool) -> torch.Tensor:
    """The probe output of architecture ``name`` with these weights, in training or eval mode (grader side)."""
    model = build(name)
    model.load_state_dict({key: value for key, value in state_dict.items() if key.startswith("network.")})
    model.train(training)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(PROBE_SEED)
        return model.network(probe_input("cpu"))


def _tiny_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Dropout(0.3), nn.Linear(3 * 5 * 5, 10))


def _dropout_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(IMAGE_SIZE * IMAGE_SIZE, 16), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(16, 10))


def _regression_mlp() -> nn.Module:
    """The lecture's (Pintor's) MLP for a curve y(x): one input, one output. It takes no probe image."""
    return nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 1))


ARCHITECTURES = {"tiny_cnn": _tiny_cnn, "dropout_mlp": _dropout_mlp, "regression_mlp": _regression_mlp}


def build(name: str, seed: int = 0) -> CourseModel:
    """Build architecture ``name`` with weights drawn from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CourseModel(ARCHITECTURES[name]())


def loss_function(name: str):
    return {"cross_entropy": nn.CrossEntropyLoss()}[name]


def optimizer(spec: dict, parameters) -> torch.optim.Optimizer:
    spec = dict(spec)
    kind = spec.pop("name")
    return {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[kind](parameters, **spec)


def conv_square_loss(kernel: torch.Tensor):
    """f(x) = sum(conv(x, kernel)^2), the loss of the gradient exercises."""
    def loss(x: torch.Tensor) -> torch.Tensor:
        return (F.conv2d(x[None, None], kernel[None, None].to(x.dtype))[0, 0] ** 2).sum()
    return loss


def cubic_loss(weights: torch.Tensor):
    """f(x) = sum(weights * x^3): curved enough that a forward difference is visibly off."""
    def loss(x: torch.Tensor) -> torch.Tensor:
        return (weights.to(x.dtype) * x ** 3).sum()
    return loss


def quadratic(matrix: torch.Tensor, target: torch.Tensor):
    """x -> (f(x), grad f(x)) for f(x) = (x - target)^T matrix (x - target) / 2, matrix symmetric."""
    def loss_and_gradient(x: torch.Tensor):
        gap = x - target.to(x.dtype)
        return float(gap @ matrix.to(x.dtype) @ gap) / 2, matrix.to(x.dtype) @ gap
    return loss_and_gradient


def conv1d_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """k * x over the last axis of x, by F.conv1d with "same" zero padding (K odd)."""
    flat = x.reshape(-1, 1, x.shape[-1])
    return F.conv1d(flat, kernel.to(x.dtype)[None, None], padding=kernel.shape[0] // 2).reshape(x.shape)


def blur_objective(target: torch.Tensor, kernel: torch.Tensor):
    """x -> (f(x), grad f(x)) for the blur distance f(x) = ||k * x - target||^2 / N, by F.conv1d.

    The adjoint of a cross-correlation with k is the cross-correlation with the mirrored kernel.
    """
    def loss_and_gradient(x: torch.Tensor):
        residual = conv1d_same(x, kernel) - target.to(x.dtype)
        return float((residual ** 2).sum()) / len(target), 2 / len(target) * conv1d_same(residual, kernel.flip(0))
    return loss_and_gradient


FUNCTIONS = {"conv_square_loss": conv_square_loss, "cubic_loss": cubic_loss, "quadratic": quadratic,
             "blur_objective": blur_objective}


def materialize(value, context: dict):
    """Build objects that cannot cross the process boundary from their recipes (plain dicts).

    ``{"__model__": name, "state_dict": ..., "train": bool, "device": str, "no_grad_guard": bool}`` -> a CourseModel
    ``{"__loader__": {"images", "labels", "batch_size", "shuffle", "seed", "must_move"}}`` -> a DataLoader
    ``{"__optimizer__": {"name": "sgd", "lr": ...}}`` -> an optimizer over the last model built
    ``{"__layer__": "network.1"}`` -> that submodule of the last model built
    ``{"__generator__": seed}`` -> a ``torch.Generator`` seeded with ``seed``
    ``{"__loss__": "cross_entropy"}``, ``{"__function__": name, "args": [...]}``, ``{"__device__": "cpu"}``
    Models built are appended to ``context["models"]``. The grader and the worker both call this,
    so the reference and the student see identical objects.
    """
    if isinstance(value, dict):
        if "__model__" in value:
            model = build(value["__model__"])
            model.load_state_dict(value["state_dict"])
            model.train(value.get("train", True))
            model.to(value.get("device", "cpu"))
            if value.get("no_grad_guard"):
                model.add_no_grad_guard()
            model.frozen_mode = bool(value.get("frozen_mode"))  # set by the grader's variants only
            context["models"].append(model)
            return model
        if "__loader__" in value:
            spec = value["__loader__"]
            generator = torch.Generator().manual_seed(spec.get("seed", 0)) if spec.get("shuffle") else None
            images, labels = spec["images"], spec["labels"]
            if spec.get("must_move"):
                kind = NeverRestored.Images if spec["must_move"] == "never" else ImagesNotYetMoved
                images = kind.scramble(images).as_subclass(kind)
            dataset = torch.utils.data.TensorDataset(images, labels)
            return torch.utils.data.DataLoader(dataset,
                                               batch_size=spec["batch_size"], shuffle=bool(spec.get("shuffle")),
                                               generator=generator)
        if "__optimizer__" in value:
            return optimizer(value["__optimizer__"], context["models"][-1].parameters())
        if "__layer__" in value:
            return context["models"][-1].get_submodule(value["__layer__"])
        if "__generator__" in value:
            return torch.Generator().manual_seed(int(value["__generator__"]))
        if "__loss__" in value:
            return loss_function(value["__loss__"])
        if "__function__" in value:
            return FUNCTIONS[value["__function__"]](*value.get("args", ()))
        if "__device__" in value:
            return torch.device(value["__device__"])
        return {key: materialize(item, context) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(materialize(item, context) for item in value)
    return value
